//! `/projects/{project}/apps`: the project's apps (service identities that hold app keys), a
//! page at a time for everyone in the project; created and deleted by its admins and owners
//! through the operations of the apps page.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::{ToSchema, openapi::Object};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::paging::{PageParams, Paging};
use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
    },
    domain::roles::Role,
    ops::{self, App, apps::NewApp},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(apps_get, apps_post))
        .routes(routes!(app_delete))
}

#[derive(Serialize, ToSchema)]
pub struct AppOut {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The role the app acts in: `admin`, `member` or `viewer`.
    pub role: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<App> for AppOut {
    fn from(a: App) -> Self {
        AppOut {
            id: a.id,
            name: a.name,
            description: a.description,
            role: a.role.as_str().into(),
            created_at: a.created_at,
        }
    }
}

/// One page of apps.
#[derive(Serialize, ToSchema)]
pub struct AppPage {
    /// Ordered by id.
    pub apps: Vec<AppOut>,
    /// When more remain: the `after` of the next page.
    pub next: Option<String>,
}

/// The apps of a project.
///
/// Everyone in the project sees them, a page at a time, ordered by id.
#[utoipa::path(
    get,
    path = "/projects/{project}/apps",
    tag = "apps",
    params(("project" = String, Path, description = "The project's slug"), PageParams),
    responses(
        (status = 200, description = "One page of apps", body = AppPage),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 404, description = "No such project, or the caller may not see it", body = ApiError),
        (status = 422, description = "The limit or another query parameter is not valid", body = ApiError),
    )
)]
async fn apps_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    paging: Paging,
) -> Result<Json<AppPage>, Failure> {
    let listed = ops::apps::list(&state.ops, &who).await?;
    let (apps, next) = paging.page(listed.apps, |a| &a.id);
    let apps = apps.into_iter().map(AppOut::from).collect();
    Ok(Json(AppPage { apps, next }))
}

fn app_role_schema() -> Object {
    super::one_of(ops::apps::APP_ROLES.map(Role::as_str))
}

/// An app to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppIn {
    /// E.g. `nightly-backup`; unique in the project.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    description: String,
    /// The role it acts in: `admin`, `member` (the default) or `viewer`.
    #[serde(default)]
    #[schema(schema_with = app_role_schema)]
    role: String,
}

/// Creates an app.
///
/// For the project's admins and owners; audited. Give it keys next.
#[utoipa::path(
    post,
    path = "/projects/{project}/apps",
    tag = "apps",
    params(("project" = String, Path, description = "The project's slug")),
    request_body = NewAppIn,
    responses(
        (status = 201, description = "The app was created", body = AppOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners create apps", body = ApiError),
        (status = 404, description = "No such project, or the caller may not see it", body = ApiError),
        (status = 422, description = "A field is not valid, or the name is taken in the project; `fields` says which", body = ApiError),
    )
)]
async fn apps_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    body: Result<Json<NewAppIn>, JsonRejection>,
) -> Result<(StatusCode, Json<AppOut>), Failure> {
    let Json(body) = body?;
    let new = NewApp {
        name: &body.name,
        description: &body.description,
        role: &body.role,
    };
    let app = ops::apps::create(&state.ops, &who, new).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
}

/// Deletes an app with its API keys.
///
/// For the project's admins and owners; refused while the app still holds credentials. Audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/apps/{app_id}",
    tag = "apps",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("app_id" = String, Path, description = "The app's id"),
    ),
    responses(
        (status = 204, description = "The app was deleted"),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners delete apps", body = ApiError),
        (status = 404, description = "No such project or app, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the app still holds credentials", body = ApiError),
    )
)]
async fn app_delete(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, app_id)): Path<(String, String)>,
) -> Result<StatusCode, Failure> {
    ops::apps::delete(&state.ops, &who, &app_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
