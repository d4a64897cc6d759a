//! The life of a credential at its backend: what add, regenerate and delete
//! (`ops::credentials::{add, regenerate, delete}`) and reconcile (`ops::reconcile`) share.
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
        audit::Actor,
        credentials::{Credential, Owner},
        services::{Service, ServiceError},
    },
    domain::services::{CredentialKind, CredentialState},
    providers::{BackendUser, Driver, DriverError, DriverSettings, IssuedKey},
};

/// How long a page, or a rotation's evidence, waits for the backend's word on its keys before it
/// goes on without it (reconcile's report, the rotation page).
pub const KEY_STATUS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// What reconcile says of an interrupted change it could not finish yet (an internal error's
/// detail stays in the log).
pub(super) fn not_yet(e: &OpError) -> String {
    match e {
        OpError::Internal(_) => "not yet: Keyport met an error (see its log)".into(),
        e => format!("not yet: {}", e.message()),
    }
}

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
/// backend acted, before Keyport recorded it) and waits to be killed. Built only with the
/// `failpoints` feature, which the tests turn on.
#[cfg(feature = "failpoints")]
pub(super) async fn failpoint(name: &str) {
    if std::env::var("KEYPORT_FAILPOINT").is_ok_and(|v| v == name) {
        tracing::warn!(failpoint = name, "failpoint reached; waiting to be killed");
        std::future::pending::<()>().await;
    }
}

/// Without the `failpoints` feature the hook is nothing: a release binary cannot be made to stop
/// half-way through an operation.
#[cfg(not(feature = "failpoints"))]
pub(super) async fn failpoint(_name: &str) {}

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
pub(super) async fn owner_user(
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

/// A backend call failed during an operation. A certain failure (refused, or not reached) runs
/// `restore`, which puts the row back as it was; an uncertain one (a timeout, a broken answer)
/// leaves the row in its state for reconcile, since the backend may have acted.
pub(super) async fn backend_failed<T>(
    error: DriverError,
    restore: impl Future<Output = sqlx::Result<bool>>,
) -> Result<T, OpError> {
    if !matches!(error, DriverError::Uncertain(_)) {
        restore.await?;
    }
    Err(error.into())
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

/// Reconcile took the row of an operation while the backend was issuing `issued`: whether that
/// very key is now in use (reconcile found it live and put it in place). If not, no row knows
/// the key, so it is revoked here and the operation reports `Busy`.
pub(super) async fn overtaken(
    ops: &Ops,
    driver: &dyn Driver,
    credential: (&str, &str),
    user: &BackendUser,
    kind: CredentialKind,
    issued: &str,
) -> Result<(), OpError> {
    let (project_id, id) = credential;
    let row = db::credentials::find(&ops.db, project_id, id).await?;
    if row.is_some_and(|row| row.access_key == issued && row.state != CredentialState::Rotating) {
        return Ok(());
    }
    driver.revoke(user, kind, issued, false).await?;
    Err(OpError::Busy)
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
