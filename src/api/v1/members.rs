//! `/projects/{project}/members`: who is in a project and with which role, a page at a time;
//! admins and owners add, change and remove members through the operations of the members page
//! (only owners touch the owner role; a project keeps an owner).

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
    ops::{self, Member, OpError, members::NewMember},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(members_get, members_post))
        .routes(routes!(member_patch, member_delete))
}

#[derive(Serialize, ToSchema)]
pub struct MemberOut {
    pub user_id: String,
    pub email: String,
    pub name: String,
    /// `owner`, `admin`, `member` or `viewer`.
    pub role: String,
    /// A disabled user keeps the membership but cannot sign in or use their keys.
    pub disabled: bool,
}

impl From<Member> for MemberOut {
    fn from(m: Member) -> Self {
        MemberOut {
            user_id: m.user_id,
            email: m.email,
            name: m.name,
            role: m.role.as_str().into(),
            disabled: m.disabled,
        }
    }
}

/// One page of members.
#[derive(Serialize, ToSchema)]
pub struct MemberPage {
    /// Ordered by user id.
    pub members: Vec<MemberOut>,
    /// When more remain: the `after` of the next page.
    pub next: Option<String>,
}

/// The members of a project.
///
/// Everyone in the project sees them, a page at a time, ordered by user id.
#[utoipa::path(
    get,
    path = "/projects/{project}/members",
    tag = "members",
    params(("project" = String, Path, description = "The project's slug"), PageParams),
    responses(
        (status = 200, description = "One page of members", body = MemberPage),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 404, description = "No such project, or the caller may not see it", body = ApiError),
        (status = 422, description = "The limit or another query parameter is not valid", body = ApiError),
    )
)]
async fn members_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    paging: Paging,
) -> Result<Json<MemberPage>, Failure> {
    let roster = ops::members::list(&state.ops, &who).await?;
    let (members, next) = paging.page(roster.members, |m| &m.user_id);
    let members = members.into_iter().map(MemberOut::from).collect();
    Ok(Json(MemberPage { members, next }))
}

fn role_schema() -> Object {
    super::one_of(Role::ALL.map(Role::as_str))
}

/// A user to add to the project.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemberIn {
    /// The email of an existing user (an instance administrator creates users).
    #[serde(default)]
    email: String,
    /// `owner` (owners only), `admin`, `member` or `viewer`.
    #[serde(default)]
    #[schema(schema_with = role_schema)]
    role: String,
}

/// Adds a user to the project.
///
/// For the project's admins and owners; only owners add owners. Audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/members",
    tag = "members",
    params(("project" = String, Path, description = "The project's slug")),
    request_body = NewMemberIn,
    responses(
        (status = 201, description = "The user is a member now", body = MemberOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners add members", body = ApiError),
        (status = 404, description = "No such project, or the caller may not see it", body = ApiError),
        (status = 422, description = "No such user, already a member, or a role the caller may not give; `fields` says which", body = ApiError),
    )
)]
async fn members_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    body: Result<Json<NewMemberIn>, JsonRejection>,
) -> Result<(StatusCode, Json<MemberOut>), Failure> {
    let Json(body) = body?;
    let new = NewMember {
        email: &body.email,
        role: &body.role,
    };
    let added = ops::members::add(&state.ops, &who, new).await?;
    Ok((StatusCode::CREATED, Json(added.into())))
}

/// A member's new role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `owner`, `admin`, `member` or `viewer`; only owners grant or take away `owner`.
    #[serde(default)]
    #[schema(schema_with = role_schema)]
    role: String,
}

/// Changes a member's role.
///
/// For the project's admins and owners (not through an app's key); only owners touch the owner
/// role, and a project keeps an owner. Audited.
#[utoipa::path(
    patch,
    path = "/projects/{project}/members/{user_id}",
    tag = "members",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The member with their new role", body = MemberOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller may not change this membership", body = ApiError),
        (status = 404, description = "No such project or member, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the project would have no owner left", body = ApiError),
        (status = 422, description = "No such role (`role`)", body = ApiError),
    )
)]
async fn member_patch(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, user_id)): Path<(String, String)>,
    body: Result<Json<RoleChange>, JsonRejection>,
) -> Result<Json<MemberOut>, Failure> {
    let Json(body) = body?;
    let role = Role::parse(&body.role)
        .ok_or_else(|| OpError::field("role", "Choose owner, admin, member or viewer."))?;
    let user = ops::members::change_role(&state.ops, &who, &user_id, role).await?;
    Ok(Json(MemberOut {
        user_id: user.id,
        email: user.email,
        name: user.name,
        role: role.as_str().into(),
        disabled: user.disabled,
    }))
}

/// Removes a member from the project.
///
/// They lose access to its credentials, apps and services at once. For the project's admins and
/// owners (not through an app's key); only owners remove owners, and a project keeps an owner.
/// Audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/members/{user_id}",
    tag = "members",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "The member was removed"),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller may not remove this member", body = ApiError),
        (status = 404, description = "No such project or member, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the project would have no owner left", body = ApiError),
    )
)]
async fn member_delete(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, user_id)): Path<(String, String)>,
) -> Result<StatusCode, Failure> {
    // Their own keys stay (the page offers to revoke them); the keys they saw are flagged.
    ops::departures::remove(&state.ops, &who, &user_id, ops::departures::Revoke::Leave).await?;
    Ok(StatusCode::NO_CONTENT)
}
