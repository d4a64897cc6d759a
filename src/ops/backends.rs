//! A service's backend: its driver settings (checked with one real call before they are saved),
//! the backend user of each owner, and "Import endpoints" from Keystone's catalog. Project
//! admins and owners only.

use std::time::Instant;

use serde::Deserialize;
use zeroize::Zeroizing;

use super::{FieldErrors, OpError, Ops, Principal, placement, services::managed_service};
use crate::{
    db::{self, backend_users::BackendUserLink, credentials::Owner, services::Service},
    domain::{
        audit::AuditAction,
        services::{DriverKind, Interface, ServiceKind},
        validate,
    },
    providers::{DriverSettings, IamSettings, Keystone, KeystoneSettings},
};

/// What the backend page shows: never a secret.
pub struct BackendView {
    pub service: Service,
    /// The saved settings, with their secrets left empty.
    pub settings: SettingsInput,
    /// Whether an admin secret is saved (kept when the form leaves it empty).
    pub has_secret: bool,
    pub links: Vec<BackendUserLink>,
    /// Who may be linked to a backend user: `(user:ID | app:ID, name)`.
    pub owners: Vec<(String, String)>,
}

pub async fn view(ops: &Ops, who: &Principal, service_id: &str) -> Result<BackendView, OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let settings = ops.settings(&service).await?;
    let links = db::backend_users::list(&ops.db, &service.id).await?;
    let mut owners: Vec<(String, String)> = db::projects::members(&ops.db, &who.project().id)
        .await?
        .into_iter()
        .map(|m| (format!("user:{}", m.user_id), m.name))
        .collect();
    owners.extend(
        db::apps::list(&ops.db, &who.project().id)
            .await?
            .into_iter()
            .map(|a| (format!("app:{}", a.id), format!("{} (app)", a.name))),
    );
    Ok(BackendView {
        service,
        has_secret: !matches!(settings, DriverSettings::Stored),
        settings: SettingsInput::without_secrets(&settings),
        links,
        owners,
    })
}

/// The driver settings as typed. Secrets left empty keep the saved ones, but only for the same
/// URL and user: a saved secret never goes anywhere it did not go before.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct SettingsInput {
    pub driver: String,
    pub auth_url: String,
    pub username: String,
    pub password: Zeroizing<String>,
    pub user_domain: String,
    pub project: String,
    pub project_domain: String,
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: Zeroizing<String>,
    pub user_policy: String,
}

fn required(errors: &mut FieldErrors, field: &'static str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() || value.len() > 500 || value.chars().any(char::is_control) {
        errors.add(field, "Enter this (at most 500 characters).");
    }
    value.to_string()
}

impl SettingsInput {
    /// Saved settings as the form shows them: every field but the secrets.
    fn without_secrets(settings: &DriverSettings) -> Self {
        let mut input = SettingsInput {
            driver: settings.kind().as_str().into(),
            ..SettingsInput::default()
        };
        match settings {
            DriverSettings::Stored => {}
            DriverSettings::Keystone(k) => {
                input.auth_url = k.auth_url.clone();
                input.username = k.username.clone();
                input.user_domain = k.user_domain.clone();
                input.project = k.project.clone();
                input.project_domain = k.project_domain.clone();
            }
            DriverSettings::AwsIam(i) => {
                input.endpoint = i.endpoint.clone();
                input.region = i.region.clone();
                input.access_key = i.access_key.clone();
                input.user_policy = i.user_policy.clone();
            }
        }
        input
    }

    fn check(&self, kind: ServiceKind, saved: &DriverSettings) -> Result<DriverSettings, OpError> {
        let mut errors = FieldErrors::default();
        let settings = match (DriverKind::parse(&self.driver), kind) {
            (Some(DriverKind::Stored), _) => DriverSettings::Stored,
            (Some(DriverKind::Keystone), ServiceKind::OpenStack) => {
                self.keystone(saved, &mut errors)
            }
            (Some(DriverKind::AwsIam), ServiceKind::S3) => self.aws_iam(saved, &mut errors),
            _ => {
                errors.add(
                    "driver",
                    "Keystone is for OpenStack services, IAM for S3 services; or keep the keys in Keyport (stored).",
                );
                DriverSettings::Stored
            }
        };
        errors.into_result()?;
        Ok(settings)
    }

