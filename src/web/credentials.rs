//! `/projects/{slug}/credentials`: per service, the signed-in member's keys, the project's app
//! keys and (for admins) other members' keys. Secrets are masked and leave the server only in
//! the answer to an audited POST; a GET never creates, changes or reveals anything.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    AppState, PageError,
    client_config::{self, ConfigChoice, SiteChoice},
    extract::ProjectMember,
    forms::FieldErrors,
    services::ConfirmPage,
    session,
    view::{Ctx, UnixTime},
};
use crate::{
    crypto::envelope::SecretPlace,
    db::{
        self,
        apps::App,
        credentials::{Credential, NewCredential, Owner},
        projects::Project,
        services::{Endpoint, Service},
    },
    domain::{
        roles::{Action, Role, may_manage_credential},
        services::{CredentialKind, Interface, ServiceKind},
        validate,
    },
    lifecycle::{self, NewKey, OpError, SECRET_FIELD},
    providers::{self, probe},
    snippets::Snippet,
};
/// Expiry within this many days is flagged.
const EXPIRY_WARNING_DAYS: i64 = 14;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{slug}/credentials",
            get(credentials_get).post(credentials_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/reveal",
            post(credential_reveal_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/regenerate",
            get(credential_regenerate_get).post(credential_regenerate_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/delete",
            get(credential_delete_get).post(credential_delete_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/test",
            post(credential_test_post),
        )
        .route(
            "/projects/{slug}/credentials/{id}/edit",
            get(credential_edit_get).post(credential_edit_post),
        )
}

/// One credential as the page shows it. It holds the secret only when it was just revealed.
pub struct CredentialView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Labels of the public and secret parts: "Access key" and "Secret", or "User name" and "Password".
    pub labels: (&'static str, &'static str),
    pub access_key: String,
    pub owner_name: String,
    pub created_at: i64,
    pub created_by: String,
    pub rotated_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub enabled: bool,
    pub may_manage: bool,
    pub revealed: Option<Zeroizing<String>>,
    pub damaged: bool,
    pub regenerate_warning: String,
    /// Regenerating would leave no overlap: the dialog offers "Add a second key first".
    pub only_key: bool,
    pub delete_warning: String,
    /// "Configure your client", filled with the secret only when it was just revealed.
    pub snippets: Vec<Snippet>,
    /// `active`, or the step a backend change stopped at.
    pub state: String,
    /// The key's status and last use as the backend reports them (IAM), else empty.
    pub backend: String,
}

impl CredentialView {
    /// `expired`, `soon` or empty, for the expiry flag.
    pub fn expiry_state(&self) -> &'static str {
        match self.expires_at {
            Some(at) if at <= db::now() => "expired",
            Some(at) if at <= db::now() + EXPIRY_WARNING_DAYS * 86_400 => "soon",
            _ => "",
        }
    }
}

/// What the public and the secret part of a credential are called.
fn labels(service: &Service, kind: CredentialKind) -> (&'static str, &'static str) {
    match kind.key_style(service.kind) {
        ServiceKind::OpenStack => ("User name", "Password"),
        _ => ("Access key", "Secret"),
    }
}

/// How the audit log names a credential: `service / credential`.
pub(super) fn audit_target(service: &Service, credential: &Credential) -> String {
    format!("{} / {}", service.name, credential.name)
}

fn owned_by(credential: &Credential, user_id: &str) -> bool {
    credential.owner == Owner::User(user_id.to_string())
}

/// Said of EC2 pairs at Keystone: how soon Swift refuses a revoked pair depends on the cloud.
const CACHE_NOTE: &str = " Swift's S3 API asks Keystone about the pair on every request unless the cloud caches \
     EC2 secrets (s3token's secret_cache_duration); where it does, the old pair may work that much longer.";

/// The cache note, for EC2 pairs at Keystone; empty otherwise.
fn cache_note(service: &Service, credential: &Credential) -> &'static str {
    if credential.kind == CredentialKind::Ec2 && service.driver == "keystone" {
        CACHE_NOTE
    } else {
        ""
    }
}

