//! A service's backend: its driver settings, the backend user of each owner, "Import
//! endpoints" from Keystone's catalog, and Reconcile. Project admins and owners only.

use std::time::Instant;

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
    AppState, PageError, extract::ProjectMember, forms::FieldErrors, services::managed_service,
    session, view::Ctx,
};
use crate::{
    db::{
        self,
        backend_users::BackendUserLink,
        credentials::{Credential, Owner},
        projects::Project,
        services::{Service, ServiceError},
    },
    domain::{
        services::{Interface, ServiceKind},
        validate,
    },
    lifecycle::{self, OpError, Report, placement},
    providers::{self, DriverSettings, IamSettings, Keystone, KeystoneSettings},
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

fn backend_url(project: &Project, id: &str) -> String {
    format!("/projects/{}/services/{id}/backend", project.slug)
}

fn reconcile_url(project: &Project, id: &str) -> String {
    format!("/projects/{}/services/{id}/reconcile", project.slug)
}

/// What an admin types for a driver. Secrets are never sent back: empty keeps the saved one.
#[derive(Deserialize, Default)]
struct BackendForm {
    #[serde(default)]
    driver: String,
    #[serde(default)]
    auth_url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    user_domain: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    project_domain: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    secret_key: Zeroizing<String>,
    #[serde(default)]
    user_policy: String,
}

impl BackendForm {
    fn from_settings(settings: &DriverSettings) -> Self {
        let mut form = BackendForm {
            driver: settings.name().into(),
            ..BackendForm::default()
        };
        match settings {
            DriverSettings::Stored => {}
            DriverSettings::Keystone(k) => {
                form.auth_url = k.auth_url.clone();
                form.username = k.username.clone();
                form.user_domain = k.user_domain.clone();
                form.project = k.project.clone();
                form.project_domain = k.project_domain.clone();
            }
            DriverSettings::AwsIam(i) => {
                form.endpoint = i.endpoint.clone();
                form.region = i.region.clone();
                form.access_key = i.access_key.clone();
                form.user_policy = i.user_policy.clone();
            }
        }
        form
    }

    /// The settings the form describes; an empty secret keeps the one in `saved`.
    fn check(
        &self,
        kind: ServiceKind,
        saved: &DriverSettings,
        errors: &mut FieldErrors,
    ) -> Option<DriverSettings> {
        let required = |errors: &mut FieldErrors, field: &'static str, value: &str| {
            let value = value.trim();
            if value.is_empty() || value.len() > 500 || value.chars().any(char::is_control) {
                errors.add(field, "Enter this (at most 500 characters).");
            }
            value.to_string()
        };
        match (self.driver.as_str(), kind) {
            ("stored", _) => Some(DriverSettings::Stored),
            ("keystone", ServiceKind::OpenStack) => {
                let auth_url = errors.check("auth_url", validate::endpoint_url(&self.auth_url));
                let username = required(errors, "username", &self.username);
                let project = required(errors, "project", &self.project);
                // A saved password goes only where it went before: to the same URL, as the same user.
                let password = match (self.password.is_empty(), saved) {
                    (false, _) => self.password.clone(),
                    (true, DriverSettings::Keystone(k))
                        if k.auth_url == auth_url
                            && k.username == username
                            && k.user_domain == self.user_domain.trim() =>
                    {
                        k.password.clone()
                    }
                    (true, DriverSettings::Keystone(_)) => {
                        errors.add(
                            "password",
                            "Enter the admin password again: the URL or the user changed.",
                        );
                        Zeroizing::default()
                    }
                    (true, _) => {
                        errors.add("password", "Enter the admin user's password.");
                        Zeroizing::default()
                    }
                };
                errors.is_empty().then(|| {
                    DriverSettings::Keystone(KeystoneSettings {
                        auth_url,
                        username,
                        password,
                        user_domain: self.user_domain.trim().to_string(),
                        project,
                        project_domain: self.project_domain.trim().to_string(),
                    })
                })
            }
            ("aws_iam", ServiceKind::S3) => {
                let endpoint = errors.check("endpoint", validate::endpoint_url(&self.endpoint));
                let region = required(errors, "region", &self.region);
                let access_key = required(errors, "access_key", &self.access_key);
                let secret_key = match (self.secret_key.is_empty(), saved) {
                    (false, _) => self.secret_key.clone(),
                    (true, DriverSettings::AwsIam(i))
                        if i.endpoint == endpoint && i.access_key == access_key =>
                    {
                        i.secret_key.clone()
                    }
                    (true, DriverSettings::AwsIam(_)) => {
                        errors.add(
                            "secret_key",
                            "Enter the secret again: the endpoint or the access key changed.",
                        );
                        Zeroizing::default()
                    }
                    (true, _) => {
                        errors.add("secret_key", "Enter the admin key's secret.");
                        Zeroizing::default()
                    }
                };
                let user_policy = self.user_policy.trim().to_string();
                if !user_policy.is_empty()
                    && serde_json::from_str::<serde_json::Value>(&user_policy).is_err()
                {
                    errors.add(
                        "user_policy",
                        "A policy is a JSON document, or leave it empty.",
                    );
                }
                errors.is_empty().then(|| {
                    DriverSettings::AwsIam(IamSettings {
                        endpoint,
                        region,
                        access_key,
                        secret_key,
                        user_policy,
                    })
                })
            }
            _ => {
                errors.add(
                    "driver",
                    "Keystone is for OpenStack services, IAM for S3 services; or keep the keys in Keyport (stored).",
                );
                None
            }
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "service_backend.html")]
struct BackendPage {
    ctx: Ctx,
    project: Project,
    service: Service,
    form: BackendForm,
    errors: FieldErrors,
    has_password: bool,
    links: Vec<BackendUserLink>,
    owners: Vec<(String, String)>,
}

impl BackendPage {
    async fn build(
        state: &AppState,
        member: ProjectMember,
        service: Service,
    ) -> Result<Self, PageError> {
        let settings = state.env().settings(&service).await?;
        let links = db::backend_users::list(&state.db, &service.id).await?;
        let mut owners: Vec<(String, String)> =
            db::projects::members(&state.db, &member.project.id)
                .await?
                .into_iter()
                .map(|m| (format!("user:{}", m.user_id), m.name))
                .collect();
        owners.extend(
            db::apps::list(&state.db, &member.project.id)
                .await?
                .into_iter()
                .map(|a| (format!("app:{}", a.id), format!("{} (app)", a.name))),
        );
        Ok(BackendPage {
            ctx: member.ctx,
            project: member.project,
            form: BackendForm::from_settings(&settings),
            has_password: !matches!(settings, DriverSettings::Stored),
            service,
            errors: FieldErrors::default(),
            links,
            owners,
        })
    }
}

async fn backend_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<BackendPage, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    BackendPage::build(&state, member, service).await
}

