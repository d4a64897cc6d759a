//! `/projects/{project}/services`: a project's services with their instance id and endpoints
//! ("connection info") for everyone in it; added, changed and deleted by its admins and owners,
//! through the operations of the services pages.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::{ToSchema, openapi::Object};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::endpoints::EndpointOut;
use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
    },
    domain::services::{DEFAULT_MAX_KEYS, ServiceKind},
    ops::{self, Endpoint, Principal, Service, services::ServiceInput},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(services_get, services_post))
        .routes(routes!(service_get, service_patch, service_delete))
}

#[derive(Serialize, ToSchema)]
pub struct ServiceOut {
    /// The service's instance id: stable, shown on its page.
    pub instance_id: String,
    pub name: String,
    /// `s3`, `openstack` or `api`.
    pub kind: String,
    pub description: String,
    /// Where keys are issued: `stored`, `keystone` or `aws_iam`.
    pub driver: String,
    pub max_keys_per_owner: i64,
    /// OpenStack only: the project and domains of the service's users.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os_project_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os_user_domain: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os_project_domain: String,
    /// The rotation policy: a key's greatest age in days (from its creation or last rotation),
    /// and how many days before that it is shown as due; `null` when none.
    pub max_key_age_days: Option<i64>,
    pub rotation_warning_days: Option<i64>,
    /// The service's endpoints ("connection info"); only in the answer about one service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<EndpointOut>>,
}

impl ServiceOut {
    fn new(s: Service, endpoints: Option<Vec<Endpoint>>) -> Self {
        ServiceOut {
            instance_id: s.id,
            name: s.name,
            kind: s.kind.as_str().into(),
            description: s.description,
            driver: s.driver.as_str().into(),
            max_keys_per_owner: s.max_keys_per_owner,
            max_key_age_days: s.policy.max_age_days,
            rotation_warning_days: s.policy.warning_days,
            os_project_name: s.os_project_name,
            os_user_domain: s.os_user_domain,
            os_project_domain: s.os_project_domain,
            endpoints: endpoints.map(|e| e.into_iter().map(EndpointOut::from).collect()),
        }
    }

    /// The service `id` with its endpoints, as the caller may see it.
    async fn find(state: &AppState, who: &Principal, id: &str) -> Result<Self, Failure> {
        let (service, endpoints) = ops::services::find(&state.ops, who, id).await?;
        Ok(ServiceOut::new(service, Some(endpoints)))
    }
}

/// The services of a project.
#[utoipa::path(
    get,
    path = "/projects/{project}/services",
    tag = "services",
    params(("project" = String, Path, description = "The project's slug")),
    responses(
        (status = 200, description = "The project's services", body = Vec<ServiceOut>),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 404, description = "No such project, or the caller may not see it", body = ApiError),
    )
)]
async fn services_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
) -> Result<Json<Vec<ServiceOut>>, Failure> {
    let services = ops::services::list(&state.ops, &who).await?;
    Ok(Json(
        services
            .into_iter()
            .map(|s| ServiceOut::new(s, None))
            .collect(),
    ))
}

fn kind_schema() -> Object {
    super::one_of(ServiceKind::ALL.map(ServiceKind::as_str))
}

/// A service to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    /// `s3`, `openstack` or `api`; it cannot be changed later.
    #[serde(default)]
    #[schema(schema_with = kind_schema)]
    kind: String,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    description: String,
    /// How many keys each member or app may hold at once, 1 to 5 (default 2).
    #[schema(minimum = 1, maximum = 5)]
    max_keys_per_owner: Option<i64>,
    /// OpenStack only (and then required): the domain of the service's users, e.g. `Default`.
    #[serde(default)]
    os_user_domain: String,
    /// OpenStack only (and then required): the project the service's users work in.
    #[serde(default)]
    os_project_name: String,
    /// OpenStack only (and then required): that project's domain, e.g. `Default`.
    #[serde(default)]
    os_project_domain: String,
    /// The rotation policy: a key's greatest age in days, 1 to 3650 (none when left out).
    #[schema(minimum = 1, maximum = 3650)]
    max_key_age_days: Option<i64>,
    /// How many days before that a key is shown as due, 1 to 365, shorter than the age.
    #[schema(minimum = 1, maximum = 365)]
    rotation_warning_days: Option<i64>,
}

/// A policy's days as the operation takes them: digits, or empty for none.
fn days(value: Option<i64>) -> String {
    value.map(|days| days.to_string()).unwrap_or_default()
}