/// The owner's only key, where a second one could give an overlap.
fn only_key(service: &Service, held: i64) -> bool {
    held == 1 && service.max_keys_per_owner > 1
}

/// What Regenerate does to `credential`, whose owner holds `held` keys for the service.
fn regenerate_warning(service: &Service, credential: &Credential, held: i64) -> String {
    let mut warning = match credential.kind.key_style(service.kind) {
        ServiceKind::OpenStack => format!(
            "Regenerating sets a new password for the OpenStack user {}. It changes everywhere this user signs in: \
             Swift, the S3 API and every other environment. Every program that uses the old password stops working at once.",
            credential.access_key
        ),
        _ => format!(
            "Regenerating replaces the key {} with a new key pair. Every program that uses the old secret stops working at once.",
            credential.access_key
        ),
    };
    warning.push_str(cache_note(service, credential));
    if only_key(service, held) {
        warning.push_str(
            " This is the owner's only key for the service, so there is no overlap: to rotate without interruption, \
             add a second key first, move your programs to it, then delete this one.",
        );
    }
    warning
}

fn delete_warning(service: &Service, credential: &Credential) -> String {
    let mut warning = format!(
        "Deleting {} ({}) removes it for good. Every program that uses it stops working.",
        credential.name, credential.access_key
    );
    warning.push_str(cache_note(service, credential));
    warning
}

#[derive(Deserialize, Default)]
struct CredentialsQuery {
    service: Option<String>,
    #[serde(default)]
    q: String,
    #[serde(flatten)]
    choice: ConfigChoice,
}

