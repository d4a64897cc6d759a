//! `/projects/{slug}/credentials`: per service, the signed-in member's keys, the project's app
//! keys and (for admins) other members' keys. Secrets are masked and leave the server only in
//! the answer to an audited POST; a GET never creates, changes or reveals anything.

mod add;
mod add_form;
mod change;
mod edit;
mod page;
mod rotation;
mod texts;

use axum::{
    Router,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};

use super::{
    AppState, PageError, client_config::ConfigChoice, extract::ProjectMember, session,
    view::WARNING_MARK,
};
use crate::{
    domain::roles::CredentialAction,
    ops::{self, OpError, Project},
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
        .route(
            "/projects/{slug}/credentials/{id}/rotation",
            get(rotation::rotation_get).post(rotation::rotation_start_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/rotation/quiet",
            post(rotation::rotation_quiet_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/rotation/deactivate",
            post(rotation::rotation_deactivate_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/rotation/reactivate",
            post(rotation::rotation_reactivate_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/rotation/delete-old",
            post(rotation::rotation_delete_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/rotation/abandon",
            post(rotation::rotation_abandon_post),
        )
}

fn credentials_url(project: &Project, service_id: &str) -> String {
    format!(
        "/projects/{}/credentials?service={service_id}",
        project.slug
    )
}

/// The session's note of the one credential whose secret the next view of the page shows (its
/// id, never the secret): set by Show and by Add, taken by the page that shows it, so that a
/// reload or Back shows the page masked and a reveal is audited once.
const SHOW_ONCE_KEY: &str = "credential_show_once";

/// Back to the service's credentials with `id`'s secret shown there once (an audited reveal),
/// and `notice` if any; `choice` keeps the site and variant of the snippets.
async fn show_once(
    member: &ProjectMember,
    service_id: &str,
    id: &str,
    choice: &ConfigChoice,
    notice: Option<String>,
) -> Result<Response, PageError> {
    if let Some(notice) = notice {
        session::set_notice(&member.session, notice).await?;
    }
    member.session.insert(SHOW_ONCE_KEY, id).await?;
    let mut url = credentials_url(member.project(), service_id);
    for (name, value) in [("site", &choice.site), ("variant", &choice.variant)] {
        if !value.is_empty() {
            let value: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            url.push_str(&format!("&{name}={value}"));
        }
    }
    url.push_str(&format!("&shown={id}#credential-{id}"));
    Ok(Redirect::to(&url).into_response())
}

/// Whether this view of the page shows `shown`'s secret: only once after Show or Add asked for
/// it. Any note there is used up by the first view of the page.
async fn take_show_once(member: &ProjectMember, shown: Option<&str>) -> Result<bool, PageError> {
    // Read first: a view without a note writes nothing to the session.
    let noted: Option<String> = member.session.get(SHOW_ONCE_KEY).await?;
    if noted.is_none() {
        return Ok(false);
    }
    member.session.remove::<String>(SHOW_ONCE_KEY).await?;
    Ok(noted.as_deref() == shown)
}

/// Back to the service's credentials, with `notice` shown there.
async fn back_with(
    member: &ProjectMember,
    service_id: &str,
    notice: String,
) -> Result<Response, PageError> {
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&credentials_url(member.project(), service_id)).into_response())
}

/// An operation that refused or could not reach the backend: back to the page with why (and
/// whether anything changed); anything else is an error page.
async fn refused(
    member: &ProjectMember,
    service_id: &str,
    error: OpError,
) -> Result<Response, PageError> {
    match error {
        OpError::NotFound
        | OpError::Forbidden(_)
        | OpError::StepUpRequired
        | OpError::Internal(_) => Err(error.into()),
        refusal => {
            let notice = format!("{WARNING_MARK}{}", refusal.message());
            back_with(member, service_id, notice).await
        }
    }
}

/// Without `confirm=yes`: the way to the confirmation page of `action` (`regenerate`,
/// `delete`) of the credential `id`.
fn unconfirmed(confirm: &str, member: &ProjectMember, id: &str, action: &str) -> Option<Response> {
    let page = format!(
        "/projects/{}/credentials/{id}/{action}",
        member.project().slug
    );
    (confirm != "yes").then(|| Redirect::to(&page).into_response())
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