async fn backend_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<BackendForm>,
) -> Result<Response, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    let saved = state.env().settings(&service).await?;
    let mut errors = FieldErrors::default();
    if let Some(settings) = form.check(service.kind, &saved, &mut errors) {
        // A real call with the new settings before they are saved.
        let started = Instant::now();
        let checked = providers::driver(&settings, placement(&service), &state.http)
            .check()
            .await;
        match checked {
            Err(e) => errors.add("driver", format!("Not saved: {e}")),
            Ok(()) => match state.env().save_settings(&service, &settings).await {
                Ok(()) => {
                    member
                        .audit(&state, "service.backend", &service.name, settings.name())
                        .await?;
                    let notice = match settings {
                        DriverSettings::Stored => "Saved: Keyport keeps this service's keys.".to_string(),
                        _ => format!(
                            "Saved. The backend accepted Keyport's admin credentials in {} ms.",
                            started.elapsed().as_millis()
                        ),
                    };
                    session::set_notice(&member.session, notice).await?;
                    return Ok(Redirect::to(&backend_url(&member.project, &id)).into_response());
                }
                Err(ServiceError::HasCredentials) => errors.add(
                    "driver",
                    "The service has credentials whose keys live at its current backend: delete them first to change the driver.",
                ),
                Err(e) => return Err(anyhow::Error::from(e).into()),
            },
        }
    }
    let mut page = BackendPage::build(&state, member, service).await?;
    let has_password = page.has_password;
    page.form = BackendForm {
        password: Zeroizing::default(),
        secret_key: Zeroizing::default(),
        ..form
    };
    page.has_password = has_password;
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

fn parse_owner(value: &str) -> Option<Owner> {
    if let Some(id) = value.strip_prefix("user:") {
        Some(Owner::User(id.to_string()))
    } else {
        value
            .strip_prefix("app:")
            .map(|id| Owner::App(id.to_string()))
    }
}

