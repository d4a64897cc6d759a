//! A service's backend page: its driver settings, the backend user of each owner, and "Import
//! endpoints" from Keystone's catalog. Project admins and owners only.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    AppState, PageError, extract::ProjectMember, forms::FieldErrors, services::form_errors,
    session, view::Ctx,
};
use crate::{
    domain::services::DriverKind,
    ops::{
        self, BackendUserLink, OpError, Project, Service,
        backends::{BackendView, SettingsInput},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{slug}/services/{id}/backend",
            get(backend_get).post(backend_post),
        )
        .route(
            "/projects/{slug}/services/{id}/backend/link",
            post(link_post),
        )
        .route(
            "/projects/{slug}/services/{id}/backend/import-endpoints",
            post(import_endpoints_post),
        )
}

fn backend_url(project: &Project, id: &str) -> String {
    format!("/projects/{}/services/{id}/backend", project.slug)
}

#[derive(Template, WebTemplate)]
#[template(path = "service_backend.html")]
struct BackendPage {
    ctx: Ctx,
    project: Project,
    service: Service,
    /// What an admin types for a driver. Secrets are never sent back: empty keeps the saved one.
    form: SettingsInput,
    errors: FieldErrors,
    has_password: bool,
    /// Keystone's catalog can fill the service's endpoints.
    has_catalog: bool,
    links: Vec<BackendUserLink>,
    owners: Vec<(String, String)>,
}

impl BackendPage {
    fn new(member: ProjectMember, view: BackendView) -> Self {
        BackendPage {
            ctx: member.ctx,
            project: member.principal.project().clone(),
            form: view.settings,
            has_password: view.has_secret,
            has_catalog: view.service.driver == DriverKind::Keystone,
            service: view.service,
            errors: FieldErrors::default(),
            links: view.links,
            owners: view.owners,
        }
    }
}

async fn backend_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<BackendPage, PageError> {
    let view = ops::backends::view(&state.ops, &member, &id).await?;
    Ok(BackendPage::new(member, view))
}

async fn backend_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<SettingsInput>,
) -> Result<Response, PageError> {
    let errors = match ops::backends::save_settings(&state.ops, &member, &id, &form).await {
        Ok(saved) => {
            let notice = match saved.driver {
                DriverKind::Stored => "Saved: Keyport keeps this service's keys.".to_string(),
                _ => format!(
                    "Saved. The backend accepted Keyport's admin credentials in {} ms.",
                    saved.millis
                ),
            };
            session::set_notice(&member.session, notice).await?;
            return Ok(Redirect::to(&backend_url(member.project(), &id)).into_response());
        }
        Err(e) => form_errors(e)?,
    };
    let view = ops::backends::view(&state.ops, &member, &id).await?;
    let mut page = BackendPage::new(member, view);
    // What was typed is kept, but never a secret.
    page.form = SettingsInput {
        password: Zeroizing::default(),
        secret_key: Zeroizing::default(),
        ..form
    };
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    owner: String,
    #[serde(default)]
    backend_name: String,
}

/// Links an owner to a user that already exists at the backend, or unlinks it (empty name).
async fn link_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    let linked =
        ops::backends::link(&state.ops, &member, &id, &form.owner, &form.backend_name).await;
    let notice = match linked {
        Ok(notice) => notice,
        Err(e @ (OpError::NotFound | OpError::Forbidden(_) | OpError::Internal(_))) => {
            return Err(e.into());
        }
        Err(refusal) => refusal.message(),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&backend_url(member.project(), &id)).into_response())
}

/// Fills the service's endpoints from Keystone's catalog.
async fn import_endpoints_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let notice = match ops::backends::import_endpoints(&state.ops, &member, &id).await {
        Ok(added) => format!("Imported {added} endpoint(s) from Keystone's catalog."),
        Err(OpError::Backend(e)) => format!("Nothing was imported: {e}"),
        Err(e) => return Err(e.into()),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&format!("/projects/{slug}/services/{id}")).into_response())
}
