//! A service's credentials: list them, add one (generated or imported), reveal, regenerate or
//! delete one; each through the operation the View Credentials page calls, with its role rules
//! and its audit record.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
        v1::paging::{PageParams, Paging},
    },
    domain::roles::Whose,
    ops::{
        self, CredentialInfo, OpError, Owner, Principal,
        credentials::{AddCredential, KeySource, OwnerChoice, Purpose},
    },
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(credentials_get, credentials_post))
        .routes(routes!(credential_reveal_post))
        .routes(routes!(credential_regenerate_post))
        .routes(routes!(credential_delete))
}

/// A credential without its secret.
#[derive(Serialize, ToSchema)]
pub struct CredentialOut {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `key` (the service's own kind), or `ec2` (an EC2 key pair of an OpenStack service).
    pub kind: String,
    /// `me` (the caller's own), `app:NAME` (an app's key), or the name of the member holding it.
    pub owner: String,
    /// The public part: access key id, OpenStack user name or API key id.
    pub access_key: String,
    /// Unix seconds.
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub enabled: bool,
    /// `active`, or the step a change stopped at: `creating`, `rotating`, `retiring`, `deleting`.
    pub state: String,
}

impl CredentialOut {
    pub(super) fn new(who: &Principal, credential: &CredentialInfo) -> Self {
        let owner = match &credential.owner {
            owner if who.whose(owner) == Whose::Own => "me".to_string(),
            Owner::App(_) => format!("app:{}", credential.owner_name),
            Owner::User(_) => credential.owner_name.clone(),
        };
        CredentialOut {
            owner,
            kind: credential.kind.as_str().into(),
            state: credential.state.as_str().into(),
            id: credential.id.clone(),
            name: credential.name.clone(),
            description: credential.description.clone(),
            access_key: credential.access_key.clone(),
            created_at: credential.created_at,
            rotated_at: credential.rotated_at,
            expires_at: credential.expires_at,
            enabled: credential.enabled,
        }
    }
}

/// One page of credentials.
#[derive(Serialize, ToSchema)]
pub struct CredentialPage {
    pub credentials: Vec<CredentialOut>,
    /// When more remain: the `after` of the next page.
    pub next: Option<String>,
}

/// A service's credentials.
///
/// The ones the caller may see: their own, the project's app keys, and (for admins and owners)
/// other members' keys; without secrets, ordered by id.
#[utoipa::path(
    get,
    path = "/projects/{project}/services/{instance_id}/credentials",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
        PageParams,
    ),
    responses(
        (status = 200, description = "The credentials the caller may see", body = CredentialPage),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 422, description = "The limit or another query parameter is not valid", body = ApiError),
    )
)]
async fn credentials_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, service_id)): Path<(String, String)>,
    paging: Paging,
) -> Result<Json<CredentialPage>, Failure> {
    // Paged in the snapshot's order of ids: nothing sorted per request.
    let (page, more) = ops::credentials::page(
        &state.ops,
        &who,
        &service_id,
        paging.after(),
        paging.limit(),
    )
    .await?;
    let next = more.then(|| page.last().map(|c| c.id.clone())).flatten();
    let credentials = page.iter().map(|c| CredentialOut::new(&who, c)).collect();
    Ok(Json(CredentialPage { credentials, next }))
}

/// A credential to add. With `access_key` and `secret` it records a key made elsewhere
/// (services without a backend; members their own, admins and owners anyone's); without them
/// the backend issues one, or, without a backend, Keyport makes one up that no provider knows.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// What the key is for, e.g. `backup job`.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[serde(default)]
    #[schema(max_length = 500)]
    description: String,
    /// `YYYY-MM-DD`, or empty for no expiry.
    #[serde(default)]
    #[schema(pattern = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    expires: String,
    /// `key` (the default), or `ec2` for the S3 API of an OpenStack service.
    kind: Option<KeyKind>,
    /// `me` (the default) or `app:APP_ID` (admins and owners) for a key of one of the project's
    /// apps.
    #[serde(default)]
    #[schema(pattern = "^(me|app:.+)?$")]
    owner: String,
    /// Import only: the access key id or user name.
    #[schema(max_length = 100)]
    access_key: Option<String>,
    /// Import only: the secret.
    #[schema(value_type = Option<String>, max_length = 4096)]
    secret: Option<Zeroizing<String>>,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum KeyKind {
    Key,
    Ec2,
}

impl NewCredential {
    fn into_input(self, service_id: String) -> Result<AddCredential, Failure> {
        let owner = match self.owner.as_str() {
            "" | "me" => OwnerChoice::Me,
            other => match other.strip_prefix("app:") {
                Some(app_id) => OwnerChoice::App(app_id.to_string()),
                None => return Err(OpError::field("owner", "Send me or app:APP_ID.").into()),
            },
        };
        let source = match (self.access_key, self.secret) {
            (None, None) => KeySource::Generate,
            (access_key, secret) => KeySource::Import {
                access_key: access_key.unwrap_or_default(),
                secret: secret.unwrap_or_default(),
            },
        };
        Ok(AddCredential {
            service_id,
            owner,
            name: self.name,
            description: self.description,
            expires: self.expires,
            kind: match self.kind {
                Some(KeyKind::Ec2) => "ec2".into(),
                _ => "key".into(),
            },
            source,
        })
    }
}

