//! A credential's guided rotation in two keys: the same steps as its page, through the same
//! operations (`ops::rotation`), with their role rules, step-up and audit records.

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
        v1::credentials::CredentialOut,
    },
    ops::{
        self, IssuedKey, Principal,
        rotation::{RotationView, StartRotation},
    },
    providers::{Deactivation, KeyUse},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rotation_get, rotation_post))
        .routes(routes!(rotation_quiet_post))
        .routes(routes!(rotation_deactivate_post))
        .routes(routes!(rotation_reactivate_post))
        .routes(routes!(rotation_delete_old_post))
        .routes(routes!(rotation_abandon_post))
}

/// What the backend records of one key's use.
#[derive(Serialize, ToSchema)]
pub struct BackendUse {
    /// Whether the backend keeps a record of key use at all (IAM does; Keystone EC2 and a
    /// service without a backend do not).
    pub recorded: bool,
    /// Its latest use, as the backend words it (RFC 3339); none when never used or not recorded.
    pub last_used_at: Option<String>,
    pub service: Option<String>,
    pub region: Option<String>,
    /// Why the backend did not say, when it did not answer.
    pub problem: Option<String>,
}

/// Keyport's own record of a key's secret being opened.
#[derive(Serialize, ToSchema)]
pub struct KeyportUseOut {
    /// Unix seconds of the latest Show, Copy or Download.
    pub at: i64,
    /// `show`, `copy` or `download`.
    pub action: String,
    pub by: String,
    /// How many there were in all.
    pub count: i64,
}

/// One key of a rotation and the evidence of its use.
#[derive(Serialize, ToSchema)]
pub struct RotationKey {
    /// `old key` or `new key`.
    pub role: String,
    pub credential_id: String,
    pub access_key: String,
    /// False once step 3 deactivated it (at IAM) or disabled it (in Keyport).
    pub enabled: bool,
    pub backend: BackendUse,
    pub keyport: Option<KeyportUseOut>,
}

/// How the old key stands against the quiet period.
#[derive(Serialize, ToSchema)]
pub struct QuietOut {
    pub seconds: i64,
    /// Unix seconds of the latest sign of the old key's use (or of step 1).
    pub since: i64,
    /// Unix seconds when the quiet period is over.
    pub until: i64,
    /// Quiet for long enough per the backend's evidence; never true without evidence.
    pub reached: bool,
    pub backend_records_use: bool,
}

/// A credential's guided rotation.
#[derive(Serialize, ToSchema)]
pub struct RotationOut {
    /// The credential being rotated (the old key).
    pub credential: CredentialOut,
    /// `creating`, `both_active`, `deactivating`, `old_inactive`, `reactivating`, `deleting`,
    /// `abandoning`; none when the credential is not being rotated.
    pub step: Option<String>,
    /// The step as the page counts it, 1 to 4 (0 when none).
    pub step_number: u8,
    /// Whether a step is under way (reconcile finishes or undoes it if its process stopped).
    pub under_way: bool,
    pub started_at: Option<i64>,
    /// The second key, once step 1 made it.
    pub new_credential: Option<CredentialOut>,
    /// What step 3 does at this backend: `backend` (IAM: inactive, can be made active again),
    /// `keyport` (no backend: disabled in Keyport only) or `none` (Keystone EC2: no inactive
    /// state; step 4 follows step 2).
    pub deactivation: String,
    pub quiet: Option<QuietOut>,
    /// The old key, then the new one.
    pub keys: Vec<RotationKey>,
    /// Why a rotation cannot be started now, when none is under way.
    pub cannot_start: Option<String>,
}

impl RotationOut {
    fn new(who: &Principal, view: RotationView) -> RotationOut {
        let rotation = view.rotation.as_ref();
        RotationOut {
            credential: CredentialOut::new(who, &view.credential),
            step: rotation.map(|r| r.step.as_str().to_string()),
            step_number: rotation.map_or(0, |r| r.step.number()),
            under_way: rotation.is_some_and(|r| !r.step.is_resting()),
            started_at: rotation.map(|r| r.started_at),
            new_credential: view
                .new_credential
                .as_ref()
                .map(|c| CredentialOut::new(who, c)),
            deactivation: match view.deactivation {
                Deactivation::AtBackend => "backend",
                Deactivation::KeyportOnly => "keyport",
                Deactivation::Unsupported => "none",
            }
            .into(),
            quiet: view.quiet.as_ref().map(|q| QuietOut {
                seconds: q.seconds,
                since: q.since,
                until: q.until,
                reached: q.reached,
                backend_records_use: q.backend_records_use,
            }),
            keys: view
                .evidence
                .iter()
                .map(|e| RotationKey {
                    role: e.role.into(),
                    credential_id: e.credential_id.clone(),
                    access_key: e.access_key.clone(),
                    enabled: e.enabled,
                    backend: match &e.backend {
                        Ok(KeyUse::Used {
                            at,
                            service,
                            region,
                        }) => BackendUse {
                            recorded: true,
                            last_used_at: Some(at.clone()),
                            service: Some(service.clone()).filter(|s| !s.is_empty()),
                            region: Some(region.clone()).filter(|s| !s.is_empty()),
                            problem: None,
                        },
                        other => BackendUse {
                            recorded: matches!(other, Ok(KeyUse::Never)),
                            last_used_at: None,
                            service: None,
                            region: None,
                            problem: other.as_ref().err().cloned(),
                        },
                    },
                    keyport: e.keyport.as_ref().map(|k| KeyportUseOut {
                        at: k.at,
                        action: k.action.to_lowercase(),
                        by: k.by.clone(),
                        count: k.count,
                    }),
                })
                .collect(),
            cannot_start: view.cannot_start.clone(),
        }
    }
}