/// The "Add credential" form, as typed.
#[derive(Deserialize, Default, Clone)]
struct AddForm {
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    mode: String,
    /// `key` or, for OpenStack, `ec2`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    secret: Zeroizing<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "credentials.html")]
struct CredentialsPage {
    ctx: Ctx,
    project: Project,
    q: String,
    services: Vec<Service>,
    selected: Option<Service>,
    endpoints: Vec<Endpoint>,
    config: SiteChoice,
    mine: Vec<CredentialView>,
    app_keys: Vec<CredentialView>,
    others: Vec<CredentialView>,
    apps: Vec<App>,
    may_add: bool,
    is_admin: bool,
    form: AddForm,
    errors: FieldErrors,
    /// Why the backend's view of the keys could not be shown, if it could not.
    backend_problem: String,
}

impl CredentialsPage {
    /// The page for `service_id` (or the first service matching `q`), with `revealed` shown.
    async fn build(
        state: &AppState,
        member: ProjectMember,
        service_id: Option<&str>,
        q: &str,
        choice: &ConfigChoice,
        revealed: Option<(&str, Result<Zeroizing<String>, ()>)>,
    ) -> Result<Self, PageError> {
        let all = db::services::list(&state.db, &member.project.id).await?;
        let needle = q.trim().to_lowercase();
        let services: Vec<Service> = all
            .into_iter()
            .filter(|s| {
                needle.is_empty()
                    || s.name.to_lowercase().contains(&needle)
                    || s.kind.as_str() == needle
            })
            .collect();
        let selected = match service_id {
            Some(id) => services.iter().find(|s| s.id == id).cloned(),
            None => services.first().cloned(),
        };
        let is_admin = member.role >= Role::Admin;
        let (mut mine, mut app_keys, mut others, mut endpoints) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if let Some(service) = &selected {
            endpoints = db::services::endpoints(&state.db, &service.id).await?;
        }
        let config = SiteChoice::pick(&endpoints, choice);
        let (mut backend_keys, mut backend_problem) = (Vec::new(), String::new());
        if let Some(service) = &selected {
            let credentials = db::credentials::list_for_service(&state.db, &service.id).await?;
            if service.driver == "aws_iam" && !credentials.is_empty() {
                match lifecycle::backend_keys(state.env(), service).await {
                    Ok(keys) => backend_keys = keys,
                    Err(OpError::Driver(e)) => {
                        backend_problem = format!("The backend's key status is not available: {e}")
                    }
                    Err(e) => return Err(op_failed(e)),
                }
            }
            let held =
                |owner: &Owner| credentials.iter().filter(|c| &c.owner == owner).count() as i64;
            for credential in &credentials {
                let own = owned_by(credential, &member.user.id);
                let held = held(&credential.owner);
                let shown = match &revealed {
                    Some((id, secret)) if *id == credential.id => Some(secret.clone()),
                    _ => None,
                };
                let secret = match &shown {
                    Some(Ok(secret)) => Some(secret.as_str()),
                    _ => None,
                };
                // The panel of the credential asked for, or of the one just revealed.
                let snippets = if config.configure == credential.id || shown.is_some() {
                    config.snippets(&member.project, service, credential, secret)
                } else {
                    Vec::new()
                };
                let view = CredentialView {
                    id: credential.id.clone(),
                    name: credential.name.clone(),
                    description: credential.description.clone(),
                    labels: labels(service, credential.kind),
                    access_key: credential.access_key.clone(),
                    owner_name: credential.owner_name.clone(),
                    created_at: credential.created_at,
                    created_by: credential.created_by.clone(),
                    rotated_at: credential.rotated_at,
                    expires_at: credential.expires_at,
                    enabled: credential.enabled,
                    may_manage: may_manage_credential(member.role, own),
                    damaged: matches!(shown, Some(Err(()))),
                    revealed: shown.and_then(Result::ok),
                    regenerate_warning: regenerate_warning(service, credential, held),
                    only_key: only_key(service, held),
                    delete_warning: delete_warning(service, credential),
                    snippets,
                    state: credential.state.clone(),
                    backend: backend_keys
                        .iter()
                        .find(|k: &&providers::BackendKey| k.access_key == credential.access_key)
                        .map(|k| match k.last_used.as_str() {
                            "" => k.status.clone(),
                            used => format!("{}, last used {used}", k.status),
                        })
                        .unwrap_or_default(),
                };
                match &credential.owner {
                    Owner::User(_) if own => mine.push(view),
                    Owner::App(_) => app_keys.push(view),
                    // Viewers and members see that others hold keys only through admins.
                    Owner::User(_) if is_admin => others.push(view),
                    Owner::User(_) => {}
                }
            }
        }
        let apps = db::apps::list(&state.db, &member.project.id).await?;
        let form = AddForm {
            service_id: selected.as_ref().map(|s| s.id.clone()).unwrap_or_default(),
            owner: "me".into(),
            mode: "generate".into(),
            kind: "key".into(),
            ..Default::default()
        };
        Ok(CredentialsPage {
            may_add: member.role >= Role::Member,
            is_admin,
            ctx: member.ctx,
            project: member.project,
            q: q.to_string(),
            services,
            selected,
            endpoints,
            config,
            mine,
            app_keys,
            others,
            apps,
            form,
            errors: FieldErrors::default(),
            backend_problem,
        })
    }

    fn public_endpoints(&self) -> Vec<&Endpoint> {
        self.endpoints
            .iter()
            .filter(|e| e.interface != Interface::Private)
            .collect()
    }
}

async fn credentials_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Query(query): Query<CredentialsQuery>,
) -> Result<CredentialsPage, PageError> {
    member.require(Action::ViewProject)?;
    CredentialsPage::build(
        &state,
        member,
        query.service.as_deref(),
        &query.q,
        &query.choice,
        None,
    )
    .await
}

fn credentials_url(project: &Project, service_id: &str) -> String {
    format!(
        "/projects/{}/credentials?service={service_id}",
        project.slug
    )
}

fn back_to(project: &Project, service_id: &str) -> Redirect {
    Redirect::to(&credentials_url(project, service_id))
}

/// Back to the page with why nothing was changed: the backend refused or did not answer, or
/// another change is under way.
async fn op_refused(
    member: &ProjectMember,
    service: &Service,
    error: OpError,
) -> Result<Response, PageError> {
    let message = match error {
        OpError::Driver(e @ providers::DriverError::Uncertain(_)) => e.to_string(),
        OpError::Driver(e) => format!("Nothing was changed: {e}"),
        OpError::Busy => {
            "Nothing was changed: another change to this credential is under way.".to_string()
        }
        OpError::LimitReached(limit) => limit_message(limit),
        e => return Err(op_failed(e)),
    };
    session::set_notice(&member.session, message).await?;
    Ok(back_to(&member.project, &service.id).into_response())
}

