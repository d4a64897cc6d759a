//! `/projects`: the projects the caller may reach, and a new one made by an instance admin's
//! key (never an app's), through the operation of the projects page.

use axum::{
    Json,
    extract::{State, rejection::JsonRejection},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        auth::ApiCaller,
        error::{ApiError, Failure},
    },
    domain::roles::Role,
    ops::{
        self, Actor, OpError,
        projects::NewProject,
        tokens::{CallerHolder, actor_label},
    },
    origin::Origin,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(projects_get, projects_post))
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

/// A project to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProjectIn {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// The short name in URLs: lowercase letters, digits and hyphens; made from the name when
    /// left out.
    #[serde(default)]
    #[schema(max_length = 40)]
    slug: String,
    /// The email of the user who becomes its first owner; the caller when left out.
    #[serde(default)]
    owner_email: String,
}

/// A project just created.
#[derive(Serialize, ToSchema)]
pub struct CreatedProject {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// `owner` when the caller is its first owner; null when another user is.
    pub role: Option<String>,
}

/// Creates a project.
///
/// For instance administrators, with a key of their own (an app's key cannot create projects).
/// Its first owner is the caller, or the user named by `owner_email`.
#[utoipa::path(
    post,
    path = "/projects",
    tag = "projects",
    request_body = NewProjectIn,
    responses(
        (status = 201, description = "The project was created", body = CreatedProject),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only instance administrators create projects, and never through an app's key", body = ApiError),
        (status = 422, description = "A field is not valid, or the slug is taken; `fields` says which", body = ApiError),
    )
)]
async fn projects_post(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    origin: Origin,
    body: Result<Json<NewProjectIn>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedProject>), Failure> {
    let CallerHolder::Member(user) = &caller.holder else {
        return Err(
            OpError::Forbidden("An app cannot create projects: use a member's API key.").into(),
        );
    };
    let Json(body) = body?;
    let new = NewProject {
        name: &body.name,
        slug: &body.slug,
        owner_email: &body.owner_email,
    };
    let actor = Actor {
        user_id: Some(user.id.clone()),
        label: actor_label(&caller),
        ..origin.0
    };
    let created = ops::projects::create(&state.ops, user, &actor, new).await?;
    let project = created.project;
    let answer = CreatedProject {
        id: project.id,
        slug: project.slug,
        name: project.name,
        role: created
            .creator_is_owner
            .then(|| Role::Owner.as_str().into()),
    };
    Ok((StatusCode::CREATED, Json(answer)))
}
