//! The life of a credential at its backend: the steps of add, regenerate and delete.
//!
//! Keyport and the backend must never disagree silently. Each operation writes its intent on
//! the credential's row (its state, the new key when Keyport chose it, and who asked) before the
//! backend is called, and the outcome after. A process killed in between leaves a row that is
//! not `Active`; `ops::reconcile` (at start and then periodically) finishes or undoes it and
//! audits it in the name of whoever asked:
//!
//! | state | backend may have | reconcile |
//! |---|---|---|
//! | `Creating` | the new key | chosen key live → activate; else revoke the owner's unknown keys, drop the row |
//! | `Rotating` | the new key too | chosen key live → put it in place, go on as `Retiring`; else revoke unknown keys |
//! | `Retiring` | the old key still | revoke the old key |
//! | `Deleting` | the key still | revoke it, drop the row |

use anyhow::Context;
use zeroize::Zeroizing;

use super::{Field, OpError, Ops, ProjectId, RowId};
use crate::{
    crypto::sha256_hex,
    db::{
        self,
        audit::{Actor, Entry},
        credentials::{Credential, NewCredential, Owner},
        services::{Service, ServiceError},
    },
    domain::{
        audit::AuditAction,
        services::{CredentialKind, CredentialState, ServiceKind},
    },
    providers::{BackendUser, Driver, DriverError, DriverSettings, IssuedKey},
};

impl Ops {
    /// The driver settings of a service, opened.
    pub(crate) async fn settings(&self, service: &Service) -> Result<DriverSettings, OpError> {
        let Some(sealed) = db::services::driver_settings(&self.db, &service.id).await? else {
            return Ok(DriverSettings::Stored);
        };
        let json = self
            .open(
                ProjectId(&service.project_id),
                RowId(&service.id),
                Field::DriverSettings,
                &sealed,
            )
            .await?;
        Ok(serde_json::from_str(&json).context("the driver settings do not parse")?)
    }

