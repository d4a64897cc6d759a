//! The life of a credential at its backend: add, regenerate, delete, and reconcile.
//!
//! Keyport and the backend must never disagree silently. Each operation writes its intent on
//! the credential's row (its `state`, and the new key when Keyport chose it) before the backend
//! is called, and the outcome after. A process killed in between leaves a row that is not
//! `active`; [`finish_interrupted`] (at start and then periodically) finishes or undoes it:
//!
//! | state | backend may have | reconcile |
//! |---|---|---|
//! | `creating` | the new key | chosen key live → activate; else revoke the owner's unknown keys, drop the row |
//! | `rotating` | the new key too | chosen key live → put it in place, go on as `retiring`; else revoke unknown keys |
//! | `retiring` | the old key still | revoke the old key |
//! | `deleting` | the key still | revoke it, drop the row |

use std::time::Duration;

use anyhow::Context;
use zeroize::Zeroizing;

use crate::{
    crypto::{envelope::SecretPlace, master_key::MasterKey, sha256_hex},
    db::{
        self, Db,
        audit::Actor,
        backend_users::BackendUserLink,
        credentials::{Credential, NewCredential, Owner},
        services::Service,
    },
    domain::services::{CredentialKind, ServiceKind},
    providers::{
        self, BackendKey, BackendUser, Driver, DriverError, DriverSettings, IssuedKey, Placement,
    },
};

pub const SECRET_FIELD: &str = "secret";
const PENDING_FIELD: &str = "pending_secret";
const SETTINGS_FIELD: &str = "driver_settings";

/// What the operations need: the database, the master key, the HTTP client.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub db: &'a Db,
    pub master: &'a MasterKey,
    pub http: &'a reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The backend refused or did not answer; nothing was changed.
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("the owner already holds the most credentials the service allows ({0})")]
    LimitReached(i64),
    /// Another operation on the same credential is under way.
    #[error("another change to this credential is under way")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<db::credentials::CredentialError> for OpError {
    fn from(e: db::credentials::CredentialError) -> Self {
        match e {
            db::credentials::CredentialError::LimitReached(limit) => OpError::LimitReached(limit),
            db::credentials::CredentialError::Database(e) => e.into(),
        }
    }
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> Self {
        OpError::Internal(e.into())
    }
}

impl Env<'_> {
    async fn seal(
        &self,
        project_id: &str,
        row_id: &str,
        field: &str,
        secret: &str,
    ) -> anyhow::Result<Vec<u8>> {
        let key = db::keys::project_key(self.db, self.master, project_id).await?;
        Ok(key.seal(
            SecretPlace {
                project_id,
                credential_id: row_id,
                field,
            },
            secret,
        ))
    }

    async fn open(
        &self,
        project_id: &str,
        row_id: &str,
        field: &str,
        sealed: &[u8],
    ) -> anyhow::Result<Zeroizing<String>> {
        let key = db::keys::project_key(self.db, self.master, project_id).await?;
        key.open(
            SecretPlace {
                project_id,
                credential_id: row_id,
                field,
            },
            sealed,
        )
        .map_err(|_| anyhow::anyhow!("a sealed value of {row_id} does not open"))
    }

    /// The driver settings of a service, opened.
    pub async fn settings(&self, service: &Service) -> anyhow::Result<DriverSettings> {
        let Some(sealed) = db::services::driver_settings(self.db, &service.id).await? else {
            return Ok(DriverSettings::Stored);
        };
        let json = self
            .open(&service.project_id, &service.id, SETTINGS_FIELD, &sealed)
            .await?;
        serde_json::from_str(&json).context("the driver settings do not parse")
    }

    /// Seals and stores a service's driver settings.
    pub async fn save_settings(
        &self,
        service: &Service,
        settings: &DriverSettings,
    ) -> Result<(), db::services::ServiceError> {
        let sealed = match settings {
            DriverSettings::Stored => None,
            other => {
                let json =
                    Zeroizing::new(serde_json::to_string(other).expect("settings serialize"));
                Some(
                    self.seal(&service.project_id, &service.id, SETTINGS_FIELD, &json)
                        .await
                        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?,
                )
            }
        };
        db::services::set_driver(
            self.db,
            &service.project_id,
            &service.id,
            settings.name(),
            sealed.as_deref(),
        )
        .await
    }
}

