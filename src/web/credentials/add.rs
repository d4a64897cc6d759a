//! Add credential: the form's POST.

use axum::{
    Form,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use zeroize::Zeroizing;

use super::{add_form::AddForm, page::CredentialsPage, show_once, texts::added_notice};
use crate::{
    domain::services::CredentialKind,
    ops::{self, OpError},
    web::{AppState, PageError, client_config::ConfigChoice, extract::ProjectMember},
};

pub(super) async fn credentials_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    let errors = match ops::credentials::add(&state.ops, &member, form.input()).await {
        Ok(added) => {
            let kind = CredentialKind::parse(&form.kind).unwrap_or(CredentialKind::Key);
            let notice = added_notice(&added.service, kind, &added.name, form.mode == "import");
            // Shown once on the page it leads to, as the consoles do, and audited there.
            let choice = ConfigChoice::default();
            return show_once(&member, &added.service.id, &added.id, &choice, Some(notice)).await;
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(e @ (OpError::NotFound | OpError::Forbidden(_) | OpError::Internal(_))) => {
            return Err(e.into());
        }
        // Refusals that come after the checks (the limit under the lock, the backend) are
        // shown where the limit is.
        Err(refusal) => ops::FieldErrors::one("limit", refusal.message()),
    };
    let service_id = form.service_id.clone();
    let mut page = CredentialsPage::build(
        &state,
        member,
        Some(&service_id),
        "",
        &ConfigChoice::default(),
        None,
    )
    .await?;
    // What was typed is kept, but never a secret.
    page.form = AddForm {
        secret: Zeroizing::default(),
        ..form
    };
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