/// What a step did, and the rotation after it.
#[derive(Serialize, ToSchema)]
pub struct RotationStepDone {
    /// What happened, and where (at the backend, or in Keyport only), as the audit log says it.
    pub detail: String,
    pub rotation: RotationOut,
}

async fn rotation_of(state: &AppState, who: &Principal, id: &str) -> Result<RotationOut, Failure> {
    let view = ops::rotation::view(&state.ops, who, id).await?;
    Ok(RotationOut::new(who, view))
}

/// A credential's guided rotation.
///
/// The step it is at, the second key, and the evidence of use of both keys: the backend's
/// record (IAM `GetAccessKeyLastUsed`; none for Keystone EC2 or without a backend) and
/// Keyport's own record of Show, Copy and Download. Without a rotation, `step` is null and
/// `cannot_start` says why one cannot start, if it cannot.
#[utoipa::path(
    get,
    path = "/projects/{project}/credentials/{id}/rotation",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id (the old key's, or the second key's)"),
    ),
    responses(
        (status = 200, description = "The rotation", body = RotationOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not regenerate it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
    )
)]
async fn rotation_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<RotationOut>, Failure> {
    Ok(Json(rotation_of(&state, &who, &id).await?))
}

/// Step 1 of a guided rotation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRotationIn {
    /// How long the old key must go unused before step 3: `1h`, `1d`, `7d`, `36h`, `90m`, or
    /// seconds; 1 minute to 366 days. Empty or absent: 1 day.
    #[serde(default)]
    #[schema(max_length = 20)]
    quiet: String,
    /// Without a backend only: the second key as the provider gave it (else Keyport makes one).
    #[schema(max_length = 100)]
    access_key: Option<String>,
    #[schema(value_type = Option<String>, max_length = 4096)]
    secret: Option<Zeroizing<String>>,
}

/// Starts a guided rotation: step 1.
///
/// A second key for the same owner, within the service's limit of keys per owner; both keys
/// work. The second key's secret is not in the answer: reveal it (audited).
#[utoipa::path(
    post,
    path = "/projects/{project}/credentials/{id}/rotation",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id"),
    ),
    request_body = StartRotationIn,
    responses(
        (status = 201, description = "Step 1 is done: both keys work", body = RotationOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not regenerate it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the credential is already being rotated, its owner holds no free place under the limit, or its kind has one value at a time; the message says why", body = ApiError),
        (status = 422, description = "A field is not valid; `fields` says which", body = ApiError),
        (status = 502, description = "The service's backend refused or did not answer; the message says whether anything changed", body = ApiError),
    )
)]
async fn rotation_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
    body: Result<Json<StartRotationIn>, JsonRejection>,
) -> Result<Response, Failure> {
    let Json(body) = body?;
    let typed = match (body.access_key, body.secret) {
        (None, None) => None,
        (access_key, secret) => Some(IssuedKey {
            access_key: access_key.unwrap_or_default(),
            secret: secret.unwrap_or_default(),
        }),
    };
    let input = StartRotation {
        quiet: body.quiet,
        typed,
    };
    ops::rotation::start(&state.ops, &who, &id, input).await?;
    let rotation = rotation_of(&state, &who, &id).await?;
    Ok((StatusCode::CREATED, Json(rotation)).into_response())
}

/// Step 2's quiet period.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietIn {
    /// `1h`, `1d`, `7d`, `36h`, `90m`, or seconds; 1 minute to 366 days.
    #[schema(max_length = 20)]
    quiet: String,
}

/// Changes how long the old key must go unused before step 3.
#[utoipa::path(
    post,
    path = "/projects/{project}/credentials/{id}/rotation/quiet",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id"),
    ),
    request_body = QuietIn,
    responses(
        (status = 200, description = "The quiet period is changed", body = RotationStepDone),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not regenerate it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the credential is not being rotated, or a step is under way", body = ApiError),
        (status = 422, description = "The quiet period is not valid", body = ApiError),
    )
)]
async fn rotation_quiet_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
    body: Result<Json<QuietIn>, JsonRejection>,
) -> Result<Json<RotationStepDone>, Failure> {
    let Json(body) = body?;
    let seconds = ops::rotation::set_quiet(&state.ops, &who, &id, &body.quiet).await?;
    Ok(Json(RotationStepDone {
        detail: format!(
            "step 2: quiet period set to {}",
            crate::domain::rotation_steps::quiet_words(seconds)
        ),
        rotation: rotation_of(&state, &who, &id).await?,
    }))
}