/// Links an owner to a user that already exists at the backend, or unlinks it (empty name).
async fn link_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    let owner = parse_owner(&form.owner).ok_or(PageError::BadRequest("Choose an owner."))?;
    let known = match &owner {
        Owner::User(user_id) => db::projects::members(&state.db, &member.project.id)
            .await?
            .iter()
            .any(|m| &m.user_id == user_id),
        Owner::App(app_id) => db::apps::find(&state.db, &member.project.id, app_id)
            .await?
            .is_some(),
    };
    if !known {
        return Err(PageError::BadRequest(
            "Choose a member or an app of this project.",
        ));
    }
    let held = db::credentials::count_for_owner(&state.db, &service.id, &owner).await?;
    let notice = if held > 0 {
        "Nothing was changed: the owner holds credentials of this service at its current backend user. Delete them first.".to_string()
    } else if form.backend_name.trim().is_empty() {
        db::backend_users::unlink(&state.db, &service.id, &owner).await?;
        member
            .audit(&state, "service.backend_unlink", &service.name, &form.owner)
            .await?;
        "Unlinked: Keyport creates a user for the owner's next key.".to_string()
    } else {
        let name = form.backend_name.trim();
        let settings = state.env().settings(&service).await?;
        let driver = providers::driver(&settings, placement(&service), &state.http);
        let admin = driver.admin_user().await;
        let found = match admin {
            Ok(admin) if admin.as_deref() == Some(name) => Err(
                "Nothing was changed: Keyport's own admin user cannot be linked to an owner."
                    .to_string(),
            ),
            Ok(_) => driver
                .user(name, false)
                .await
                .map_err(|e| format!("Nothing was changed: {e}")),
            Err(e) => Err(format!("Nothing was changed: {e}")),
        };
        let found = match found {
            Ok(user)
                if db::backend_users::held_elsewhere(&state.db, &service.id, &owner, &user.id)
                    .await? =>
            {
                Err(format!(
                    "Nothing was changed: {name} is already the backend user of another owner or service."
                ))
            }
            other => other,
        };
        match found {
            Err(message) => message,
            Ok(user) => {
                db::backend_users::unlink(&state.db, &service.id, &owner).await?;
                db::backend_users::insert(
                    &state.db,
                    &service.id,
                    &owner,
                    &user.id,
                    &user.name,
                    false,
                )
                .await?;
                member
                    .audit(&state, "service.backend_link", &service.name, name)
                    .await?;
                format!("Linked to the backend user {name}.")
            }
        }
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&backend_url(&member.project, &id)).into_response())
}

/// Fills the service's endpoints from Keystone's catalog: identity endpoints as `auth`, Swift's
/// public and internal ones as `public` and `private`. Endpoints already there are kept.
async fn import_endpoints_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    let DriverSettings::Keystone(settings) = state.env().settings(&service).await? else {
        return Err(PageError::BadRequest(
            "Only Keystone services have a catalog.",
        ));
    };
    let keystone = Keystone::new(&settings, placement(&service), &state.http);
    let notice = match keystone.catalog().await {
        Err(e) => format!("Nothing was imported: {e}"),
        Ok(catalog) => {
            let existing = db::services::endpoints(&state.db, &service.id).await?;
            let mut added = 0;
            for entry in catalog {
                let interface = match (entry.service_type.as_str(), entry.interface.as_str()) {
                    ("identity", "public") => Interface::Auth,
                    ("object-store", "public") => Interface::Public,
                    ("object-store", "internal") => Interface::Private,
                    _ => continue,
                };
                let Ok(url) = validate::endpoint_url(&entry.url) else {
                    continue;
                };
                if existing
                    .iter()
                    .any(|e| e.url == url && e.interface == interface)
                {
                    continue;
                }
                let region = if entry.region.is_empty() {
                    "default".to_string()
                } else {
                    entry.region
                };
                db::services::add_endpoint(
                    &state.db,
                    &service.id,
                    &region,
                    &region,
                    interface,
                    &url,
                )
                .await?;
                added += 1;
            }
            member
                .audit(
                    &state,
                    "service.import_endpoints",
                    &service.name,
                    &added.to_string(),
                )
                .await?;
            format!("Imported {added} endpoint(s) from Keystone's catalog.")
        }
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&format!("/projects/{slug}/services/{id}")).into_response())
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
    fn interrupted(&self) -> &[Credential] {
        self.report.as_ref().map_or(&[], |r| &r.interrupted)
    }
}