    fn keystone(&self, saved: &DriverSettings, errors: &mut FieldErrors) -> DriverSettings {
        let auth_url = errors.check("auth_url", validate::endpoint_url(&self.auth_url));
        let username = required(errors, "username", &self.username);
        let project = required(errors, "project", &self.project);
        let user_domain = self.user_domain.trim().to_string();
        let password = match (self.password.is_empty(), saved) {
            (false, _) => self.password.clone(),
            (true, DriverSettings::Keystone(k))
                if k.auth_url == auth_url
                    && k.username == username
                    && k.user_domain == user_domain =>
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
        DriverSettings::Keystone(KeystoneSettings {
            auth_url,
            username,
            password,
            user_domain,
            project,
            project_domain: self.project_domain.trim().to_string(),
        })
    }

    fn aws_iam(&self, saved: &DriverSettings, errors: &mut FieldErrors) -> DriverSettings {
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
        DriverSettings::AwsIam(IamSettings {
            endpoint,
            region,
            access_key,
            secret_key,
            user_policy,
        })
    }
}

/// What saving the settings did.
pub struct Saved {
    pub driver: DriverKind,
    /// How long the backend took to accept Keyport's admin credentials.
    pub millis: u128,
}

/// Checks the settings with one real call to the backend, then saves them sealed.
pub async fn save_settings(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    input: &SettingsInput,
) -> Result<Saved, OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let saved = ops.settings(&service).await?;
    let settings = input.check(service.kind, &saved)?;
    let started = Instant::now();
    if let Err(e) = ops.driver(&settings, &service).check().await {
        return Err(OpError::field("driver", format!("Not saved: {e}")));
    }
    let millis = started.elapsed().as_millis();
    match ops.save_settings(&service, &settings).await {
        Err(OpError::Refused(why)) => return Err(OpError::field("driver", why)),
        other => other?,
    }
    let driver = settings.kind();
    ops.record(
        who,
        AuditAction::ServiceBackend,
        &service.name,
        driver.as_str(),
    )
    .await?;
    Ok(Saved { driver, millis })
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

/// Links `owner` (`user:ID` or `app:ID`) to a user that already exists at the backend, or
/// unlinks it when `backend_name` is empty. Returns what was done.
pub async fn link(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    owner: &str,
    backend_name: &str,
) -> Result<String, OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let owner_field = || OpError::field("owner", "Choose a member or an app of this project.");
    let owner = parse_owner(owner).ok_or_else(owner_field)?;
    let known = match &owner {
        Owner::User(user_id) => db::projects::members(&ops.db, &who.project().id)
            .await?
            .iter()
            .any(|m| &m.user_id == user_id),
        Owner::App(app_id) => db::apps::find(&ops.db, &who.project().id, app_id)
            .await?
            .is_some(),
    };
    if !known {
        return Err(owner_field());
    }
    if db::credentials::count_for_owner(&ops.db, &service.id, &owner).await? > 0 {
        return Err(OpError::Refused(
            "Nothing was changed: the owner holds credentials of this service at its current backend user. Delete them first.".into(),
        ));
    }
    let name = backend_name.trim();
    if name.is_empty() {
        db::backend_users::unlink(&ops.db, &service.id, &owner).await?;
        let detail = owner_value(&owner);
        ops.record(
            who,
            AuditAction::ServiceBackendUnlink,
            &service.name,
            &detail,
        )
        .await?;
        return Ok("Unlinked: Keyport creates a user for the owner's next key.".into());
    }
    let settings = ops.settings(&service).await?;
    let driver = ops.driver(&settings, &service);
    if driver.admin_user().await?.as_deref() == Some(name) {
        return Err(OpError::Refused(
            "Nothing was changed: Keyport's own admin user cannot be linked to an owner.".into(),
        ));
    }
    let user = driver.user(name, false).await?;
    if db::backend_users::held_elsewhere(&ops.db, &service.id, &owner, &user.id).await? {
        return Err(OpError::Refused(format!(
            "Nothing was changed: {name} is already the backend user of another owner or service."
        )));
    }
    db::backend_users::unlink(&ops.db, &service.id, &owner).await?;
    db::backend_users::insert(&ops.db, &service.id, &owner, &user.id, &user.name, false).await?;
    ops.record(who, AuditAction::ServiceBackendLink, &service.name, name)
        .await?;
    Ok(format!("Linked to the backend user {name}."))
}

fn owner_value(owner: &Owner) -> String {
    match owner {
        Owner::User(id) => format!("user:{id}"),
        Owner::App(id) => format!("app:{id}"),
    }
}

/// Fills the service's endpoints from Keystone's catalog: identity endpoints as `auth`, Swift's
/// public and internal ones as `public` and `private`. Endpoints already there are kept.
/// Returns how many were added.
pub async fn import_endpoints(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
) -> Result<usize, OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let DriverSettings::Keystone(settings) = ops.settings(&service).await? else {
        return Err(OpError::Refused(
            "Only Keystone services have a catalog.".into(),
        ));
    };
    let catalog = Keystone::new(&settings, placement(&service), ops.http())
        .catalog()
        .await?;
    let existing = db::services::endpoints(&ops.db, &service.id).await?;
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
        let new = db::services::NewEndpoint {
            site: &region,
            region: &region,
            interface,
            url: &url,
            s3_region: "",
        };
        db::services::add_endpoint(&ops.db, &service.id, new).await?;
        added += 1;
    }
    let detail = added.to_string();
    ops.record(
        who,
        AuditAction::ServiceImportEndpoints,
        &service.name,
        &detail,
    )
    .await?;
    Ok(added)
}
