//! A service's endpoints: added, changed and removed one by one, or imported from Keystone's catalog, by
//! the project's admins and owners through the operations of the service's page. Everyone in the
//! project reads them with the service.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::{ToSchema, openapi::Object};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
    },
    domain::services::Interface,
    ops::{self, Endpoint, endpoints::EndpointInput},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(endpoints_post))
        .routes(routes!(endpoint_patch, endpoint_delete))
        .routes(routes!(endpoints_import_post))
}

#[derive(Serialize, ToSchema)]
pub struct EndpointOut {
    pub id: String,
    pub site: String,
    pub region: String,
    /// `public`, `private` or `auth`.
    pub interface: String,
    pub url: String,
    /// The region its S3 API signs with, where known and not `region` (set by hand, or learned
    /// from the S3 API's answer); empty otherwise. S3 clients sign with it, OpenStack clients
    /// keep `region`.
    pub s3_region: String,
}

impl From<Endpoint> for EndpointOut {
    fn from(e: Endpoint) -> Self {
        EndpointOut {
            id: e.id,
            site: e.site,
            region: e.region,
            interface: e.interface.as_str().into(),
            url: e.url,
            s3_region: e.s3_region,
        }
    }
}

fn interface_schema() -> Object {
    super::one_of(Interface::ALL.map(Interface::as_str))
}

/// An endpoint to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where it is, e.g. `Si Racha, Thailand`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    site: String,
    /// The region clients name, e.g. `th-sr-1`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    region: String,
    /// `public`, `private` or `auth`.
    #[serde(default)]
    #[schema(schema_with = interface_schema)]
    interface: String,
    /// An `https://` (or `http://`) URL.
    #[serde(default)]
    url: String,
    /// The region its S3 API signs with, where it is not `region`, e.g. `us-east-1` for an
    /// OpenStack cloud whose s3api keeps Swift's default location. Letters, digits, `-` and `_`.
    /// Leave it out to have it learned from the S3 API (when an EC2 key pair is added, by a
    /// credential's Test, by the Buckets console), or to sign with `region`.
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    s3_region: String,
}

/// Adds an endpoint to a service.
///
/// For the project's admins and owners; audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/services/{instance_id}/endpoints",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
    ),
    request_body = NewEndpoint,
    responses(
        (status = 201, description = "The endpoint was added", body = EndpointOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners add endpoints", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 422, description = "A field is not valid; `fields` says which", body = ApiError),
    )
)]
async fn endpoints_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, service_id)): Path<(String, String)>,
    body: Result<Json<NewEndpoint>, JsonRejection>,
) -> Result<(StatusCode, Json<EndpointOut>), Failure> {
    let Json(body) = body?;
    let input = EndpointInput {
        site: body.site,
        region: body.region,
        interface: body.interface,
        url: body.url,
        s3_region: body.s3_region,
    };
    let added = ops::endpoints::add_endpoint(&state.ops, &who, &service_id, &input).await?;
    Ok((StatusCode::CREATED, Json(added.into())))
}

/// An endpoint's new values; a field left out keeps its value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    #[schema(min_length = 1, max_length = 100)]
    site: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    region: Option<String>,
    /// `public`, `private` or `auth`.
    #[schema(schema_with = interface_schema)]
    interface: Option<String>,
    /// An `https://` (or `http://`) URL.
    url: Option<String>,
    /// The region its S3 API signs with; empty to have it learned again. Left out, it is kept,
    /// also when `url` changes.
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    s3_region: Option<String>,
}

/// Changes an endpoint of a service.
///
/// For the project's admins and owners; audited. Snippets, Test and the Buckets console use the
/// new values at once; programs configured with the old ones are not changed.
#[utoipa::path(
    patch,
    path = "/projects/{project}/services/{instance_id}/endpoints/{endpoint_id}",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
        ("endpoint_id" = String, Path, description = "The endpoint's id"),
    ),
    request_body = EndpointChange,
    responses(
        (status = 200, description = "The endpoint as it is now", body = EndpointOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners change endpoints", body = ApiError),
        (status = 404, description = "No such project, service or endpoint of it, or the caller may not see it", body = ApiError),
        (status = 422, description = "A field is not valid; `fields` says which", body = ApiError),
    )
)]
async fn endpoint_patch(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, service_id, endpoint_id)): Path<(String, String, String)>,
    body: Result<Json<EndpointChange>, JsonRejection>,
) -> Result<Json<EndpointOut>, Failure> {
    let Json(change) = body?;
    let merged = |now: EndpointInput| EndpointInput {
        site: change.site.unwrap_or(now.site),
        region: change.region.unwrap_or(now.region),
        interface: change.interface.unwrap_or(now.interface),
        url: change.url.unwrap_or(now.url),
        s3_region: change.s3_region.unwrap_or(now.s3_region),
    };
    let changed =
        ops::endpoints::change_endpoint(&state.ops, &who, &service_id, &endpoint_id, merged)
            .await?;
    Ok(Json(changed.into()))
}

/// Removes an endpoint of a service.
///
/// For the project's admins and owners; audited. Programs configured with it are not changed.
#[utoipa::path(
    delete,
    path = "/projects/{project}/services/{instance_id}/endpoints/{endpoint_id}",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
        ("endpoint_id" = String, Path, description = "The endpoint's id"),
    ),
    responses(
        (status = 204, description = "The endpoint was removed"),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners remove endpoints", body = ApiError),
        (status = 404, description = "No such project, service or endpoint of it, or the caller may not see it", body = ApiError),
    )
)]
async fn endpoint_delete(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, service_id, endpoint_id)): Path<(String, String, String)>,
) -> Result<StatusCode, Failure> {
    ops::endpoints::delete_endpoint(&state.ops, &who, &service_id, &endpoint_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an import added.
#[derive(Serialize, ToSchema)]
pub struct ImportedEndpoints {
    /// How many endpoints were added; those already there are kept.
    pub added: usize,
    /// The service's endpoints now.
    pub endpoints: Vec<EndpointOut>,
}

/// Imports a service's endpoints from Keystone's catalog.
///
/// Identity endpoints become `auth`, Swift's public and internal ones `public` and `private`;
/// endpoints already there are kept. For the project's admins and owners, on a service whose
/// backend is Keystone; audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/services/{instance_id}/import-endpoints",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
    ),
    responses(
        (status = 200, description = "The endpoints were imported", body = ImportedEndpoints),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners import endpoints", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was imported: the service's backend is not Keystone, or its settings cannot be decrypted", body = ApiError),
        (status = 502, description = "Keystone refused or did not answer; nothing was imported", body = ApiError),
    )
)]
async fn endpoints_import_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, service_id)): Path<(String, String)>,
) -> Result<Json<ImportedEndpoints>, Failure> {
    let added = ops::backends::import_endpoints(&state.ops, &who, &service_id).await?;
    let (_, endpoints) = ops::services::find(&state.ops, &who, &service_id).await?;
    Ok(Json(ImportedEndpoints {
        added,
        endpoints: endpoints.into_iter().map(EndpointOut::from).collect(),
    }))
}