/// A credential just added, with its secret: the only answer that carries it unasked.
#[derive(Serialize, ToSchema)]
pub struct CreatedCredential {
    #[serde(flatten)]
    pub credential: CredentialOut,
    #[schema(value_type = String)]
    pub secret: Zeroizing<String>,
}

/// Adds a credential.
///
/// The answer holds its secret, as the add made or took it (audited as the add: no reveal is
/// recorded). An owner holds at most the service's limit of keys.
#[utoipa::path(
    post,
    path = "/projects/{project}/services/{instance_id}/credentials",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
    ),
    request_body = NewCredential,
    responses(
        (status = 201, description = "The credential was added; its secret is in the answer", body = CreatedCredential),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller's role does not allow adding this key (viewers; app keys for members and apps)", body = ApiError),
        (status = 404, description = "No such project or service, or the caller may not see it", body = ApiError),
        (status = 409, description = "Refused, nothing was changed: another add took the owner's last place under the limit at the same moment, or the backend already holds this user's password", body = ApiError),
        (status = 422, description = "A field is not valid, or the owner already holds the most keys the service allows (`limit`); `fields` says which", body = ApiError),
        (status = 502, description = "The service's backend refused or did not answer; the message says whether anything changed", body = ApiError),
    )
)]
async fn credentials_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, service_id)): Path<(String, String)>,
    body: Result<Json<NewCredential>, JsonRejection>,
) -> Result<Response, Failure> {
    let Json(body) = body?;
    let added = ops::credentials::add(&state.ops, &who, body.into_input(service_id)?).await?;
    let created = CreatedCredential {
        credential: CredentialOut::new(&who, &added.credential),
        secret: added.secret,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// A credential's secret.
#[derive(Serialize, ToSchema)]
pub struct RevealedSecret {
    pub access_key: String,
    #[schema(value_type = String)]
    pub secret: Zeroizing<String>,
}

/// Reveals a credential's secret.
///
/// As Show does on the page: audited before the secret is answered.
#[utoipa::path(
    post,
    path = "/projects/{project}/credentials/{id}/reveal",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id"),
    ),
    responses(
        (status = 200, description = "The access key and the secret", body = RevealedSecret),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not reveal it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "The stored secret cannot be decrypted (the attempt is audited)", body = ApiError),
    )
)]
async fn credential_reveal_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<RevealedSecret>, Failure> {
    let revealed = ops::credentials::reveal(&state.ops, &who, &id, Purpose::Show).await?;
    Ok(Json(RevealedSecret {
        secret: revealed.secret.ok_or(OpError::Damaged)?,
        access_key: revealed.credential.access_key.clone(),
    }))
}

/// The outcome of a regeneration. The new secret is not in it: reveal it.
#[derive(Serialize, ToSchema)]
pub struct RegeneratedKey {
    pub id: String,
    /// The new access key; the old one no longer works (unless `warning` says otherwise).
    pub access_key: String,
    /// Set when the new key works but the old one could not be revoked yet.
    pub warning: Option<String>,
}

/// Regenerates a credential.
///
/// A new key is made and recorded, then the old one is revoked: everything still using the old
/// secret stops working. The new secret is not in the answer; reveal it.
#[utoipa::path(
    post,
    path = "/projects/{project}/credentials/{id}/regenerate",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id"),
    ),
    responses(
        (status = 200, description = "The credential has a new key", body = RegeneratedKey),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not regenerate it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: another change to this credential is under way, or it cannot be made now; the message says why", body = ApiError),
        (status = 502, description = "The service's backend refused or did not answer; the message says whether anything changed", body = ApiError),
    )
)]
async fn credential_regenerate_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<RegeneratedKey>, Failure> {
    let done = ops::credentials::regenerate(&state.ops, &who, &id).await?;
    Ok(Json(RegeneratedKey {
        id: done.credential.id.clone(),
        access_key: done.access_key,
        warning: done.warning,
    }))
}

/// Deletes a credential.
///
/// Its key is revoked at the service's backend, then the credential is forgotten.
#[utoipa::path(
    delete,
    path = "/projects/{project}/credentials/{id}",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id"),
    ),
    responses(
        (status = 204, description = "The credential was deleted"),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not delete it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: another change to this credential is under way, or it cannot be made now; the message says why", body = ApiError),
        (status = 502, description = "The service's backend refused or did not answer; the message says whether anything changed", body = ApiError),
    )
)]
async fn credential_delete(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, Failure> {
    ops::credentials::delete(&state.ops, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
