//! `/projects/{slug}/credentials/{id}/rotation`: a guided rotation in two keys, one page per
//! credential showing the step it is at, the second key's snippets, the evidence of use of each
//! key and the buttons of the next step; each button a POST that calls one operation and leads
//! back to the page with what happened.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{credentials_url, texts::labels};
use crate::{
    domain::{
        rotation_steps::{QUIET_CHOICES, RotationStep, quiet_words},
        time::utc,
    },
    ops::{
        self, FieldErrors, IssuedKey, OpError, Project,
        rotation::{KeyEvidence, RotationView, StartRotation},
    },
    providers::{Deactivation, KeyUse},
    snippets::Snippet,
    web::{
        AppState, PageError,
        extract::ProjectMember,
        session,
        view::{Ctx, OK_MARK, WARNING_MARK},
    },
};

/// One key's evidence of use, in words.
pub(super) struct EvidenceRow {
    role: &'static str,
    access_key: String,
    status: String,
    backend: String,
    keyport: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "credential_rotation.html")]
pub(super) struct RotationPage {
    ctx: Ctx,
    project: Project,
    back: String,
    action: String,
    name: String,
    access_key: String,
    /// 0 before step 1, then the step the rotation is at (1 to 4).
    step: u8,
    step_words: String,
    under_way: bool,
    cannot_start: Option<String>,
    /// The labels of the second key's fields, where it is typed in (no backend).
    typed: Option<(&'static str, &'static str)>,
    backend: &'static str,
    deactivation: &'static str,
    new_name: String,
    new_key: String,
    new_link: String,
    snippets: Vec<Snippet>,
    evidence: Vec<EvidenceRow>,
    quiet_status: String,
    quiet_reached: bool,
    offer_deactivate: bool,
    offer_delete: bool,
    offer_reactivate: bool,
    quiet_choices: Vec<(String, &'static str)>,
    quiet: String,
    quiet_custom: String,
    form_access_key: String,
    errors: FieldErrors,
}

fn evidence_row(e: &KeyEvidence, deactivation: Deactivation, backend: &str) -> EvidenceRow {
    let backend_words = match &e.backend {
        Ok(KeyUse::Used {
            at,
            service,
            region,
        }) => {
            let mut words = format!("last used {at}");
            if !service.is_empty() {
                words.push_str(&format!(" by {service}"));
            }
            if !region.is_empty() {
                words.push_str(&format!(" in {region}"));
            }
            format!("{backend}: {words}")
        }
        Ok(KeyUse::Never) => format!("{backend}: never used"),
        Ok(KeyUse::NotRecorded) => match deactivation {
            Deactivation::KeyportOnly => {
                "No backend: Keyport only keeps this key and cannot see whether it is used.".into()
            }
            _ => format!("{backend} keeps no record of when a key is used: no evidence."),
        },
        Err(problem) => format!("{backend} did not say: {problem}"),
    };
    let keyport = match &e.keyport {
        Some(k) => format!(
            "{} by {} at {} ({} time{} in all)",
            k.action,
            k.by,
            utc(k.at),
            k.count,
            if k.count == 1 { "" } else { "s" }
        ),
        None => "never shown, copied or downloaded".into(),
    };
    EvidenceRow {
        role: e.role,
        access_key: e.access_key.clone(),
        status: if e.enabled {
            "active".into()
        } else {
            match deactivation {
                Deactivation::AtBackend => "inactive at IAM".into(),
                _ => "disabled in Keyport".into(),
            }
        },
        backend: backend_words,
        keyport,
    }
}

impl RotationPage {
    fn new(member: ProjectMember, view: RotationView) -> RotationPage {
        let project = member.project().clone();
        let service = &view.service;
        let back = credentials_url(&project, &service.id);
        let step = view.rotation.as_ref().map_or(0, |r| r.step.number());
        let at = view.rotation.as_ref().map(|r| r.step);
        let backend = match view.deactivation {
            Deactivation::AtBackend => "IAM",
            Deactivation::KeyportOnly => "Keyport",
            Deactivation::Unsupported => "Keystone",
        };
        let quiet = view.quiet.as_ref();
        let quiet_status = match quiet {
            Some(q) if q.reached => format!(
                "The old key has been quiet since {}: longer than {}.",
                utc(q.since),
                q.words()
            ),
            Some(q) if q.backend_records_use => format!(
                "Quiet since {}: the old key will have been quiet for {} at {}.",
                utc(q.since),
                q.words(),
                utc(q.until)
            ),
            Some(_) if view.evidence.first().is_some_and(|e| e.backend.is_err()) => format!(
                "{backend} did not say when the old key was last used (see below), so Keyport cannot tell whether it is still used. Reload to ask again, or go on anyway."
            ),
            Some(_) => format!(
                "{backend} keeps no record of a key's use, so Keyport cannot tell whether the old key is still used: only Keyport's own record of Show, Copy and Download is known. Go on anyway when you know every client moved to the new key."
            ),
            None => String::new(),
        };
        let quiet_seconds = view.rotation.as_ref().map_or(86_400, |r| r.quiet_seconds);
        let preset = QUIET_CHOICES.iter().any(|(s, _)| *s == quiet_seconds);
        RotationPage {
            action: format!(
                "/projects/{}/credentials/{}/rotation",
                project.slug, view.credential.id
            ),
            name: view.credential.name.clone(),
            access_key: view.credential.access_key.clone(),
            step,
            step_words: at.map(|s| s.words().to_string()).unwrap_or_default(),
            under_way: at.is_some_and(|s| !s.is_resting()),
            cannot_start: view.cannot_start.clone(),
            typed: (!service.driver.is_remote()).then(|| labels(service, view.credential.kind)),
            backend,
            deactivation: match view.deactivation {
                Deactivation::AtBackend => "backend",
                Deactivation::KeyportOnly => "keyport",
                Deactivation::Unsupported => "none",
            },
            new_name: view
                .new_credential
                .as_ref()
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            new_key: view
                .new_credential
                .as_ref()
                .map(|c| c.access_key.clone())
                .unwrap_or_default(),
            new_link: view
                .new_credential
                .as_ref()
                .map(|c| format!("{back}&configure={0}#credential-{0}", c.id))
                .unwrap_or_default(),
            evidence: view
                .evidence
                .iter()
                .map(|e| evidence_row(e, view.deactivation, backend))
                .collect(),
            quiet_reached: quiet.is_some_and(|q| q.reached),
            quiet_status,
            offer_deactivate: at == Some(RotationStep::BothActive)
                && view.deactivation != Deactivation::Unsupported,
            offer_delete: at == Some(RotationStep::OldInactive)
                || (at == Some(RotationStep::BothActive)
                    && view.deactivation == Deactivation::Unsupported),
            offer_reactivate: at == Some(RotationStep::OldInactive),
            quiet_choices: QUIET_CHOICES
                .iter()
                .map(|(s, words)| (s.to_string(), *words))
                .collect(),
            quiet: if preset {
                quiet_seconds.to_string()
            } else {
                "custom".into()
            },
            quiet_custom: if preset {
                String::new()
            } else {
                quiet_words(quiet_seconds)
            },
            form_access_key: String::new(),
            errors: FieldErrors::default(),
            snippets: view.snippets,
            back,
            project,
            ctx: member.ctx,
        }
    }
}

pub(super) async fn rotation_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<RotationPage, PageError> {
    let view = ops::rotation::view(&state.ops, &member, &id).await?;
    Ok(RotationPage::new(member, view))
}

/// The quiet period as the form gives it: one of the choices, or typed.
#[derive(Deserialize, Default)]
pub(super) struct QuietForm {
    #[serde(default)]
    quiet: String,
    #[serde(default)]
    quiet_custom: String,
}

impl QuietForm {
    fn typed(&self) -> String {
        match self.quiet.as_str() {
            "custom" | "" if !self.quiet_custom.trim().is_empty() => self.quiet_custom.clone(),
            "custom" => String::new(),
            seconds => seconds.to_string(),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct StartForm {
    #[serde(flatten)]
    quiet: QuietForm,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    secret: Zeroizing<String>,
}

/// Back to the rotation page of `id`, with `notice`.
async fn to_page(member: &ProjectMember, id: &str, notice: String) -> Result<Response, PageError> {
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/credentials/{id}/rotation",
        member.project().slug
    ))
    .into_response())
}

/// A step refused or not reached: back to the page with why; anything else an error page.
async fn step_refused(
    member: &ProjectMember,
    id: &str,
    error: OpError,
) -> Result<Response, PageError> {
    match error {
        OpError::NotFound
        | OpError::Forbidden(_)
        | OpError::StepUpRequired
        | OpError::Internal(_)
        | OpError::Invalid(_) => Err(error.into()),
        refusal => to_page(member, id, format!("{WARNING_MARK}{}", refusal.message())).await,
    }
}

/// The page again with the form's errors and what was typed (never a secret).
async fn with_errors(
    state: &AppState,
    member: ProjectMember,
    id: &str,
    errors: FieldErrors,
    quiet: &QuietForm,
    access_key: &str,
) -> Result<Response, PageError> {
    let view = ops::rotation::view(&state.ops, &member, id).await?;
    let mut page = RotationPage::new(member, view);
    page.errors = errors;
    page.quiet = if quiet.quiet.is_empty() {
        "custom".into()
    } else {
        quiet.quiet.clone()
    };
    page.quiet_custom = quiet.quiet_custom.clone();
    page.form_access_key = access_key.to_string();
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// Step 1.
pub(super) async fn rotation_start_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<StartForm>,
) -> Result<Response, PageError> {
    let typed =
        (!form.access_key.trim().is_empty() || !form.secret.is_empty()).then(|| IssuedKey {
            access_key: form.access_key.clone(),
            secret: form.secret.clone(),
        });
    let input = StartRotation {
        quiet: form.quiet.typed(),
        typed,
    };
    match ops::rotation::start(&state.ops, &member, &id, input).await {
        Ok(started) => {
            let notice = format!(
                "{OK_MARK}Step 1 done: the second key {} works beside {}. Configure your clients with it; the old key keeps working until step 3.",
                started.new_credential.access_key, started.credential.access_key
            );
            to_page(&member, &id, notice).await
        }
        Err(OpError::Invalid(errors)) => {
            with_errors(&state, member, &id, errors, &form.quiet, &form.access_key).await
        }
        Err(e) => step_refused(&member, &id, e).await,
    }
}

/// Step 2's quiet period.
pub(super) async fn rotation_quiet_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<QuietForm>,
) -> Result<Response, PageError> {
    match ops::rotation::set_quiet(&state.ops, &member, &id, &form.typed()).await {
        Ok(seconds) => {
            let notice = format!(
                "{OK_MARK}Step 3 is offered once the old key has been quiet for {}.",
                quiet_words(seconds)
            );
            to_page(&member, &id, notice).await
        }
        Err(OpError::Invalid(errors)) => with_errors(&state, member, &id, errors, &form, "").await,
        Err(e) => step_refused(&member, &id, e).await,
    }
}

