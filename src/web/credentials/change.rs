//! Show, Regenerate, Delete and Test: each a POST that calls one operation; Regenerate and
//! Delete first lead to a confirmation page (or the page's dialog) that says what will stop
//! working.

use axum::{
    Form,
    extract::{Path, State},
    response::Response,
};

use super::{
    ConfirmForm, back_with, credentials_url,
    page::CredentialsPage,
    refused, service_of,
    texts::{delete_warning, only_key, regenerate_warning},
};
use crate::{
    domain::roles::CredentialAction,
    ops::{self, credentials::Purpose},
    web::{
        AppState, PageError, client_config::ConfigChoice, confirm::ConfirmPage,
        extract::ProjectMember, step_up::RecentProof,
    },
};

pub(super) async fn credential_reveal_post(
    State(state): State<AppState>,
    member: ProjectMember,
    _proof: RecentProof,
    Path((_, id)): Path<(String, String)>,
    Form(choice): Form<ConfigChoice>,
) -> Result<CredentialsPage, PageError> {
    let revealed = ops::credentials::reveal(&state.ops, &member, &id, Purpose::Show).await?;
    let service_id = revealed.service.id.clone();
    CredentialsPage::build(
        &state,
        member,
        Some(&service_id),
        "",
        &choice,
        Some(revealed),
    )
    .await
}

pub(super) async fn credential_regenerate_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ConfirmPage, PageError> {
    let (credential, service, held) =
        ops::credentials::confirm(&state.ops, &member, &id, CredentialAction::Regenerate).await?;
    let back = credentials_url(&member.project, &service.id);
    let alternative =
        only_key(&service, held).then(|| ("Add a second key first", format!("{back}#add")));
    Ok(ConfirmPage {
        title: format!("Regenerate {}?", credential.name),
        message: regenerate_warning(&service, &credential, held),
        action: format!(
            "/projects/{}/credentials/{id}/regenerate",
            member.project.slug
        ),
        button: "Regenerate",
        back,
        alternative,
        ctx: member.ctx,
    })
}

pub(super) async fn credential_regenerate_post(
    State(state): State<AppState>,
    member: ProjectMember,
    _proof: RecentProof,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    if let Some(to_confirmation) = form.unconfirmed(&member, &id, "regenerate") {
        return Ok(to_confirmation);
    }
    let service_id = service_of(&state, &member, &id, CredentialAction::Regenerate).await?;
    let done = match ops::credentials::regenerate(&state.ops, &member, &id).await {
        Ok(done) => done,
        Err(e) => return refused(&member, &service_id, e).await,
    };
    let name = &done.credential.name;
    let notice = match done.warning {
        Some(warning) => format!("{name} was regenerated. {warning}"),
        None => format!(
            "{name} was regenerated: the old secret no longer works. Use Show to see the new one."
        ),
    };
    back_with(&member, &service_id, notice).await
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
        message: delete_warning(&service, &credential),
        action: format!("/projects/{}/credentials/{id}/delete", member.project.slug),
        button: "Delete",
        back: credentials_url(&member.project, &service.id),
        alternative: None,
        ctx: member.ctx,
    })
}

pub(super) async fn credential_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    _proof: RecentProof,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    if let Some(to_confirmation) = form.unconfirmed(&member, &id, "delete") {
        return Ok(to_confirmation);
    }
    let service_id = service_of(&state, &member, &id, CredentialAction::Delete).await?;
    match ops::credentials::delete(&state.ops, &member, &id).await {
        Ok(done) => {
            let notice = format!("{} was deleted.", done.credential.name);
            back_with(&member, &service_id, notice).await
        }
        Err(e) => refused(&member, &service_id, e).await,
    }
}

/// The Test button: the verdict and latency as a notice.
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
            "Test of {name}: {} in {} ms. {}",
            probe.verdict.label(),
            probe.millis,
            probe.detail
        ),
    };
    back_with(&member, &service_id, notice).await
}
