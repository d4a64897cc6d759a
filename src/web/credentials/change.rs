//! Show, Regenerate, Delete and Test: each a POST that calls one operation; Regenerate and
//! Delete first lead to a confirmation page (or the page's dialog) that says what will stop
//! working.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    back_with, credentials_url, refused, service_of, show_once,
    texts::{
        delete_warning, deleted_notice, labels, only_key, regenerate_warning, regenerated_notice,
    },
};
use crate::{
    domain::roles::CredentialAction,
    ops::{self, CredentialInfo, FieldErrors, IssuedKey, OpError, Service, Verdict},
    web::{
        AppState, PageError,
        client_config::ConfigChoice,
        confirm::ConfirmPage,
        extract::ProjectMember,
        view::{Ctx, FAILED_MARK, OK_MARK, WARNING_MARK},
    },
};

/// Show: leads back to the page, which shows the secret once (and audits it there), so that
/// Back and reload never post again.
pub(super) async fn credential_reveal_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(choice): Form<ConfigChoice>,
) -> Result<Response, PageError> {
    let service_id = service_of(&state, &member, &id, CredentialAction::Reveal).await?;
    show_once(&member, &service_id, &id, &choice, None).await
}

/// The confirmation page of Regenerate; for a service without a backend, with the fields of
/// the new key the provider gave.
#[derive(Template, WebTemplate)]
#[template(path = "credential_regenerate.html")]
pub(super) struct RegeneratePage {
    ctx: Ctx,
    title: String,
    message: String,
    action: String,
    back: String,
    /// "Add a second key first", where it gives an overlap.
    alternative: Option<String>,
    /// The guided rotation of the same key.
    rotation: String,
    /// The labels of the new key's fields, where the key is typed in.
    typed: Option<(&'static str, &'static str)>,
    access_key: String,
    errors: FieldErrors,
}

impl RegeneratePage {
    fn new(
        member: ProjectMember,
        credential: &CredentialInfo,
        service: &Service,
        held: i64,
    ) -> RegeneratePage {
        let back = credentials_url(member.project(), &service.id);
        let only = only_key(service, held);
        RegeneratePage {
            title: format!("Regenerate {}?", credential.name),
            message: regenerate_warning(service, credential.kind, &credential.access_key, only),
            action: format!(
                "/projects/{}/credentials/{}/regenerate",
                member.project().slug,
                credential.id
            ),
            alternative: (only && service.driver.is_remote()).then(|| format!("{back}#add")),
            rotation: format!(
                "/projects/{}/credentials/{}/rotation",
                member.project().slug,
                credential.id
            ),
            back,
            typed: (!service.driver.is_remote()).then(|| labels(service, credential.kind)),
            access_key: credential.access_key.clone(),
            errors: FieldErrors::default(),
            ctx: member.ctx,
        }
    }
}

pub(super) async fn credential_regenerate_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<RegeneratePage, PageError> {
    let (credential, service, held) =
        ops::credentials::confirm(&state.ops, &member, &id, CredentialAction::Regenerate).await?;
    Ok(RegeneratePage::new(member, &credential, &service, held))
}

/// Regenerate's form: the confirmation and, for a service without a backend, the new key.
#[derive(Deserialize)]
pub(super) struct RegenerateForm {
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    secret: Zeroizing<String>,
}

pub(super) async fn credential_regenerate_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<RegenerateForm>,
) -> Result<Response, PageError> {
    if let Some(to_confirmation) = super::unconfirmed(&form.confirm, &member, &id, "regenerate") {
        return Ok(to_confirmation);
    }
    let typed =
        (!form.access_key.trim().is_empty() || !form.secret.is_empty()).then(|| IssuedKey {
            access_key: form.access_key.clone(),
            secret: form.secret.clone(),
        });
    let was_typed = typed.is_some();
    let done = match ops::credentials::regenerate_with(&state.ops, &member, &id, typed).await {
        Ok(done) => done,
        Err(OpError::Invalid(errors)) => {
            let (credential, service, held) =
                ops::credentials::confirm(&state.ops, &member, &id, CredentialAction::Regenerate)
                    .await?;
            let mut page = RegeneratePage::new(member, &credential, &service, held);
            // What was typed is kept, but never a secret.
            page.access_key = form.access_key;
            page.errors = errors;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(e) => {
            let service_id = service_of(&state, &member, &id, CredentialAction::Regenerate).await?;
            return refused(&member, &service_id, e).await;
        }
    };
    let service = &done.service;
    let notice = regenerated_notice(
        service,
        &done.credential.name,
        was_typed,
        done.warning.as_deref(),
    );
    back_with(&member, &service.id, notice).await
}

pub(super) async fn credential_delete_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ConfirmPage, PageError> {
    let (credential, service, _) =
        ops::credentials::confirm(&state.ops, &member, &id, CredentialAction::Delete).await?;
    Ok(ConfirmPage {
        title: format!("Delete {}?", credential.name),
        message: delete_warning(
            &service,
            credential.kind,
            &credential.name,
            &credential.access_key,
        ),
        action: format!(
            "/projects/{}/credentials/{id}/delete",
            member.project().slug
        ),
        button: "Delete",
        back: credentials_url(member.project(), &service.id),
        alternative: None,
        fields: Vec::new(),
        ctx: member.ctx,
    })
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub(super) async fn credential_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    if let Some(to_confirmation) = super::unconfirmed(&form.confirm, &member, &id, "delete") {
        return Ok(to_confirmation);
    }
    match ops::credentials::delete(&state.ops, &member, &id).await {
        Ok(done) => {
            let notice = deleted_notice(&done.service, &done.credential.name);
            back_with(&member, &done.service.id, notice).await
        }
        Err(e) => {
            let service_id = service_of(&state, &member, &id, CredentialAction::Delete).await?;
            refused(&member, &service_id, e).await
        }
    }
}

/// The Test button: the verdict and latency as a notice, in the verdict's own colour.
pub(super) async fn credential_test_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let service_id = service_of(&state, &member, &id, CredentialAction::Test).await?;
    let tested = match ops::credentials::test(&state.ops, &member, &id).await {
        Ok(tested) => tested,
        Err(e) => return refused(&member, &service_id, e).await,
    };
    let name = &tested.credential.name;
    let notice = match tested.probe {
        None => format!(
            "{name} cannot be tested: the service needs a public endpoint (S3) or an auth endpoint (OpenStack); API keys have no standard test."
        ),
        Some(probe) => format!(
            "{}Test of {name}: {} in {} ms. {}",
            match probe.verdict {
                Verdict::Ok => OK_MARK,
                Verdict::Denied => FAILED_MARK,
                Verdict::Unreachable => WARNING_MARK,
            },
            probe.verdict.label(),
            probe.millis,
            probe.detail
        ),
    };
    back_with(&member, &service_id, notice).await
}
