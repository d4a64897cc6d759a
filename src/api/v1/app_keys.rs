//! An app's Keyport API keys, for the project's admins and owners, through the operations of the
//! app's page: listed a page at a time, created (the key answered once), enabled, disabled and
//! deleted.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

use super::paging::{PageParams, Paging};
use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
    },
    ops::{
        self, ApiKey,
        api_keys::{Change, NewKey},
    },
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(app_keys_get, app_keys_post))
        .routes(routes!(app_key_patch, app_key_delete))
}

/// An API key without the key itself (Keyport keeps only its hash).
#[derive(Serialize, ToSchema)]
pub struct ApiKeyOut {
    pub id: String,
    /// The key's first characters, to tell keys apart, e.g. `kp_AbCdEfGh`.
    pub prefix: String,
    pub name: String,
    pub description: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Who made it.
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// A disabled key's access tokens are refused.
    pub enabled: bool,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        ApiKeyOut {
            id: k.id,
            prefix: k.prefix,
            name: k.name,
            description: k.description,
            created_at: k.created_at,
            created_by: k.created_by,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            enabled: k.enabled,
        }
    }
}

/// One page of an app's API keys.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyPage {
    /// Ordered by id; empty for those who do not manage the project's apps.
    pub keys: Vec<ApiKeyOut>,
    /// When more remain: the `after` of the next page.
    pub next: Option<String>,
}

/// An app's API keys.
///
/// The project's admins and owners see them, a page at a time, ordered by id; everyone else in
/// the project gets an empty list, as the app's page shows them none.
#[utoipa::path(
    get,
    path = "/projects/{project}/apps/{app_id}/keys",
    tag = "apps",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("app_id" = String, Path, description = "The app's id"),
        PageParams,
    ),
    responses(
        (status = 200, description = "One page of the app's keys", body = ApiKeyPage),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 404, description = "No such project or app, or the caller may not see it", body = ApiError),
        (status = 422, description = "The limit or another query parameter is not valid", body = ApiError),
    )
)]
async fn app_keys_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, app_id)): Path<(String, String)>,
    paging: Paging,
) -> Result<Json<ApiKeyPage>, Failure> {
    let (_, keys) = ops::api_keys::list_for_app(&state.ops, &who, &app_id).await?;
    let (keys, next) = paging.page(keys, |k| &k.id);
    let keys = keys.into_iter().map(ApiKeyOut::from).collect();
    Ok(Json(ApiKeyPage { keys, next }))
}

/// An API key to make for an app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// E.g. `ci-deploy`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    description: String,
    /// `YYYY-MM-DD` in the future, or empty for no expiry.
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    expires: String,
}

/// An API key just made, with the key itself: the only answer that ever carries it.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyOut,
    /// The key (`kp_...`), to exchange at `POST /identity/token`; shown this once.
    #[schema(value_type = String)]
    pub secret: Zeroizing<String>,
}

/// Makes an API key for an app.
///
/// The key acts as the app, in the app's role. The answer holds the key, this once. For the
/// project's admins and owners; audited.
#[utoipa::path(
    post,
    path = "/projects/{project}/apps/{app_id}/keys",
    tag = "apps",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("app_id" = String, Path, description = "The app's id"),
    ),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The key was made; it is in the answer, this once", body = CreatedApiKey),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners make app keys", body = ApiError),
        (status = 404, description = "No such project or app, or the caller may not see it", body = ApiError),
        (status = 422, description = "A field is not valid; `fields` says which", body = ApiError),
    )
)]
async fn app_keys_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, app_id)): Path<(String, String)>,
    body: Result<Json<NewApiKey>, JsonRejection>,
) -> Result<(StatusCode, Json<CreatedApiKey>), Failure> {
    let Json(body) = body?;
    let input = NewKey {
        name: body.name,
        description: body.description,
        expires: body.expires,
    };
    let created = ops::api_keys::create_for_app(&state.ops, &who, &app_id, &input).await?;
    let answer = CreatedApiKey {
        key: created.key.into(),
        secret: created.secret,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Whether an app key is enabled.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyChange {
    /// `false` disables the key: its access tokens are refused from the next request on.
    enabled: bool,
}

/// Enables or disables an app's API key.
///
/// For the project's admins and owners; audited.
#[utoipa::path(
    patch,
    path = "/projects/{project}/apps/{app_id}/keys/{key_id}",
    tag = "apps",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("app_id" = String, Path, description = "The app's id"),
        ("key_id" = String, Path, description = "The API key's id"),
    ),
    request_body = ApiKeyChange,
    responses(
        (status = 200, description = "The key as it is now", body = ApiKeyOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners change app keys", body = ApiError),
        (status = 404, description = "No such project, app or key of it, or the caller may not see it", body = ApiError),
        (status = 422, description = "The body is not such an object", body = ApiError),
    )
)]
async fn app_key_patch(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, app_id, key_id)): Path<(String, String, String)>,
    body: Result<Json<ApiKeyChange>, JsonRejection>,
) -> Result<Json<ApiKeyOut>, Failure> {
    let Json(body) = body?;
    let change = if body.enabled {
        Change::Enable
    } else {
        Change::Disable
    };
    let mut key = ops::api_keys::change_for_app(&state.ops, &who, &app_id, &key_id, change).await?;
    // The operation answers the key as it found it.
    key.enabled = body.enabled;
    Ok(Json(key.into()))
}

/// Deletes an app's API key.
///
/// Its access tokens are refused from the next request on. For the project's admins and owners;
/// audited.
#[utoipa::path(
    delete,
    path = "/projects/{project}/apps/{app_id}/keys/{key_id}",
    tag = "apps",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("app_id" = String, Path, description = "The app's id"),
        ("key_id" = String, Path, description = "The API key's id"),
    ),
    responses(
        (status = 204, description = "The key was deleted"),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners delete app keys", body = ApiError),
        (status = 404, description = "No such project, app or key of it, or the caller may not see it", body = ApiError),
    )
)]
async fn app_key_delete(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, app_id, key_id)): Path<(String, String, String)>,
) -> Result<StatusCode, Failure> {
    ops::api_keys::change_for_app(&state.ops, &who, &app_id, &key_id, Change::Delete).await?;
    Ok(StatusCode::NO_CONTENT)
}