async fn reconcile_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ReconcilePage, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    let (report, problem) = match lifecycle::report(state.env(), &service).await {
        Ok(report) => (Some(report), String::new()),
        Err(OpError::Driver(e)) => (None, e.to_string()),
        Err(e) => return Err(PageError::Internal(anyhow::anyhow!(e))),
    };
    Ok(ReconcilePage {
        ctx: member.ctx,
        project: member.project,
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
    let service = managed_service(&state, &member, &id).await?;
    // Only operations older than any request could take: never one still under way.
    let cutoff = db::now() - lifecycle::INTERRUPTED_AFTER.as_secs() as i64;
    let done: Vec<String> =
        lifecycle::finish_interrupted(state.env(), cutoff, Some(&service.id), &member.actor)
            .await?
            .into_iter()
            .map(|(name, outcome)| format!("{name}: {outcome}"))
            .collect();
    let notice = if done.is_empty() {
        "Nothing to finish: changes under way for less than five minutes are left to finish on their own.".to_string()
    } else {
        done.join(" · ")
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&reconcile_url(&member.project, &id)).into_response())
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
}

/// Adopts or revokes a key found at the backend that Keyport does not hold.
async fn found_key_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<FoundKeyForm>,
) -> Result<Response, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    let report = match lifecycle::report(state.env(), &service).await {
        Ok(report) => report,
        Err(e) => {
            session::set_notice(&member.session, format!("Nothing was changed: {e}")).await?;
            return Ok(Redirect::to(&reconcile_url(&member.project, &id)).into_response());
        }
    };
    let found = report
        .unmanaged
        .iter()
        .find(|u| u.key.access_key == form.access_key)
        .ok_or(PageError::NotFound)?;
    let created_by = format!("{} <{}>", member.user.name, member.user.email);
    let outcome = match form.action.as_str() {
        "revoke" => lifecycle::revoke_found(state.env(), &service, found)
            .await
            .map(|()| format!("{} was revoked at the backend.", form.access_key)),
        "adopt" => {
            let secret = match &found.key.secret {
                Some(secret) => secret.clone(),
                None => form.secret.clone(),
            };
            if secret.trim().is_empty() {
                session::set_notice(
                    &member.session,
                    "Enter the key's secret to adopt it: the backend does not show it again.",
                )
                .await?;
                return Ok(Redirect::to(&reconcile_url(&member.project, &id)).into_response());
            }
            lifecycle::adopt(state.env(), &service, found, &secret, &created_by)
                .await
                .map(|_| {
                    format!(
                        "{} is now a credential of {}.",
                        form.access_key, found.owner_name
                    )
                })
        }
        _ => return Err(PageError::BadRequest("Adopt or revoke.")),
    };
    let notice = match outcome {
        Ok(notice) => {
            member
                .audit(
                    &state,
                    &format!("credential.{}", form.action),
                    &service.name,
                    &form.access_key,
                )
                .await?;
            notice
        }
        Err(OpError::Internal(e)) => return Err(e.into()),
        Err(e) => format!("Nothing was changed: {e}"),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&reconcile_url(&member.project, &id)).into_response())
}

#[derive(Deserialize)]
struct ForgetForm {
    #[serde(default)]
    credential_id: String,
}

/// Removes a credential whose key the backend no longer has.
async fn forget_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<ForgetForm>,
) -> Result<Response, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    let report = match lifecycle::report(state.env(), &service).await {
        Ok(report) => report,
        Err(OpError::Internal(e)) => return Err(e.into()),
        Err(e) => {
            session::set_notice(&member.session, format!("Nothing was changed: {e}")).await?;
            return Ok(Redirect::to(&reconcile_url(&member.project, &id)).into_response());
        }
    };
    let credential = report
        .missing
        .iter()
        .find(|c| c.id == form.credential_id)
        .ok_or(PageError::NotFound)?;
    db::credentials::delete(&state.db, &credential.id).await?;
    member
        .audit(
            &state,
            "credential.forget",
            &credential.name,
            &credential.access_key,
        )
        .await?;
    session::set_notice(
        &member.session,
        format!("{} was removed from Keyport.", credential.name),
    )
    .await?;
    Ok(Redirect::to(&reconcile_url(&member.project, &id)).into_response())
}