pub fn placement(service: &Service) -> Placement<'_> {
    Placement {
        kind: service.kind,
        user_domain: &service.os_user_domain,
        project: &service.os_project_name,
        project_domain: &service.os_project_domain,
    }
}

/// A test hook: with `KEYPORT_FAILPOINT=name`, the process stops at the point `name` (after the
/// backend acted, before Keyport recorded it) and waits to be killed. Unset in production.
async fn failpoint(name: &str) {
    if std::env::var("KEYPORT_FAILPOINT").is_ok_and(|v| v == name) {
        tracing::warn!(failpoint = name, "failpoint reached; waiting to be killed");
        std::future::pending::<()>().await;
    }
}

/// The name Keyport gives an owner's backend user: the project, the owner's name, and a short
/// hash of the service and owner ids, so that two owners, or one owner in two services of the
/// same backend, never share a user.
pub fn backend_user_name(
    project_slug: &str,
    service_id: &str,
    owner: &Owner,
    label: &str,
) -> String {
    let id = match owner {
        Owner::User(id) | Owner::App(id) => id,
    };
    let clean: String = label
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(24)
        .collect();
    let slug: String = project_slug.chars().take(20).collect();
    let hash = sha256_hex(&format!("{service_id}/{id}"));
    format!("keyport-{slug}-{clean}-{}", &hash[..6])
}

/// The owner's backend user, created at the backend on first use.
async fn owner_user(
    env: Env<'_>,
    driver: &dyn Driver,
    service: &Service,
    owner: &Owner,
    wanted_name: &str,
) -> Result<BackendUser, OpError> {
    if !driver.is_remote() {
        return Ok(BackendUser::default());
    }
    if let Some(link) = db::backend_users::find(env.db, &service.id, owner).await? {
        return Ok(BackendUser {
            id: link.backend_id,
            name: link.backend_name,
        });
    }
    let user = driver.user(wanted_name, true).await?;
    db::backend_users::insert(env.db, &service.id, owner, &user.id, &user.name, true).await?;
    Ok(user)
}

/// The backend user a credential belongs to.
async fn credential_user(env: Env<'_>, credential: &Credential) -> Result<BackendUser, OpError> {
    if credential.backend_user.is_empty() {
        return Ok(BackendUser {
            id: String::new(),
            name: credential.access_key.clone(),
        });
    }
    let name = db::backend_users::find_by_backend_id(
        env.db,
        &credential.service_id,
        &credential.backend_user,
    )
    .await?
    .map(|link| link.backend_name)
    .unwrap_or_else(|| credential.backend_user.clone());
    Ok(BackendUser {
        id: credential.backend_user.clone(),
        name,
    })
}

/// A credential to add.
pub struct NewKey<'a> {
    pub id: &'a str,
    pub service: &'a Service,
    pub owner: &'a Owner,
    /// The name for the owner's backend user if one must be created.
    pub backend_name: &'a str,
    pub kind: CredentialKind,
    pub name: &'a str,
    pub description: &'a str,
    pub expires_at: Option<i64>,
    pub created_by: &'a str,
}

