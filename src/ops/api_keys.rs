//! Keyport's API keys: a member's personal keys, and the keys of a project's apps (made by its
//! admins). A key is shown once, when it is made; Keyport keeps only its SHA-256.

use zeroize::Zeroizing;

use super::{FieldErrors, OpError, Ops, Principal, credentials::check_details};
use crate::{
    crypto::{random_string, sha256_hex},
    db::{
        self,
        api_keys::{ApiKey, Holder, NewApiKey},
        apps::App,
        audit::Actor,
        users::User,
    },
    domain::{audit::AuditAction, roles::Action},
    ops::step_up::Freshness,
};

/// What every Keyport API key starts with, so that a leaked one is recognised (secret scanners,
/// logs) and told from a service's credential.
pub const KEY_PREFIX: &str = "kp_";
const KEY_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// 40 characters of 62: about 238 bits.
const KEY_LEN: usize = 40;

/// An API key as typed.
#[derive(Default)]
pub struct NewKey {
    pub name: String,
    pub description: String,
    /// `YYYY-MM-DD`, or empty for no expiry.
    pub expires: String,
}

/// A key just made: the key itself is in `secret`, and nowhere else ever again.
pub struct Created {
    pub key: ApiKey,
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Created({}, [redacted])", self.key.id)
    }
}

/// The hash under which a presented key is looked up.
pub fn key_hash(key: &str) -> String {
    sha256_hex(key)
}

async fn create(
    ops: &Ops,
    holder: Holder,
    input: &NewKey,
    created_by: &str,
) -> Result<Created, OpError> {
    let mut errors = FieldErrors::default();
    let (name, description, expires_at) = check_details(
        &mut errors,
        (&input.name, "Name the key, e.g. ci-deploy."),
        &input.description,
        &input.expires,
    );
    if expires_at.is_some_and(|at| at <= db::now()) {
        errors.add("expires", "Choose a day in the future, or leave it empty.");
    }
    errors.into_result()?;
    let secret = Zeroizing::new(format!("{KEY_PREFIX}{}", random_string(KEY_LEN, KEY_CHARS)));
    let id = db::new_id();
    let prefix = &secret[..KEY_PREFIX.len() + 8];
    let new = NewApiKey {
        id: &id,
        prefix,
        key_hash: &key_hash(&secret),
        holder: &holder,
        name: &name,
        description: &description,
        expires_at,
        created_by,
    };
    db::api_keys::create(&ops.db, new).await?;
    let key = db::api_keys::find(&ops.db, &id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the API key just made is gone"))?;
    Ok(Created { key, secret })
}

/// Makes a personal API key for `user`; it acts as them in every project they are a member of.
pub async fn create_personal(
    ops: &Ops,
    user: &User,
    actor: &Actor,
    freshness: &Freshness,
    input: &NewKey,
) -> Result<Created, OpError> {
    ops.require_fresh(freshness).await?;
    let signature = format!("{} <{}>", user.name, user.email);
    let created = create(ops, Holder::User(user.id.clone()), input, &signature).await?;
    let detail = created.key.prefix.clone();
    db::audit::record(
        &ops.db,
        None,
        actor,
        AuditAction::ApiKeyCreate,
        &created.key.name,
        &detail,
    )
    .await?;
    Ok(created)
}

/// The app `app_id` of the principal's project, if the principal manages apps.
async fn managed_app(ops: &Ops, who: &Principal, app_id: &str) -> Result<App, OpError> {
    who.require(Action::ManageServices)?;
    db::apps::find(&ops.db, &who.project().id, app_id)
        .await?
        .ok_or(OpError::NotFound)
}

/// Makes an API key for an app of the project: it acts as the app, on the app's own keys.
pub async fn create_for_app(
    ops: &Ops,
    who: &Principal,
    app_id: &str,
    input: &NewKey,
) -> Result<Created, OpError> {
    let app = managed_app(ops, who, app_id).await?;
    ops.require_fresh(who.freshness()).await?;
    let holder = Holder::App {
        app_id: app.id.clone(),
        project_id: who.project().id.clone(),
    };
    let created = create(ops, holder, input, &who.signature()).await?;
    let target = format!("{} / {}", app.name, created.key.name);
    ops.record(who, AuditAction::ApiKeyCreate, &target, &created.key.prefix)
        .await?;
    Ok(created)
}

pub async fn list_personal(ops: &Ops, user: &User) -> Result<Vec<ApiKey>, OpError> {
    Ok(db::api_keys::list(&ops.db, &Holder::User(user.id.clone())).await?)
}

/// An app and its keys.
pub async fn list_for_app(
    ops: &Ops,
    who: &Principal,
    app_id: &str,
) -> Result<(App, Vec<ApiKey>), OpError> {
    who.require(Action::ViewProject)?;
    let app = db::apps::find(&ops.db, &who.project().id, app_id)
        .await?
        .ok_or(OpError::NotFound)?;
    let holder = Holder::App {
        app_id: app.id.clone(),
        project_id: who.project().id.clone(),
    };
    let keys = if who.may(Action::ManageServices) {
        db::api_keys::list(&ops.db, &holder).await?
    } else {
        Vec::new()
    };
    Ok((app, keys))
}

/// What may be done to an existing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Enable,
    Disable,
    Delete,
}

impl Change {
    fn audit(self) -> AuditAction {
        match self {
            Change::Enable => AuditAction::ApiKeyEnable,
            Change::Disable => AuditAction::ApiKeyDisable,
            Change::Delete => AuditAction::ApiKeyDelete,
        }
    }
}

async fn apply(ops: &Ops, key: &ApiKey, change: Change) -> Result<(), OpError> {
    let done = match change {
        Change::Enable => db::api_keys::set_enabled(&ops.db, &key.id, true).await?,
        Change::Disable => db::api_keys::set_enabled(&ops.db, &key.id, false).await?,
        Change::Delete => db::api_keys::delete(&ops.db, &key.id).await?,
    };
    if done { Ok(()) } else { Err(OpError::NotFound) }
}

/// Enables, disables or deletes one of `user`'s personal keys. A disabled or deleted key's
/// access tokens are refused from the next request on.
pub async fn change_personal(
    ops: &Ops,
    user: &User,
    actor: &Actor,
    key_id: &str,
    change: Change,
) -> Result<ApiKey, OpError> {
    let key = db::api_keys::find(&ops.db, key_id)
        .await?
        .filter(|k| k.holder == Holder::User(user.id.clone()))
        .ok_or(OpError::NotFound)?;
    apply(ops, &key, change).await?;
    db::audit::record(&ops.db, None, actor, change.audit(), &key.name, &key.prefix).await?;
    Ok(key)
}

/// Enables, disables or deletes a key of an app of the principal's project.
pub async fn change_for_app(
    ops: &Ops,
    who: &Principal,
    app_id: &str,
    key_id: &str,
    change: Change,
) -> Result<ApiKey, OpError> {
    let app = managed_app(ops, who, app_id).await?;
    let key = db::api_keys::find(&ops.db, key_id)
        .await?
        .filter(|k| matches!(&k.holder, Holder::App { app_id, .. } if *app_id == app.id))
        .ok_or(OpError::NotFound)?;
    apply(ops, &key, change).await?;
    let target = format!("{} / {}", app.name, key.name);
    ops.record(who, change.audit(), &target, &key.prefix)
        .await?;
    Ok(key)
}
