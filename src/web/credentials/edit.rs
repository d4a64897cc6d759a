//! Edit a credential's name, description, expiry and whether it is enabled.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::back_with;
use crate::{
    ops::{self, FieldErrors, OpError, Project, Service, credentials::Edit},
    web::{
        AppState, PageError,
        extract::ProjectMember,
        view::{Ctx, UnixTime},
    },
};

#[derive(Template, WebTemplate)]
#[template(path = "credential_edit.html")]
pub(super) struct EditPage {
    ctx: Ctx,
    project: Project,
    service: Service,
    credential_id: String,
    form: EditForm,
    errors: FieldErrors,
}

#[derive(Deserialize, Default)]
pub(super) struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expires: String,
    enabled: Option<String>,
}

pub(super) async fn credential_edit_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<EditPage, PageError> {
    let (credential, service) = ops::credentials::edit_form(&state.ops, &member, &id).await?;
    let form = EditForm {
        name: credential.name.clone(),
        description: credential.description.clone(),
        expires: credential
            .expires_at
            .map(|at| at.day().to_string())
            .unwrap_or_default(),
        enabled: credential.enabled.then(|| "on".into()),
    };
    Ok(EditPage {
        ctx: member.ctx,
        project: member.principal.project().clone(),
        service,
        credential_id: id,
        form,
        errors: FieldErrors::default(),
    })
}

pub(super) async fn credential_edit_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    let input = Edit {
        name: form.name.clone(),
        description: form.description.clone(),
        expires: form.expires.clone(),
        enabled: form.enabled.is_some(),
    };
    let errors = match ops::credentials::edit(&state.ops, &member, &id, input).await {
        Ok((_, service)) => {
            return back_with(&member, &service.id, format!("{} saved.", form.name.trim())).await;
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    let (_, service) = ops::credentials::edit_form(&state.ops, &member, &id).await?;
    let page = EditPage {
        ctx: member.ctx,
        project: member.principal.project().clone(),
        service,
        credential_id: id,
        form,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