    /// Seals and stores a service's driver settings.
    pub(crate) async fn save_settings(
        &self,
        service: &Service,
        settings: &DriverSettings,
    ) -> Result<(), OpError> {
        let sealed = match settings {
            DriverSettings::Stored => None,
            other => {
                let json =
                    Zeroizing::new(serde_json::to_string(other).expect("settings serialize"));
                let place = (ProjectId(&service.project_id), RowId(&service.id));
                Some(
                    self.seal(place.0, place.1, Field::DriverSettings, &json)
                        .await?,
                )
            }
        };
        let saved = db::services::set_driver(
            &self.db,
            &service.project_id,
            &service.id,
            settings.kind(),
            sealed.as_deref(),
        )
        .await;
        match saved {
            Ok(()) => Ok(()),
            Err(ServiceError::HasCredentials) => Err(OpError::Refused(
                "This service holds credentials: their keys live at its current backend, so its driver cannot change. Delete them first.".into(),
            )),
            Err(e) => Err(OpError::Internal(e.into())),
        }
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

/// Who asked, as the row keeps it until the operation is finished.
pub(super) fn requester_json(actor: &Actor) -> String {
    serde_json::to_string(actor).expect("an actor serializes")
}

/// How the audit log names a credential: `service / credential`.
pub fn audit_target(service_name: &str, credential_name: &str) -> String {
    format!("{service_name} / {credential_name}")
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
    ops: &Ops,
    driver: &dyn Driver,
    service: &Service,
    owner: &Owner,
    wanted_name: &str,
) -> Result<BackendUser, OpError> {
    if !driver.is_remote() {
        return Ok(BackendUser::default());
    }
    if let Some(link) = db::backend_users::find(&ops.db, &service.id, owner).await? {
        return Ok(BackendUser {
            id: link.backend_id,
            name: link.backend_name,
        });
    }
    let user = driver.user(wanted_name, true).await?;
    db::backend_users::insert(&ops.db, &service.id, owner, &user.id, &user.name, true).await?;
    Ok(user)
}

/// The backend user a credential belongs to.
pub(super) async fn credential_user(
    ops: &Ops,
    credential: &Credential,
) -> Result<BackendUser, OpError> {
    if credential.backend_user.is_empty() {
        return Ok(BackendUser {
            id: String::new(),
            name: credential.access_key.clone(),
        });
    }
    let name = db::backend_users::find_by_backend_id(
        &ops.db,
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

/// A credential to add at the service's backend.
pub(super) struct NewKey<'a> {
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
    pub requested_by: &'a Actor,
}

/// Adds a credential: its row first (`Creating`, holding the owner's place under the limit and
/// the key Keyport chose), then the key at the backend, then the row becomes `Active`.
pub(super) async fn add(ops: &Ops, new: NewKey<'_>) -> Result<String, OpError> {
    let service = new.service;
    let settings = ops.settings(service).await?;
    let driver = ops.driver(&settings, service);
    let held = db::credentials::count_for_owner(&ops.db, &service.id, new.owner).await?;
    if held >= service.max_keys_per_owner {
        return Err(OpError::LimitReached(service.max_keys_per_owner));
    }
    let user = owner_user(ops, driver.as_ref(), service, new.owner, new.backend_name).await?;
    if new.kind == CredentialKind::Key
        && driver.is_remote()
        && service.kind == ServiceKind::OpenStack
    {
        // One Keystone user has one password: a second password credential would overwrite it.
        let existing = db::credentials::all_for_service(&ops.db, &service.id).await?;
        if existing
            .iter()
            .any(|c| c.backend_user == user.id && c.kind == CredentialKind::Key)
        {
            return Err(OpError::Refused(format!(
                "Nothing was changed: {} already has its password in Keyport: regenerate it, or add an EC2 key pair.",
                user.name
            )));
        }
    }
    let chosen = driver.choose(new.kind, &user, None);
    let (access_key, secret) = match &chosen {
        Some(key) => (key.access_key.as_str(), key.secret.as_str()),
        None => ("", ""),
    };
    let project = ProjectId(&service.project_id);
    let sealed = ops
        .seal(project, RowId(new.id), Field::Secret, secret)
        .await?;
    let requested_by = requester_json(new.requested_by);
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
        state: CredentialState::Creating,
        backend_user: &user.id,
        requested_by: &requested_by,
    };
    db::credentials::create(&ops.db, row, service.max_keys_per_owner, None).await?;
    let issued = match driver.issue(&user, new.kind, chosen.as_ref()).await {
        Ok(issued) => issued,
        Err(e) => return backend_failed(e, db::credentials::delete(&ops.db, new.id)).await,
    };
    failpoint("after-issue").await;
    let sealed = ops
        .seal(project, RowId(new.id), Field::Secret, &issued.secret)
        .await?;
    let target = audit_target(&service.name, new.name);
    let record = Entry {
        project_id: Some(&service.project_id),
        actor: new.requested_by,
        action: AuditAction::CredentialCreate,
        target: &target,
        detail: &issued.access_key,
    };
    if !db::credentials::activate(&ops.db, new.id, &issued.access_key, &sealed, &record).await? {
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
pub(super) async fn regenerate(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
    requested_by: &Actor,
) -> Result<Regenerated, OpError> {
    let settings = ops.settings(service).await?;
    let driver = ops.driver(&settings, service);
    let user = credential_user(ops, credential).await?;
    let chosen = driver.choose(credential.kind, &user, Some(&credential.access_key));
    let (project, row) = (ProjectId(&service.project_id), RowId(&credential.id));
    let pending = match &chosen {
        Some(key) => Some((
            key.access_key.clone(),
            ops.seal(project, row, Field::PendingSecret, &key.secret)
                .await?,
        )),
        None => None,
    };
    let marked = db::credentials::set_state(
        &ops.db,
        &credential.id,
        CredentialState::Rotating,
        pending.as_ref().map(|(a, s)| (a.as_str(), s.as_slice())),
        &requester_json(requested_by),
    )
    .await?;
    if !marked {
        return Err(OpError::Busy);
    }
    let issued = match driver.issue(&user, credential.kind, chosen.as_ref()).await {
        Ok(issued) => issued,
        Err(e) => {
            let restore = db::credentials::set_state(
                &ops.db,
                &credential.id,
                CredentialState::Active,
                None,
                "",
            );
            return backend_failed(e, restore).await;
        }
    };
    failpoint("after-issue").await;
    let sealed = ops
        .seal(project, row, Field::Secret, &issued.secret)
        .await?;
    if !rotated(
        ops,
        service,
        credential,
        &issued.access_key,
        &sealed,
        requested_by,
        "",
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    failpoint("after-record").await;
    let warning = retire(ops, driver.as_ref(), credential, &user, &credential.access_key)
        .await
        .err()
        .map(|e| {
            format!("The new key works, but the old one could not be revoked yet ({}); Reconcile will retry.", e.message())
        });
    Ok(Regenerated {
        access_key: issued.access_key,
        warning,
    })
}

/// Puts the new key of a rotation in place and records the regeneration in the name of
/// `requested_by`, with both keys, in one transaction. `how` tells how it was finished.
pub(super) async fn rotated(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
    new_access_key: &str,
    sealed: &[u8],
    requested_by: &Actor,
    how: &str,
) -> Result<bool, OpError> {
    let target = audit_target(&service.name, &credential.name);
    let detail = format!("{new_access_key} replaced {}{how}", credential.access_key);
    let record = Entry {
        project_id: Some(&service.project_id),
        actor: requested_by,
        action: AuditAction::CredentialRegenerate,
        target: &target,
        detail: &detail,
    };
    Ok(db::credentials::rotated(
        &ops.db,
        &credential.id,
        new_access_key,
        sealed,
        &credential.access_key,
        &record,
    )
    .await?)
}

/// Revokes the key a rotation replaced (for a password, nothing is left to do), then the
/// credential is `Active` again.
pub(super) async fn retire(
    ops: &Ops,
    driver: &dyn Driver,
    credential: &Credential,
    user: &BackendUser,
    old_access_key: &str,
) -> Result<(), OpError> {
    driver
        .revoke(user, credential.kind, old_access_key, true)
        .await?;
    db::credentials::set_state(&ops.db, &credential.id, CredentialState::Active, None, "").await?;
    Ok(())
}

/// Deletes a credential: revoked at the backend first, then the row goes.
pub(super) async fn delete(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
    requested_by: &Actor,
) -> Result<(), OpError> {
    let settings = ops.settings(service).await?;
    let driver = ops.driver(&settings, service);
    let user = credential_user(ops, credential).await?;
    let marked = db::credentials::set_state(
        &ops.db,
        &credential.id,
        CredentialState::Deleting,
        None,
        &requester_json(requested_by),
    )
    .await?;
    if !marked {
        return Err(OpError::Busy);
    }
    if let Err(e) = driver
        .revoke(&user, credential.kind, &credential.access_key, false)
        .await
    {
        let restore =
            db::credentials::set_state(&ops.db, &credential.id, CredentialState::Active, None, "");
        return backend_failed(e, restore).await;
    }
    failpoint("after-revoke").await;
    forget_deleted(ops, service, credential, requested_by, "").await
}

/// Drops the row of a credential whose key is revoked, recording the deletion in the name of
/// `requested_by` in the same transaction.
pub(super) async fn forget_deleted(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
    requested_by: &Actor,
    how: &str,
) -> Result<(), OpError> {
    let target = audit_target(&service.name, &credential.name);
    let detail = format!("{}{how}", credential.access_key);
    let record = Entry {
        project_id: Some(&service.project_id),
        actor: requested_by,
        action: AuditAction::CredentialDelete,
        target: &target,
        detail: &detail,
    };
    db::credentials::delete_recorded(&ops.db, &credential.id, &record).await?;
    Ok(())
}

/// Every access key the credentials hold, or still have to revoke.
pub(super) fn known_keys(credentials: &[Credential]) -> Vec<&str> {
    credentials
        .iter()
        .flat_map(|c| [c.access_key.as_str(), c.pending_access_key.as_str()])
        .filter(|k| !k.is_empty())
        .collect()
}

/// The opened secret Keyport chose for a credential's unfinished operation, if it chose one.
pub(super) async fn chosen_key(
    ops: &Ops,
    credential: &Credential,
) -> Result<Option<IssuedKey>, OpError> {
    let (project, row) = (ProjectId(&credential.project_id), RowId(&credential.id));
    let key = match credential.state {
        CredentialState::Creating if !credential.access_key.is_empty() => Some(IssuedKey {
            access_key: credential.access_key.clone(),
            secret: ops
                .open(project, row, Field::Secret, &credential.secret)
                .await?,
        }),
        CredentialState::Rotating => match &credential.pending_secret {
            Some(sealed) if !credential.pending_access_key.is_empty() => Some(IssuedKey {
                access_key: credential.pending_access_key.clone(),
                secret: ops.open(project, row, Field::PendingSecret, sealed).await?,
            }),
            _ => None,
        },
        _ => None,
    };
    Ok(key)
}