/// Whether to go on although the evidence does not show the old key quiet for long enough.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AnywayIn {
    /// Needed where the backend keeps no record of use (Keystone EC2, no backend), or before
    /// the quiet period is over.
    #[serde(default)]
    anyway: bool,
}

/// Step 3: deactivates the old key.
///
/// At IAM, `UpdateAccessKey Inactive`: a client still using it is refused, and it can be made
/// active again. Without a backend, the key is marked disabled in Keyport and nothing changes at
/// the provider. Keystone EC2 has no inactive state: refused (409), step 4 follows step 2.
#[utoipa::path(
    post,
    path = "/projects/{project}/credentials/{id}/rotation/deactivate",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id"),
    ),
    request_body = AnywayIn,
    responses(
        (status = 200, description = "The old key is deactivated", body = RotationStepDone),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not regenerate it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: not at step 2, a step under way, the old key not quiet for long enough (send `anyway`), or the backend has no inactive state", body = ApiError),
        (status = 422, description = "The body is not the JSON object described", body = ApiError),
        (status = 502, description = "The service's backend refused or did not answer; the message says whether anything changed", body = ApiError),
    )
)]
async fn rotation_deactivate_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
    body: Result<Json<AnywayIn>, JsonRejection>,
) -> Result<Json<RotationStepDone>, Failure> {
    let Json(body) = body?;
    let detail = ops::rotation::deactivate_old(&state.ops, &who, &id, body.anyway).await?;
    Ok(Json(RotationStepDone {
        detail,
        rotation: rotation_of(&state, &who, &id).await?,
    }))
}

/// Back to step 2: the deactivated old key works again.
#[utoipa::path(
    post,
    path = "/projects/{project}/credentials/{id}/rotation/reactivate",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id"),
    ),
    responses(
        (status = 200, description = "The old key works again", body = RotationStepDone),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not regenerate it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the old key is not deactivated, or a step is under way", body = ApiError),
        (status = 502, description = "The service's backend refused or did not answer; the message says whether anything changed", body = ApiError),
    )
)]
async fn rotation_reactivate_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<RotationStepDone>, Failure> {
    let detail = ops::rotation::reactivate_old(&state.ops, &who, &id).await?;
    Ok(Json(RotationStepDone {
        detail,
        rotation: rotation_of(&state, &who, &id).await?,
    }))
}

/// Step 4: deletes the old key; the second key takes the credential's name.
///
/// After step 3; for Keystone EC2 (no inactive state) after step 2, once the old key is quiet
/// (or with `anyway`). The answer shows the second key's credential, no longer in a rotation.
#[utoipa::path(
    post,
    path = "/projects/{project}/credentials/{id}/rotation/delete-old",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id"),
    ),
    request_body = AnywayIn,
    responses(
        (status = 200, description = "The old key is deleted; the rotation is finished", body = RotationStepDone),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not delete it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the old key is not deactivated yet, a step is under way, or the old key is not quiet for long enough (send `anyway`)", body = ApiError),
        (status = 422, description = "The body is not the JSON object described", body = ApiError),
        (status = 502, description = "The service's backend refused or did not answer; the message says whether anything changed", body = ApiError),
    )
)]
async fn rotation_delete_old_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
    body: Result<Json<AnywayIn>, JsonRejection>,
) -> Result<Json<RotationStepDone>, Failure> {
    let Json(body) = body?;
    let before = ops::rotation::view(&state.ops, &who, &id).await?;
    let new_id = before
        .rotation
        .as_ref()
        .map(|r| r.new_credential_id.clone());
    let detail = ops::rotation::delete_old(&state.ops, &who, &id, body.anyway).await?;
    let after = new_id.as_deref().unwrap_or(&id);
    Ok(Json(RotationStepDone {
        detail,
        rotation: rotation_of(&state, &who, after).await?,
    }))
}

/// Abandons the rotation: the old key works and is enabled again, the second key is deleted.
#[utoipa::path(
    post,
    path = "/projects/{project}/credentials/{id}/rotation/abandon",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The old key's credential id"),
    ),
    responses(
        (status = 200, description = "The rotation is abandoned", body = RotationStepDone),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not regenerate it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "Nothing was changed: the credential is not being rotated, or a step is under way; or the backend failed half-way and Reconcile finishes the abandon", body = ApiError),
    )
)]
async fn rotation_abandon_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<RotationStepDone>, Failure> {
    let before = ops::rotation::view(&state.ops, &who, &id).await?;
    let old_id = before.credential.id.clone();
    let done = ops::rotation::abandon(&state.ops, &who, &id).await?;
    Ok(Json(RotationStepDone {
        detail: done.detail,
        rotation: rotation_of(&state, &who, &old_id).await?,
    }))
}