/// Adds a credential: its row first (`creating`, holding the owner's place under the limit and
/// the key Keyport chose), then the key at the backend, then the row becomes `active`.
pub async fn add(env: Env<'_>, new: NewKey<'_>) -> Result<String, OpError> {
    let service = new.service;
    let settings = env.settings(service).await?;
    let driver = providers::driver(&settings, placement(service), env.http);
    let held = db::credentials::count_for_owner(env.db, &service.id, new.owner).await?;
    if held >= service.max_keys_per_owner {
        return Err(OpError::LimitReached(service.max_keys_per_owner));
    }
    let user = owner_user(env, driver.as_ref(), service, new.owner, new.backend_name).await?;
    if new.kind == CredentialKind::Key
        && driver.is_remote()
        && service.kind == ServiceKind::OpenStack
    {
        // One Keystone user has one password: a second password credential would overwrite it.
        let existing = db::credentials::all_for_service(env.db, &service.id).await?;
        if existing
            .iter()
            .any(|c| c.backend_user == user.id && c.kind == CredentialKind::Key)
        {
            return Err(DriverError::Refused(format!(
                "{} already has its password in Keyport: regenerate it, or add an EC2 key pair.",
                user.name
            ))
            .into());
        }
    }
    let chosen = driver.choose(new.kind, &user, None);
    let (access_key, secret) = match &chosen {
        Some(key) => (key.access_key.as_str(), key.secret.as_str()),
        None => ("", ""),
    };
    let sealed = env
        .seal(&service.project_id, new.id, SECRET_FIELD, secret)
        .await?;
    let row = NewCredential {
        id: new.id,
        project_id: &service.project_id,
        service_id: &service.id,
        owner: new.owner,
        kind: new.kind,
        name: new.name,
        description: new.description,
        access_key,
        secret: &sealed,
        expires_at: new.expires_at,
        created_by: new.created_by,
        state: "creating",
        backend_user: &user.id,
    };
    db::credentials::create(env.db, row, service.max_keys_per_owner).await?;
    let issued = match driver.issue(&user, new.kind, chosen.as_ref()).await {
        Ok(issued) => issued,
        Err(e) => return backend_failed(e, db::credentials::delete(env.db, new.id)).await,
    };
    failpoint("after-issue").await;
    let sealed = env
        .seal(&service.project_id, new.id, SECRET_FIELD, &issued.secret)
        .await?;
    if !db::credentials::activate(env.db, new.id, &issued.access_key, &sealed).await? {
        // Reconcile took the row meanwhile: the key just issued is nobody's.
        driver
            .revoke(&user, new.kind, &issued.access_key, false)
            .await?;
        return Err(OpError::Busy);
    }
    Ok(issued.access_key)
}

/// A backend call failed during an operation. A certain failure (refused, or not reached) runs
/// `restore`, which puts the row back as it was; an uncertain one (a timeout, a broken answer)
/// leaves the row in its state for reconcile, since the backend may have acted.
async fn backend_failed<T>(
    error: DriverError,
    restore: impl Future<Output = sqlx::Result<bool>>,
) -> Result<T, OpError> {
    if !matches!(error, DriverError::Uncertain(_)) {
        restore.await?;
    }
    Err(error.into())
}

/// What a regeneration did.
pub struct Regenerated {
    pub access_key: String,
    /// Set when the new key works but the old one could not be revoked yet (reconcile retries).
    pub warning: Option<String>,
}

