//! A service's Reconcile page: operations a stopped process left unfinished, keys at the backend
//! that Keyport does not hold, and credentials whose key the backend no longer has.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    AppState, PageError, confirm::ConfirmPage, extract::ProjectMember, session, view::Ctx,
};
use crate::ops::{
    self, CredentialInfo, OpError, Project, Service,
    reconcile::{FoundKeyAction, Report},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{slug}/services/{id}/reconcile",
            get(reconcile_get),
        )
        .route(
            "/projects/{slug}/services/{id}/reconcile/finish",
            post(finish_post),
        )
        .route(
            "/projects/{slug}/services/{id}/reconcile/key",
            post(found_key_post),
        )
        .route(
            "/projects/{slug}/services/{id}/reconcile/forget",
            post(forget_post),
        )
}

/// Back to the Reconcile page with what came of an action; refusals are said there too.
async fn back_with(
    member: &ProjectMember,
    service_id: &str,
    outcome: Result<String, OpError>,
) -> Result<Response, PageError> {
    let notice = match outcome {
        Ok(notice) => notice,
        Err(e @ (OpError::NotFound | OpError::Forbidden(_) | OpError::Internal(_))) => {
            return Err(e.into());
        }
        Err(refusal) => refusal.message(),
    };
    session::set_notice(&member.session, notice).await?;
    let url = format!(
        "/projects/{}/services/{service_id}/reconcile",
        member.project().slug
    );
    Ok(Redirect::to(&url).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "reconcile.html")]
struct ReconcilePage {
    ctx: Ctx,
    project: Project,
    service: Service,
    report: Option<Report>,
    problem: String,
}

impl ReconcilePage {
    fn interrupted(&self) -> &[Arc<CredentialInfo>] {
        self.report.as_ref().map_or(&[], |r| &r.interrupted)
    }
}

async fn reconcile_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ReconcilePage, PageError> {
    let (service, report) = ops::reconcile::report(&state.ops, &member, &id).await?;
    let (report, problem) = match report {
        Ok(report) => (Some(report), String::new()),
        Err(e) => (None, e.to_string()),
    };
    Ok(ReconcilePage {
        ctx: member.ctx,
        project: member.principal.project().clone(),
        service,
        report,
        problem,
    })
}

/// Finishes the service's interrupted operations now.
async fn finish_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let done: Vec<String> = ops::reconcile::finish_now(&state.ops, &member, &id)
        .await?
        .into_iter()
        .map(|(name, outcome)| format!("{name}: {outcome}"))
        .collect();
    let notice = if done.is_empty() {
        "Nothing to finish: changes under way for less than five minutes are left to finish on their own.".to_string()
    } else {
        done.join(" · ")
    };
    back_with(&member, &id, Ok(notice)).await
}

#[derive(Deserialize)]
struct FoundKeyForm {
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    action: String,
    /// IAM never shows a secret again: adopting needs it typed.
    #[serde(default)]
    secret: Zeroizing<String>,
    /// `yes` once Revoke was confirmed (by the page's script, or on the confirmation page).
    #[serde(default)]
    confirm: String,
}

/// The confirmation page of an action of the Reconcile page, for browsers without JavaScript;
/// refused as the action itself would be: 404 for another project's service, 403 for those who
/// may not change it. `title` is completed with the service's name.
async fn confirmation(
    state: &AppState,
    member: ProjectMember,
    id: &str,
    (title, message): (String, &str),
    (action, fields): (&str, Vec<(&'static str, String)>),
) -> Result<Response, PageError> {
    let service = ops::services::to_change(&state.ops, &member, id).await?;
    let title = format!("{title} ({})", service.name);
    let back = format!(
        "/projects/{}/services/{id}/reconcile",
        member.project().slug
    );
    Ok(ConfirmPage {
        title,
        message: message.into(),
        action: format!("{back}/{action}"),
        button: if action == "key" { "Revoke" } else { "Remove" },
        back,
        alternative: None,
        fields,
        ctx: member.ctx,
    }
    .into_response())
}

/// Adopts or revokes a key found at the backend that Keyport does not hold.
async fn found_key_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<FoundKeyForm>,
) -> Result<Response, PageError> {
    if form.action == "revoke" && form.confirm != "yes" {
        let fields = vec![
            ("access_key", form.access_key.clone()),
            ("action", "revoke".to_string()),
        ];
        let title = format!("Revoke {} at the backend?", form.access_key);
        let message = "Whatever uses this key stops working at once. Keyport does not hold it, so nothing can bring it back.";
        return confirmation(&state, member, &id, (title, message), ("key", fields)).await;
    }
    let action = match form.action.as_str() {
        "revoke" => FoundKeyAction::Revoke,
        "adopt" => FoundKeyAction::Adopt {
            secret: form.secret,
        },
        _ => return Err(PageError::BadRequest("Adopt or revoke.")),
    };
    let outcome =
        ops::reconcile::found_key(&state.ops, &member, &id, &form.access_key, action).await;
    back_with(&member, &id, outcome).await
}

#[derive(Deserialize)]
struct ForgetForm {
    #[serde(default)]
    credential_id: String,
    #[serde(default)]
    confirm: String,
}

/// Removes a credential whose key the backend no longer has.
async fn forget_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<ForgetForm>,
) -> Result<Response, PageError> {
    if form.confirm != "yes" {
        let fields = vec![("credential_id", form.credential_id.clone())];
        let title = "Remove this credential from Keyport?".to_string();
        let message = "The backend no longer has its key. Keyport forgets the credential and its secret; nothing changes at the backend.";
        return confirmation(&state, member, &id, (title, message), ("forget", fields)).await;
    }
    let forgotten = ops::reconcile::forget(&state.ops, &member, &id, &form.credential_id).await;
    let outcome = forgotten.map(|name| format!("{name} was removed from Keyport."));
    back_with(&member, &id, outcome).await
}
