//! A service's backend, for the project's admins and owners, through the operations of the
//! backend page: its driver settings, written whole and never read back with their secrets, and
//! the backend user each member or app is linked to.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::{ToSchema, openapi::Object};
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
    },
    domain::services::DriverKind,
    ops::{
        self, BackendUserLink, OpError, Owner, Principal,
        backends::{BackendView, SettingsInput},
    },
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(backend_get, backend_put))
        .routes(routes!(backend_link_put, backend_link_delete))
}

/// A service's backend as it is: never a secret, only whether one is saved.
#[derive(Serialize, ToSchema)]
pub struct BackendOut {
    /// `stored` (Keyport keeps the keys), `keystone` or `aws_iam`.
    pub driver: String,
    /// Whether the admin password (Keystone) or secret key (IAM) is saved.
    pub has_secret: bool,
    /// Keystone: its URL, admin user and scope.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_domain: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub project: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub project_domain: String,
    /// IAM: its URL, region, admin access key and the policy given to the users it makes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub access_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_policy: String,
    /// The backend user of each member or app that has one.
    pub links: Vec<LinkOut>,
}

/// A member's or app's user at the backend.
#[derive(Serialize, ToSchema)]
pub struct LinkOut {
    /// `user:USER_ID` or `app:APP_ID`.
    pub owner: String,
    /// The member's or app's name in Keyport.
    pub owner_name: String,
    pub backend_name: String,
    /// Whether Keyport made the user (else it was linked to one that existed).
    pub created_by_keyport: bool,
}

impl From<BackendUserLink> for LinkOut {
    fn from(link: BackendUserLink) -> Self {
        LinkOut {
            owner: match link.owner() {
                Owner::User(id) => format!("user:{id}"),
                Owner::App(id) => format!("app:{id}"),
            },
            owner_name: link.owner_name.unwrap_or_default(),
            backend_name: link.backend_name,
            created_by_keyport: link.created_by_keyport != 0,
        }
    }
}

impl BackendOut {
    fn new(view: BackendView) -> Self {
        let s = view.settings;
        BackendOut {
            driver: s.driver,
            has_secret: view.has_secret,
            auth_url: s.auth_url,
            username: s.username,
            user_domain: s.user_domain,
            project: s.project,
            project_domain: s.project_domain,
            endpoint: s.endpoint,
            region: s.region,
            access_key: s.access_key,
            user_policy: s.user_policy,
            links: view.links.into_iter().map(LinkOut::from).collect(),
        }
    }

    /// The backend of service `id`, as its page shows it.
    async fn find(state: &AppState, who: &Principal, id: &str) -> Result<Self, Failure> {
        Ok(BackendOut::new(
            ops::backends::view(&state.ops, who, id).await?,
        ))
    }
}

/// A service's backend settings and its links to backend users.
///
/// For the project's admins and owners. Secrets are never answered: `has_secret` tells whether
/// one is saved.
#[utoipa::path(
    get,
    path = "/projects/{project}/services/{instance_id}/backend",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
    ),
    responses(
        (status = 200, description = "The backend's settings without secrets, and its links", body = BackendOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners see a service's backend", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 409, description = "The saved settings cannot be decrypted", body = ApiError),
    )
)]
async fn backend_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<BackendOut>, Failure> {
    Ok(Json(BackendOut::find(&state, &who, &id).await?))
}

fn driver_schema() -> Object {
    super::one_of(DriverKind::ALL.map(DriverKind::as_str))
}

/// A service's backend settings, written whole. A secret left out keeps the saved one, but
/// only for the same URL and user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// `stored` (Keyport keeps the keys; nothing else is needed), `keystone` (OpenStack
    /// services) or `aws_iam` (S3 services).
    #[serde(default)]
    #[schema(schema_with = driver_schema)]
    driver: String,
    /// Keystone: its v3 URL, admin user, that user's domain and password, and the project (and
    /// its domain) the admin works in.
    #[serde(default)]
    auth_url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    #[schema(value_type = String, write_only)]
    password: Zeroizing<String>,
    #[serde(default)]
    user_domain: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    project_domain: String,
    /// IAM: its URL, region, admin access key and secret key, and a policy (JSON) for the users
    /// Keyport makes.
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    #[schema(value_type = String, write_only)]
    secret_key: Zeroizing<String>,
    #[serde(default)]
    user_policy: String,
}