/// Regenerates a credential: the new key is issued and recorded before the old one is revoked,
/// so that the credential shown always works.
pub async fn regenerate(
    env: Env<'_>,
    service: &Service,
    credential: &Credential,
) -> Result<Regenerated, OpError> {
    let settings = env.settings(service).await?;
    let driver = providers::driver(&settings, placement(service), env.http);
    let user = credential_user(env, credential).await?;
    let chosen = driver.choose(credential.kind, &user, Some(&credential.access_key));
    let pending = match &chosen {
        Some(key) => Some((
            key.access_key.clone(),
            env.seal(
                &service.project_id,
                &credential.id,
                PENDING_FIELD,
                &key.secret,
            )
            .await?,
        )),
        None => None,
    };
    let marked = db::credentials::set_state(
        env.db,
        &credential.id,
        "rotating",
        pending.as_ref().map(|(a, s)| (a.as_str(), s.as_slice())),
    )
    .await?;
    if !marked {
        return Err(OpError::Busy);
    }
    let issued = match driver.issue(&user, credential.kind, chosen.as_ref()).await {
        Ok(issued) => issued,
        Err(e) => {
            let restore = db::credentials::set_state(env.db, &credential.id, "active", None);
            return backend_failed(e, restore).await;
        }
    };
    failpoint("after-issue").await;
    let sealed = env
        .seal(
            &service.project_id,
            &credential.id,
            SECRET_FIELD,
            &issued.secret,
        )
        .await?;
    if !db::credentials::rotated(
        env.db,
        &credential.id,
        &issued.access_key,
        &sealed,
        &credential.access_key,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    let warning = retire(env, driver.as_ref(), credential, &user, &credential.access_key)
        .await
        .err()
        .map(|e| {
            format!("The new key works, but the old one could not be revoked yet ({e}); Reconcile will retry.")
        });
    Ok(Regenerated {
        access_key: issued.access_key,
        warning,
    })
}

/// Revokes the key a rotation replaced (for a password, nothing is left to do), then the
/// credential is `active` again.
async fn retire(
    env: Env<'_>,
    driver: &dyn Driver,
    credential: &Credential,
    user: &BackendUser,
    old_access_key: &str,
) -> Result<(), OpError> {
    driver
        .revoke(user, credential.kind, old_access_key, true)
        .await?;
    db::credentials::set_state(env.db, &credential.id, "active", None).await?;
    Ok(())
}

/// Deletes a credential: revoked at the backend first, then the row goes.
pub async fn delete(
    env: Env<'_>,
    service: &Service,
    credential: &Credential,
) -> Result<(), OpError> {
    let settings = env.settings(service).await?;
    let driver = providers::driver(&settings, placement(service), env.http);
    let user = credential_user(env, credential).await?;
    if !db::credentials::set_state(env.db, &credential.id, "deleting", None).await? {
        return Err(OpError::Busy);
    }
    if let Err(e) = driver
        .revoke(&user, credential.kind, &credential.access_key, false)
        .await
    {
        let restore = db::credentials::set_state(env.db, &credential.id, "active", None);
        return backend_failed(e, restore).await;
    }
    failpoint("after-revoke").await;
    db::credentials::delete(env.db, &credential.id).await?;
    Ok(())
}

/// Revokes the keys of `user` at the backend that no credential of the service knows: left by
/// an operation interrupted after the backend issued a key Keyport never recorded. Only where the
/// backend chose the key (`chosen` is `None`) can an unknown key be that one; otherwise nothing
/// is revoked, so keys made outside Keyport stay.
async fn revoke_unknown_unless_chosen(
    env: Env<'_>,
    driver: &dyn Driver,
    service: &Service,
    user: &BackendUser,
    chosen: &Option<IssuedKey>,
) -> Result<Vec<String>, OpError> {
    if chosen.is_some() {
        return Ok(Vec::new());
    }
    let credentials = db::credentials::all_for_service(env.db, &service.id).await?;
    let known = known_keys(&credentials);
    let mut revoked = Vec::new();
    for key in driver.list_keys(user).await? {
        if !known.contains(&key.access_key.as_str()) {
            driver
                .revoke(user, CredentialKind::Ec2, &key.access_key, false)
                .await?;
            revoked.push(key.access_key);
        }
    }
    Ok(revoked)
}

/// Every access key the credentials hold, or still have to revoke.
fn known_keys(credentials: &[Credential]) -> Vec<&str> {
    credentials
        .iter()
        .flat_map(|c| [c.access_key.as_str(), c.pending_access_key.as_str()])
        .filter(|k| !k.is_empty())
        .collect()
}

/// The keys the backend lists for each of the service's backend users.
async fn listed_keys(
    env: Env<'_>,
    driver: &dyn Driver,
    service: &Service,
) -> Result<Vec<(BackendUserLink, BackendKey)>, OpError> {
    let mut listed = Vec::new();
    for link in db::backend_users::list(env.db, &service.id).await? {
        let user = BackendUser {
            id: link.backend_id.clone(),
            name: link.backend_name.clone(),
        };
        for key in driver.list_keys(&user).await? {
            listed.push((link.clone(), key));
        }
    }
    Ok(listed)
}

/// Finishes or undoes one interrupted operation; returns what was done, for the audit log.
pub async fn finish(env: Env<'_>, credential: &Credential) -> Result<String, OpError> {
    let service = db::services::find(env.db, &credential.project_id, &credential.service_id)
        .await?
        .context("the credential's service is gone")?;
    let settings = env.settings(&service).await?;
    let driver = providers::driver(&settings, placement(&service), env.http);
    let driver = driver.as_ref();
    let user = credential_user(env, credential).await?;
    let id = &credential.id;
    let outcome = match credential.state.as_str() {
        "creating" => {
            let chosen = if credential.access_key.is_empty() {
                None
            } else {
                let secret = env
                    .open(&service.project_id, id, SECRET_FIELD, &credential.secret)
                    .await?;
                Some(IssuedKey {
                    access_key: credential.access_key.clone(),
                    secret,
                })
            };
            match chosen {
                Some(key) if driver.is_live(&user, credential.kind, &key).await? => {
                    db::credentials::activate(env.db, id, &key.access_key, &credential.secret)
                        .await?;
                    format!("finished: {} is in use", key.access_key)
                }
                chosen => {
                    // Revoked first: if the backend fails, the row stays for the next round.
                    let revoked =
                        revoke_unknown_unless_chosen(env, driver, &service, &user, &chosen).await?;
                    db::credentials::delete(env.db, id).await?;
                    format!(
                        "undone: the credential was not added; revoked at the backend: {revoked:?}"
                    )
                }
            }
        }
        "rotating" => {
            let chosen = match &credential.pending_secret {
                Some(sealed) if !credential.pending_access_key.is_empty() => Some(IssuedKey {
                    access_key: credential.pending_access_key.clone(),
                    secret: env
                        .open(&service.project_id, id, PENDING_FIELD, sealed)
                        .await?,
                }),
                _ => None,
            };
            match chosen {
                Some(key) if driver.is_live(&user, credential.kind, &key).await? => {
                    let sealed = env
                        .seal(&service.project_id, id, SECRET_FIELD, &key.secret)
                        .await?;
                    db::credentials::rotated(
                        env.db,
                        id,
                        &key.access_key,
                        &sealed,
                        &credential.access_key,
                    )
                    .await?;
                    retire(env, driver, credential, &user, &credential.access_key).await?;
                    format!(
                        "finished: {} replaced {}",
                        key.access_key, credential.access_key
                    )
                }
                chosen => {
                    let revoked =
                        revoke_unknown_unless_chosen(env, driver, &service, &user, &chosen).await?;
                    db::credentials::set_state(env.db, id, "active", None).await?;
                    format!(
                        "undone: {} stays; revoked at the backend: {revoked:?}",
                        credential.access_key
                    )
                }
            }
        }
        "retiring" => {
            let old = credential.pending_access_key.clone();
            retire(env, driver, credential, &user, &old).await?;
            format!("finished: {old} revoked")
        }
        "deleting" => {
            driver
                .revoke(&user, credential.kind, &credential.access_key, false)
                .await?;
            db::credentials::delete(env.db, id).await?;
            format!("finished: {} deleted", credential.access_key)
        }
        other => format!("nothing to do in state {other}"),
    };
    Ok(outcome)
}

/// The actor of the reconciles Keyport runs by itself.
fn reconciler() -> Actor {
    Actor {
        label: "keyport (reconcile)".into(),
        ..Actor::default()
    }
}

/// Finishes every operation interrupted before `cutoff` (Unix seconds), of one service or of
/// all, auditing each as done by `actor`. Returns each credential's name and what came of it; a
/// backend that does not answer leaves its credentials as they are, for the next round.
pub async fn finish_interrupted(
    env: Env<'_>,
    cutoff: i64,
    service_id: Option<&str>,
    actor: &Actor,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut outcomes = Vec::new();
    for credential in db::credentials::interrupted(env.db, cutoff).await? {
        if service_id.is_some_and(|id| id != credential.service_id) {
            continue;
        }
        let outcome = match finish(env, &credential).await {
            Ok(outcome) => {
                tracing::info!(credential = %credential.id, %outcome, "reconciled an interrupted operation");
                let target = format!("{} ({})", credential.name, credential.id);
                db::audit::record(
                    env.db,
                    Some(&credential.project_id),
                    actor,
                    "credential.reconcile",
                    &target,
                    &outcome,
                )
                .await?;
                outcome
            }
            Err(e) => {
                tracing::warn!(credential = %credential.id, error = %e, "cannot reconcile yet");
                match e {
                    OpError::Driver(e) => format!("not yet: {e}"),
                    _ => "not yet: Keyport met an error (see its log)".to_string(),
                }
            }
        };
        outcomes.push((credential.name, outcome));
    }
    Ok(outcomes)
}

/// How long an operation may take before a periodic reconcile treats it as interrupted: longer
/// than every backend timeout of one operation together.
pub const INTERRUPTED_AFTER: Duration = Duration::from_secs(300);

/// How long the start waits for reconcile before serving; what is left is done in the background.
const START_RECONCILE_LIMIT: Duration = Duration::from_secs(30);

/// Reconciles everything before the portal serves (no operation of this process is under way
/// yet), then, in the background, every minute the operations older than [`INTERRUPTED_AFTER`].
pub async fn reconcile_and_spawn(db: Db, master: std::sync::Arc<MasterKey>, http: reqwest::Client) {
    let env = Env {
        db: &db,
        master: &master,
        http: &http,
    };
    let actor = reconciler();
    let everything = finish_interrupted(env, i64::MAX, None, &actor);
    match tokio::time::timeout(START_RECONCILE_LIMIT, everything).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "reconcile at start failed"),
        Err(_) => tracing::warn!("reconcile at start takes long; going on in the background"),
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(INTERRUPTED_AFTER / 5).await;
            let env = Env {
                db: &db,
                master: &master,
                http: &http,
            };
            let cutoff = db::now() - INTERRUPTED_AFTER.as_secs() as i64;
            if let Err(e) = finish_interrupted(env, cutoff, None, &actor).await {
                tracing::warn!(error = %e, "reconcile failed");
            }
        }
    });
}

