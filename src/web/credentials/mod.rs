//! `/projects/{slug}/credentials`: per service, the signed-in member's keys, the project's app
//! keys and (for admins) other members' keys. Secrets are masked and leave the server only in
//! the answer to an audited POST; a GET never creates, changes or reveals anything.

mod add;
mod change;
mod edit;
mod page;
mod texts;

use axum::{
    Router,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{AppState, PageError, extract::ProjectMember, session};
use crate::{
    db::projects::Project,
    domain::roles::CredentialAction,
    ops::{self, OpError},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{slug}/credentials",
            get(page::credentials_get).post(add::credentials_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/reveal",
            post(change::credential_reveal_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/regenerate",
            get(change::credential_regenerate_get).post(change::credential_regenerate_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/delete",
            get(change::credential_delete_get).post(change::credential_delete_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/test",
            post(change::credential_test_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/edit",
            get(edit::credential_edit_get).post(edit::credential_edit_post),
        )
}

fn credentials_url(project: &Project, service_id: &str) -> String {
    format!(
        "/projects/{}/credentials?service={service_id}",
        project.slug
    )
}

/// Back to the service's credentials, with `notice` shown there.
async fn back_with(
    member: &ProjectMember,
    service_id: &str,
    notice: String,
) -> Result<Response, PageError> {
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&credentials_url(&member.project, service_id)).into_response())
}

/// An operation that refused or could not reach the backend: back to the page with why (and
/// whether anything changed); anything else is an error page.
async fn refused(
    member: &ProjectMember,
    service_id: &str,
    error: OpError,
) -> Result<Response, PageError> {
    match error {
        OpError::NotFound | OpError::Forbidden(_) | OpError::Internal(_) => Err(error.into()),
        refusal => back_with(member, service_id, refusal.message()).await,
    }
}

/// The confirmation a Regenerate or Delete POST needs; without it, the POST leads to the
/// confirmation page.
#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

impl ConfirmForm {
    /// Without `confirm=yes`: the way to the confirmation page of `action` (`regenerate`,
    /// `delete`) of the credential `id`.
    fn unconfirmed(&self, member: &ProjectMember, id: &str, action: &str) -> Option<Response> {
        let page = format!(
            "/projects/{}/credentials/{id}/{action}",
            member.project.slug
        );
        (self.confirm != "yes").then(|| Redirect::to(&page).into_response())
    }
}

/// The id of the service of credential `id`, where `action` on it leads back to; refused as the
/// action itself would be.
async fn service_of(
    state: &AppState,
    member: &ProjectMember,
    id: &str,
    action: CredentialAction,
) -> Result<String, PageError> {
    let (_, service, _) = ops::credentials::confirm(&state.ops, member, id, action).await?;
    Ok(service.id)
}