/// Saves a service's backend settings.
///
/// They are checked with one real call to the backend first, then saved encrypted; for the
/// project's admins and owners; audited. Secrets are never answered.
#[utoipa::path(
    put,
    path = "/projects/{project}/services/{instance_id}/backend",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
    ),
    request_body = BackendSettings,
    responses(
        (status = 200, description = "Saved; the backend as it is now, without secrets", body = BackendOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners set a service's backend", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 409, description = "The saved settings cannot be decrypted", body = ApiError),
        (status = 422, description = "A field is not valid, or the backend refused the settings (`driver` says why); nothing was saved", body = ApiError),
    )
)]
async fn backend_put(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
    body: Result<Json<BackendSettings>, JsonRejection>,
) -> Result<Json<BackendOut>, Failure> {
    let Json(body) = body?;
    let input = SettingsInput {
        driver: body.driver,
        auth_url: body.auth_url,
        username: body.username,
        password: body.password,
        user_domain: body.user_domain,
        project: body.project,
        project_domain: body.project_domain,
        endpoint: body.endpoint,
        region: body.region,
        access_key: body.access_key,
        secret_key: body.secret_key,
        user_policy: body.user_policy,
    };
    ops::backends::save_settings(&state.ops, &who, &id, &input).await?;
    Ok(Json(BackendOut::find(&state, &who, &id).await?))
}

/// The backend user to link an owner to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIn {
    /// The name of a user that exists at the backend.
    #[serde(default)]
    #[schema(min_length = 1)]
    backend_name: String,
}

/// Links a member or app to a user that already exists at the backend.
///
/// Their next key is made for that user. For the project's admins and owners; refused while the
/// owner holds keys of the service; audited.
#[utoipa::path(
    put,
    path = "/projects/{project}/services/{instance_id}/backend/links/{owner}",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
        ("owner" = String, Path, description = "`user:USER_ID` or `app:APP_ID`"),
    ),
    request_body = LinkIn,
    responses(
        (status = 200, description = "Linked; the backend as it is now", body = BackendOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners link backend users", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the owner holds keys of the service, the backend user is taken or is Keyport's own, or the settings cannot be decrypted", body = ApiError),
        (status = 422, description = "No such member or app (`owner`), or no backend user named (`backend_name`)", body = ApiError),
        (status = 502, description = "The backend refused or did not answer; nothing was changed", body = ApiError),
    )
)]
async fn backend_link_put(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id, owner)): Path<(String, String, String)>,
    body: Result<Json<LinkIn>, JsonRejection>,
) -> Result<Json<BackendOut>, Failure> {
    let Json(body) = body?;
    if body.backend_name.trim().is_empty() {
        let why = "Name the user at the backend; DELETE the link to unlink.";
        return Err(OpError::field("backend_name", why).into());
    }
    ops::backends::link(&state.ops, &who, &id, &owner, &body.backend_name).await?;
    Ok(Json(BackendOut::find(&state, &who, &id).await?))
}

/// Unlinks a member or app from its backend user.
///
/// Keyport makes a user for the owner's next key. For the project's admins and owners; refused
/// while the owner holds keys of the service; audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/services/{instance_id}/backend/links/{owner}",
    tag = "services",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
        ("owner" = String, Path, description = "`user:USER_ID` or `app:APP_ID`"),
    ),
    responses(
        (status = 204, description = "Unlinked (or was not linked)"),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners unlink backend users", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the owner holds keys of the service", body = ApiError),
        (status = 422, description = "No such member or app (`owner`)", body = ApiError),
    )
)]
async fn backend_link_delete(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id, owner)): Path<(String, String, String)>,
) -> Result<StatusCode, Failure> {
    ops::backends::link(&state.ops, &who, &id, &owner, "").await?;
    Ok(StatusCode::NO_CONTENT)
}
