//! `/projects`: the projects the caller may reach, and each one's services with their instance
//! id and endpoints ("connection info").

use axum::{
    Json,
    extract::{Path, State},
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        auth::{ApiCaller, ApiPrincipal},
        error::{ApiError, Failure},
    },
    ops,
    ops::{Endpoint, Service},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(projects_get))
        .routes(routes!(services_get))
        .routes(routes!(service_get))
}

#[derive(Serialize, ToSchema)]
pub struct ProjectOut {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// The caller's role: `owner`, `admin`, `member` or `viewer` (an app's, as its admin chose it).
    pub role: String,
}

/// The projects the caller may reach.
#[utoipa::path(
    get,
    path = "/projects",
    tag = "projects",
    responses(
        (status = 200, description = "The caller's projects", body = Vec<ProjectOut>),
        (status = 401, description = "No valid access token", body = ApiError),
    )
)]
async fn projects_get(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<ProjectOut>>, Failure> {
    let projects = ops::tokens::projects(&state.ops, &caller).await?;
    Ok(Json(
        projects
            .into_iter()
            .map(|(p, role)| ProjectOut {
                id: p.id,
                slug: p.slug,
                name: p.name,
                role: role.as_str().into(),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct EndpointOut {
    pub site: String,
    pub region: String,
    /// `public`, `private` or `auth`.
    pub interface: String,
    pub url: String,
}

impl From<Endpoint> for EndpointOut {
    fn from(e: Endpoint) -> Self {
        EndpointOut {
            site: e.site,
            region: e.region,
            interface: e.interface.as_str().into(),
            url: e.url,
        }
    }
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
            os_project_name: s.os_project_name,
            os_user_domain: s.os_user_domain,
            os_project_domain: s.os_project_domain,
            endpoints: endpoints.map(|e| e.into_iter().map(EndpointOut::from).collect()),
        }
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
    let (service, endpoints) = ops::services::find(&state.ops, &who, &id).await?;
    Ok(Json(ServiceOut::new(service, Some(endpoints))))
}