#[derive(Deserialize)]
pub(super) struct AnywayForm {
    #[serde(default)]
    anyway: String,
}

/// Step 3.
pub(super) async fn rotation_deactivate_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<AnywayForm>,
) -> Result<Response, PageError> {
    let anyway = form.anyway == "yes";
    match ops::rotation::deactivate_old(&state.ops, &member, &id, anyway).await {
        Ok(detail) => to_page(&member, &id, format!("{OK_MARK}{}.", capital(&detail))).await,
        Err(e) => step_refused(&member, &id, e).await,
    }
}

/// Back to step 2.
pub(super) async fn rotation_reactivate_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    match ops::rotation::reactivate_old(&state.ops, &member, &id).await {
        Ok(detail) => to_page(&member, &id, format!("{OK_MARK}{}.", capital(&detail))).await,
        Err(e) => step_refused(&member, &id, e).await,
    }
}

/// Step 4: back to View Credentials, where the credential now holds the new key.
pub(super) async fn rotation_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<AnywayForm>,
) -> Result<Response, PageError> {
    let anyway = form.anyway == "yes";
    let service_id = ops::rotation::view(&state.ops, &member, &id)
        .await?
        .service
        .id;
    match ops::rotation::delete_old(&state.ops, &member, &id, anyway).await {
        Ok(detail) => {
            let notice = format!("{OK_MARK}Rotation finished. {}.", capital(&detail));
            super::back_with(&member, &service_id, notice).await
        }
        Err(e) => step_refused(&member, &id, e).await,
    }
}

/// Abandon: back to View Credentials, where the old key is as it was.
pub(super) async fn rotation_abandon_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    match ops::rotation::abandon(&state.ops, &member, &id).await {
        Ok(done) => {
            let notice = format!("{OK_MARK}{}.", capital(&done.detail));
            super::back_with(&member, &done.service.id, notice).await
        }
        Err(e) => step_refused(&member, &id, e).await,
    }
}

/// `text` with its first letter in capitals.
fn capital(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