/// An operation that failed inside Keyport (database, damaged settings): a 500, logged.
fn op_failed(error: OpError) -> PageError {
    PageError::Internal(anyhow::anyhow!(error))
}

/// Parses an optional `YYYY-MM-DD` expiry date into Unix seconds at midnight UTC.
fn parse_expiry(value: &str) -> Result<Option<i64>, &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, format)
        .map(|day| Some(day.midnight().assume_utc().unix_timestamp()))
        .map_err(|_| "Enter a date such as 2027-06-30, or leave it empty.")
}

async fn credentials_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    if member.role < Role::Member {
        return Err(PageError::Forbidden(
            "Viewers see credentials but do not hold keys.",
        ));
    }
    let service = db::services::find(&state.db, &member.project.id, &form.service_id)
        .await?
        .ok_or(PageError::BadRequest("Choose a service of this project."))?;
    let mut errors = FieldErrors::default();
    let owner = match form.owner.as_str() {
        "me" | "" => Owner::User(member.user.id.clone()),
        other => match other.strip_prefix("app:") {
            Some(app_id)
                if db::apps::find(&state.db, &member.project.id, app_id)
                    .await?
                    .is_some() =>
            {
                Owner::App(app_id.to_string())
            }
            _ => {
                errors.add("owner", "Choose yourself or one of the project's apps.");
                Owner::User(member.user.id.clone())
            }
        },
    };
    let own = owner == Owner::User(member.user.id.clone());
    if !may_manage_credential(member.role, own) {
        return Err(PageError::Forbidden(
            "Only project admins and owners add app keys.",
        ));
    }
    let name = errors.check(
        "name",
        validate::label(&form.name, "Name the credential, e.g. backup job."),
    );
    let description = errors.check("description", validate::description(&form.description));
    let expires_at = parse_expiry(&form.expires).unwrap_or_else(|message| {
        errors.add("expires", message);
        None
    });
    let kind = match (CredentialKind::parse(&form.kind), service.kind) {
        (None, _) if form.kind.is_empty() => CredentialKind::Key,
        (Some(CredentialKind::Ec2), ServiceKind::OpenStack) => CredentialKind::Ec2,
        (Some(CredentialKind::Key), _) => CredentialKind::Key,
        _ => {
            errors.add(
                "kind",
                "EC2 key pairs are for the S3 API of OpenStack services.",
            );
            CredentialKind::Key
        }
    };
    let import = form.mode == "import";
    if import && member.role < Role::Admin {
        errors.add(
            "mode",
            "Only project admins and owners import existing keys.",
        );
    }
    if import && service.driver != "stored" {
        errors.add(
            "mode",
            "This service's keys are created at its backend; they cannot be imported.",
        );
    }
    if import {
        if let Err(message) =
            validate::label(&form.access_key, "Enter the access key id or user name.")
        {
            errors.add("access_key", message);
        }
        if form.secret.trim().is_empty() || form.secret.len() > 4096 {
            errors.add("secret", "Enter the secret (at most 4096 characters).");
        }
    }
    let held = db::credentials::count_for_owner(&state.db, &service.id, &owner).await?;
    if held >= service.max_keys_per_owner {
        errors.add("limit", limit_message(service.max_keys_per_owner));
    }
    if !errors.is_empty() {
        return add_failed(&state, member, &service, form, errors).await;
    }

    let id = db::new_id();
    let created_by = format!("{} <{}>", member.user.name, member.user.email);
    let added = if import {
        let sealed = seal_secret(&state, &member, &id, &form.secret).await?;
        let new = NewCredential {
            id: &id,
            project_id: &member.project.id,
            service_id: &service.id,
            owner: &owner,
            kind,
            name: &name,
            description: &description,
            access_key: form.access_key.trim(),
            secret: &sealed,
            expires_at,
            created_by: &created_by,
            state: "active",
            backend_user: "",
        };
        db::credentials::create(&state.db, new, service.max_keys_per_owner)
            .await
            .map(|()| form.access_key.trim().to_string())
            .map_err(OpError::from)
    } else {
        let label = match &owner {
            Owner::User(_) => member
                .user
                .email
                .split('@')
                .next()
                .unwrap_or("user")
                .to_string(),
            Owner::App(app_id) => db::apps::find(&state.db, &member.project.id, app_id)
                .await?
                .map(|app| app.name)
                .unwrap_or_default(),
        };
        let backend_name =
            lifecycle::backend_user_name(&member.project.slug, &service.id, &owner, &label);
        lifecycle::add(
            state.env(),
            NewKey {
                id: &id,
                service: &service,
                owner: &owner,
                backend_name: &backend_name,
                kind,
                name: &name,
                description: &description,
                expires_at,
                created_by: &created_by,
            },
        )
        .await
    };
    let access_key = match added {
        Ok(access_key) => access_key,
        Err(OpError::LimitReached(limit)) => {
            errors.add("limit", limit_message(limit));
            return add_failed(&state, member, &service, form, errors).await;
        }
        Err(OpError::Driver(e @ providers::DriverError::Uncertain(_))) => {
            errors.add("limit", e.to_string());
            return add_failed(&state, member, &service, form, errors).await;
        }
        Err(OpError::Driver(e)) => {
            errors.add("limit", format!("Nothing was changed: {e}"));
            return add_failed(&state, member, &service, form, errors).await;
        }
        Err(e) => return Err(op_failed(e)),
    };
    let action = if import {
        "credential.import"
    } else {
        "credential.create"
    };
    member
        .audit(
            &state,
            action,
            &format!("{} / {name}", service.name),
            &access_key,
        )
        .await?;
    session::set_notice(
        &member.session,
        format!("Credential {name} added. Use Show to see its secret."),
    )
    .await?;
    Ok(back_to(&member.project, &service.id).into_response())
}