/// A key at the backend that no credential of Keyport holds.
pub struct Unmanaged {
    pub owner: Owner,
    pub owner_name: String,
    pub user: BackendUser,
    pub key: BackendKey,
}

/// What Reconcile shows for a service.
pub struct Report {
    pub unmanaged: Vec<Unmanaged>,
    /// Credentials of listable kinds that the backend does not list any more.
    pub missing: Vec<Credential>,
    /// Credentials whose operation is not finished.
    pub interrupted: Vec<Credential>,
}

/// Compares Keyport's credentials of a service with the keys its backend lists.
pub async fn report(env: Env<'_>, service: &Service) -> Result<Report, OpError> {
    let settings = env.settings(service).await?;
    let driver = providers::driver(&settings, placement(service), env.http);
    let credentials = db::credentials::all_for_service(env.db, &service.id).await?;
    let known = known_keys(&credentials);
    let listed = listed_keys(env, driver.as_ref(), service).await?;
    let listed_access: Vec<String> = listed.iter().map(|(_, k)| k.access_key.clone()).collect();
    let unmanaged = listed
        .into_iter()
        .filter(|(_, key)| !known.contains(&key.access_key.as_str()))
        .map(|(link, key)| Unmanaged {
            owner: link.owner(),
            owner_name: link.owner_name.clone().unwrap_or_default(),
            user: BackendUser {
                id: link.backend_id,
                name: link.backend_name,
            },
            key,
        })
        .collect();
    let listable = |c: &Credential| {
        driver.is_remote() && (c.kind == CredentialKind::Ec2 || service.kind == ServiceKind::S3)
    };
    let (interrupted, settled): (Vec<_>, Vec<_>) =
        credentials.into_iter().partition(|c| c.state != "active");
    let missing = settled
        .into_iter()
        .filter(|c| listable(c) && !listed_access.contains(&c.access_key))
        .collect();
    Ok(Report {
        unmanaged,
        missing,
        interrupted,
    })
}

