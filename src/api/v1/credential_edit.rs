//! `PATCH` a credential: its name, description, expiry and whether it is enabled, through the
//! operation of the page's Edit, with its role rules and its audit record.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::credentials::CredentialOut;
use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
    },
    domain::time,
    ops::{self, credentials::Edit},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(credential_patch))
}

/// What to change of a credential; what is left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialChange {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[schema(max_length = 500)]
    description: Option<String>,
    /// `YYYY-MM-DD`, or empty for no expiry.
    #[schema(pattern = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    expires: Option<String>,
    /// A disabled credential stays in Keyport and at its backend; it is marked so on the page.
    enabled: Option<bool>,
}

/// Changes a credential's name, description, expiry or whether it is enabled.
///
/// As the page's Edit does: members their own keys, admins and owners everyone's; audited.
#[utoipa::path(
    patch,
    path = "/projects/{project}/services/{instance_id}/credentials/{id}",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("instance_id" = String, Path, description = "The service's instance id"),
        ("id" = String, Path, description = "The credential's id"),
    ),
    request_body = CredentialChange,
    responses(
        (status = 200, description = "The credential as it is now", body = CredentialOut),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not change it", body = ApiError),
        (status = 404, description = "No such project, service or credential of that service, or the caller may not see it", body = ApiError),
        (status = 422, description = "A field is not valid, or the body is not such an object; `fields` says which", body = ApiError),
    )
)]
async fn credential_patch(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, service_id, id)): Path<(String, String, String)>,
    body: Result<Json<CredentialChange>, JsonRejection>,
) -> Result<Json<CredentialOut>, Failure> {
    let Json(change) = body?;
    let (current, service) = ops::credentials::edit_form(&state.ops, &who, &id).await?;
    if service.id != service_id {
        return Err(Failure::not_found());
    }
    let edit = Edit {
        name: change.name.unwrap_or_else(|| current.name.clone()),
        description: change
            .description
            .unwrap_or_else(|| current.description.clone()),
        expires: change
            .expires
            .unwrap_or_else(|| current.expires_at.map(time::day).unwrap_or_default()),
        enabled: change.enabled.unwrap_or(current.enabled),
    };
    ops::credentials::edit(&state.ops, &who, &id, edit).await?;
    let (edited, _) = ops::credentials::edit_form(&state.ops, &who, &id).await?;
    Ok(Json(CredentialOut::new(&who, &edited)))
}