fn limit_message(limit: i64) -> String {
    let count = match limit {
        1 => "one credential".to_string(),
        2 => "two credentials".to_string(),
        n => format!("{n} credentials"),
    };
    format!(
        "The owner already holds the most keys this service allows: a maximum of {count} at once, so you can rotate \
         without interruption. Delete or regenerate one instead."
    )
}

async fn add_failed(
    state: &AppState,
    member: ProjectMember,
    service: &Service,
    mut form: AddForm,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let mut page = CredentialsPage::build(
        state,
        member,
        Some(&service.id),
        "",
        &ConfigChoice::default(),
        None,
    )
    .await?;
    // What was typed is kept, but never a secret.
    form.secret = Zeroizing::new(String::new());
    page.form = form;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// The credential of this project named in the path, if the member may act on it.
pub(super) async fn managed_credential(
    state: &AppState,
    member: &ProjectMember,
    id: &str,
) -> Result<(Credential, Service), PageError> {
    let credential = db::credentials::find(&state.db, &member.project.id, id)
        .await?
        .ok_or(PageError::NotFound)?;
    let own = owned_by(&credential, &member.user.id);
    if !may_manage_credential(member.role, own) {
        // Members do not learn which other keys exist.
        return Err(
            if member.role >= Role::Member && !own && matches!(credential.owner, Owner::User(_)) {
                PageError::NotFound
            } else {
                PageError::Forbidden("Your role does not allow this on this credential.")
            },
        );
    }
    let service = db::services::find(&state.db, &member.project.id, &credential.service_id)
        .await?
        .ok_or(PageError::NotFound)?;
    Ok((credential, service))
}

/// Where a credential's secret is bound to: its project, its id, its field.
fn secret_place<'a>(member: &'a ProjectMember, credential_id: &'a str) -> SecretPlace<'a> {
    SecretPlace {
        project_id: &member.project.id,
        credential_id,
        field: SECRET_FIELD,
    }
}

/// The secret sealed under the project's data key, bound to the credential `credential_id`.
async fn seal_secret(
    state: &AppState,
    member: &ProjectMember,
    credential_id: &str,
    secret: &str,
) -> Result<Vec<u8>, PageError> {
    let key = db::keys::project_key(&state.db, &state.master_key, &member.project.id).await?;
    Ok(key.seal(secret_place(member, credential_id), secret))
}

/// The credential's secret in clear, or `Err(())` if it does not decrypt (a damaged row).
/// The caller audits before the secret leaves the server.
pub(super) async fn open_secret(
    state: &AppState,
    member: &ProjectMember,
    credential: &Credential,
) -> Result<Result<Zeroizing<String>, ()>, PageError> {
    let key = db::keys::project_key(&state.db, &state.master_key, &member.project.id).await?;
    let secret = key
        .open(secret_place(member, &credential.id), &credential.secret)
        .map_err(|_| ());
    if secret.is_err() {
        tracing::warn!(credential = %credential.id, "a credential's secret does not decrypt");
    }
    Ok(secret)
}

async fn credential_reveal_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(choice): Form<ConfigChoice>,
) -> Result<CredentialsPage, PageError> {
    let (credential, service) = managed_credential(&state, &member, &id).await?;
    let secret = open_secret(&state, &member, &credential).await?;
    let outcome = if secret.is_ok() { "" } else { "damaged" };
    // Audited before the secret leaves: no record, no reveal.
    member
        .audit(
            &state,
            "credential.reveal",
            &audit_target(&service, &credential),
            outcome,
        )
        .await?;
    CredentialsPage::build(
        &state,
        member,
        Some(&service.id),
        "",
        &choice,
        Some((&credential.id, secret)),
    )
    .await
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

async fn credential_regenerate_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ConfirmPage, PageError> {
    let (credential, service) = managed_credential(&state, &member, &id).await?;
    let held = db::credentials::count_for_owner(&state.db, &service.id, &credential.owner).await?;
    let message = regenerate_warning(&service, &credential, held);
    let alternative = only_key(&service, held).then(|| {
        (
            "Add a second key first",
            format!("{}#add", credentials_url(&member.project, &service.id)),
        )
    });
    Ok(ConfirmPage {
        title: format!("Regenerate {}?", credential.name),
        message,
        action: format!(
            "/projects/{}/credentials/{id}/regenerate",
            member.project.slug
        ),
        button: "Regenerate",
        back: credentials_url(&member.project, &service.id),
        alternative,
        ctx: member.ctx,
    })
}

async fn credential_regenerate_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let (credential, service) = managed_credential(&state, &member, &id).await?;
    if form.confirm != "yes" {
        return Ok(
            Redirect::to(&format!("/projects/{slug}/credentials/{id}/regenerate")).into_response(),
        );
    }
    let regenerated = match lifecycle::regenerate(state.env(), &service, &credential).await {
        Ok(regenerated) => regenerated,
        Err(e) => return op_refused(&member, &service, e).await,
    };
    member
        .audit(
            &state,
            "credential.regenerate",
            &audit_target(&service, &credential),
            &regenerated.access_key,
        )
        .await?;
    let notice = match regenerated.warning {
        Some(warning) => format!("{} was regenerated. {warning}", credential.name),
        None => format!(
            "{} was regenerated: the old secret no longer works. Use Show to see the new one.",
            credential.name
        ),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(back_to(&member.project, &service.id).into_response())
}

async fn credential_delete_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ConfirmPage, PageError> {
    let (credential, service) = managed_credential(&state, &member, &id).await?;
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

async fn credential_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let (credential, service) = managed_credential(&state, &member, &id).await?;
    if form.confirm != "yes" {
        return Ok(
            Redirect::to(&format!("/projects/{slug}/credentials/{id}/delete")).into_response(),
        );
    }
    if let Err(e) = lifecycle::delete(state.env(), &service, &credential).await {
        return op_refused(&member, &service, e).await;
    }
    member
        .audit(
            &state,
            "credential.delete",
            &audit_target(&service, &credential),
            &credential.access_key,
        )
        .await?;
    session::set_notice(&member.session, format!("{} was deleted.", credential.name)).await?;
    Ok(back_to(&member.project, &service.id).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "credential_edit.html")]
struct EditPage {
    ctx: Ctx,
    project: Project,
    service: Service,
    credential_id: String,
    form: EditForm,
    errors: FieldErrors,
}

#[derive(Deserialize, Default)]
struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expires: String,
    enabled: Option<String>,
}