/// Every key the backend lists for the service's users, with status and last use.
pub async fn backend_keys(env: Env<'_>, service: &Service) -> Result<Vec<BackendKey>, OpError> {
    let settings = env.settings(service).await?;
    let driver = providers::driver(&settings, placement(service), env.http);
    Ok(listed_keys(env, driver.as_ref(), service)
        .await?
        .into_iter()
        .map(|(_, key)| key)
        .collect())
}

/// Takes a key found at the backend into Keyport, as a credential of the user's owner.
pub async fn adopt(
    env: Env<'_>,
    service: &Service,
    found: &Unmanaged,
    secret: &str,
    created_by: &str,
) -> Result<String, OpError> {
    let id = db::new_id();
    let kind = if service.kind == ServiceKind::OpenStack {
        CredentialKind::Ec2
    } else {
        CredentialKind::Key
    };
    let sealed = env
        .seal(&service.project_id, &id, SECRET_FIELD, secret)
        .await?;
    let name = format!("adopted {}", found.key.access_key);
    let row = NewCredential {
        id: &id,
        project_id: &service.project_id,
        service_id: &service.id,
        owner: &found.owner,
        kind,
        name: &name,
        description: "Found at the backend and adopted by Reconcile.",
        access_key: &found.key.access_key,
        secret: &sealed,
        expires_at: None,
        created_by,
        state: "active",
        backend_user: &found.user.id,
    };
    db::credentials::create(env.db, row, service.max_keys_per_owner).await?;
    Ok(id)
}

/// Revokes a key found at the backend.
pub async fn revoke_found(
    env: Env<'_>,
    service: &Service,
    found: &Unmanaged,
) -> Result<(), OpError> {
    let settings = env.settings(service).await?;
    let driver = providers::driver(&settings, placement(service), env.http);
    driver
        .revoke(
            &found.user,
            CredentialKind::Ec2,
            &found.key.access_key,
            false,
        )
        .await?;
    Ok(())
}