/// A field that may be sent as `null`: left out is `None`, `null` is `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Adds a service to the project.
///
/// For the project's admins and owners; audited. Add its endpoints next.
#[utoipa::path(
    post,
    path = "/projects/{project}/services",
    tag = "services",
    params(("project" = String, Path, description = "The project's slug")),
    request_body = NewService,
    responses(
        (status = 201, description = "The service was added", body = ServiceOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners add services", body = ApiError),
        (status = 404, description = "No such project, or the caller may not see it", body = ApiError),
        (status = 422, description = "A field is not valid, or the name is taken in the project; `fields` says which", body = ApiError),
    )
)]
async fn services_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    body: Result<Json<NewService>, JsonRejection>,
) -> Result<(StatusCode, Json<ServiceOut>), Failure> {
    let Json(body) = body?;
    let input = ServiceInput {
        kind: body.kind,
        name: body.name,
        description: body.description,
        max_keys_per_owner: body
            .max_keys_per_owner
            .unwrap_or(DEFAULT_MAX_KEYS)
            .to_string(),
        os_user_domain: body.os_user_domain,
        os_project_name: body.os_project_name,
        os_project_domain: body.os_project_domain,
        max_key_age_days: days(body.max_key_age_days),
        rotation_warning_days: days(body.rotation_warning_days),
    };
    let (id, _) = ops::services::create(&state.ops, &who, &input).await?;
    let created = ServiceOut::find(&state, &who, &id).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One service with its endpoints: where to reach it, by site and region.
#[utoipa::path(
    get,
    path = "/projects/{project}/services/{instance_id}",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
    ),
    responses(
        (status = 200, description = "The service and its endpoints", body = ServiceOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 404, description = "No such project or service", body = ApiError),
    )
)]
async fn service_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<ServiceOut>, Failure> {
    Ok(Json(ServiceOut::find(&state, &who, &id).await?))
}

/// What to change of a service; what is left out stays as it is. Its kind stays what it was.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceChange {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[schema(max_length = 500)]
    description: Option<String>,
    #[schema(minimum = 1, maximum = 5)]
    max_keys_per_owner: Option<i64>,
    os_user_domain: Option<String>,
    os_project_name: Option<String>,
    os_project_domain: Option<String>,
    /// The rotation policy's days; `null` takes it away.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 3650)]
    max_key_age_days: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 365)]
    rotation_warning_days: Option<Option<i64>>,
}

/// Changes a service.
///
/// For the project's admins and owners; audited.
#[utoipa::path(
    patch,
    path = "/projects/{project}/services/{instance_id}",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
    ),
    request_body = ServiceChange,
    responses(
        (status = 200, description = "The service as it is now, with its endpoints", body = ServiceOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners change services", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 422, description = "A field is not valid, or the name is taken in the project; `fields` says which", body = ApiError),
    )
)]
async fn service_patch(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
    body: Result<Json<ServiceChange>, JsonRejection>,
) -> Result<Json<ServiceOut>, Failure> {
    let Json(change) = body?;
    let (service, _) = ops::services::find(&state.ops, &who, &id).await?;
    let input = ServiceInput {
        kind: service.kind.as_str().into(),
        name: change.name.unwrap_or(service.name),
        description: change.description.unwrap_or(service.description),
        max_keys_per_owner: change
            .max_keys_per_owner
            .unwrap_or(service.max_keys_per_owner)
            .to_string(),
        os_user_domain: change.os_user_domain.unwrap_or(service.os_user_domain),
        os_project_name: change.os_project_name.unwrap_or(service.os_project_name),
        os_project_domain: change
            .os_project_domain
            .unwrap_or(service.os_project_domain),
        max_key_age_days: days(
            change
                .max_key_age_days
                .unwrap_or(service.policy.max_age_days),
        ),
        rotation_warning_days: days(
            change
                .rotation_warning_days
                .unwrap_or(service.policy.warning_days),
        ),
    };
    ops::services::update(&state.ops, &who, &id, &input).await?;
    Ok(Json(ServiceOut::find(&state, &who, &id).await?))
}

/// Deletes a service and its endpoints.
///
/// For the project's admins and owners; refused while the service still has credentials.
#[utoipa::path(
    delete,
    path = "/projects/{project}/services/{instance_id}",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
    ),
    responses(
        (status = 204, description = "The service was deleted"),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners delete services", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the service still has credentials", body = ApiError),
    )
)]
async fn service_delete(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, Failure> {
    ops::services::delete(&state.ops, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