async fn credential_edit_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<EditPage, PageError> {
    let (credential, service) = managed_credential(&state, &member, &id).await?;
    let form = EditForm {
        name: credential.name,
        description: credential.description,
        expires: credential.expires_at.map(|at| at.day()).unwrap_or_default(),
        enabled: credential.enabled.then(|| "on".into()),
    };
    Ok(EditPage {
        ctx: member.ctx,
        project: member.project,
        service,
        credential_id: id,
        form,
        errors: FieldErrors::default(),
    })
}

async fn credential_edit_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    let (credential, service) = managed_credential(&state, &member, &id).await?;
    let mut errors = FieldErrors::default();
    let name = errors.check(
        "name",
        validate::label(&form.name, "Name the credential, e.g. backup job."),
    );
    let description = errors.check("description", validate::description(&form.description));
    let expires_at = parse_expiry(&form.expires).unwrap_or_else(|message| {
        errors.add("expires", message);
        None
    });
    if !errors.is_empty() {
        let page = EditPage {
            ctx: member.ctx,
            project: member.project,
            service,
            credential_id: id,
            form,
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let enabled = form.enabled.is_some();
    db::credentials::update_details(
        &state.db,
        &credential.id,
        &name,
        &description,
        enabled,
        expires_at,
    )
    .await?;
    let state_word = if enabled { "enabled" } else { "disabled" };
    member
        .audit(
            &state,
            "credential.update",
            &format!("{} / {name}", service.name),
            state_word,
        )
        .await?;
    session::set_notice(&member.session, format!("{name} saved.")).await?;
    Ok(back_to(&member.project, &service.id).into_response())
}

/// The Test button: one real request with the credential (S3 `ListBuckets`, or a Keystone
/// token), and its verdict and latency as a notice. The secret is used, not shown; audited.
async fn credential_test_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (credential, service) = managed_credential(&state, &member, &id).await?;
    let endpoints = db::services::endpoints(&state.db, &service.id).await?;
    let find = |interface: Interface| endpoints.iter().find(|e| e.interface == interface);
    let Ok(secret) = open_secret(&state, &member, &credential).await? else {
        return Err(PageError::BadRequest(
            "This credential is damaged: its secret cannot be decrypted.",
        ));
    };
    let probe = match (
        credential.kind.key_style(service.kind),
        find(Interface::Public),
        find(Interface::Auth),
    ) {
        (ServiceKind::S3, Some(endpoint), _) => Some(
            probe::s3(
                &state.http,
                // Swift's S3 API answers at the root of its public endpoint.
                &if credential.kind == CredentialKind::Ec2 {
                    client_config::origin(&endpoint.url).unwrap_or_else(|| endpoint.url.clone())
                } else {
                    endpoint.url.clone()
                },
                &endpoint.region,
                &credential.access_key,
                &secret,
            )
            .await,
        ),
        (ServiceKind::OpenStack, _, Some(endpoint)) => Some(
            probe::keystone(
                &state.http,
                probe::KeystoneLogin {
                    auth_url: &endpoint.url,
                    username: &credential.access_key,
                    user_domain: &service.os_user_domain,
                    password: &secret,
                    project: &service.os_project_name,
                    project_domain: &service.os_project_domain,
                },
            )
            .await,
        ),
        _ => None,
    };
    let notice = match probe {
        None => format!(
            "{} cannot be tested: the service needs a public endpoint (S3) or an auth endpoint (OpenStack); API keys have no standard test.",
            credential.name
        ),
        Some(probe) => {
            member
                .audit(
                    &state,
                    "credential.test",
                    &audit_target(&service, &credential),
                    probe.verdict.label(),
                )
                .await?;
            format!(
                "Test of {}: {} in {} ms. {}",
                credential.name,
                probe.verdict.label(),
                probe.millis,
                probe.detail
            )
        }
    };
    session::set_notice(&member.session, notice).await?;
    Ok(back_to(&member.project, &service.id).into_response())
}
