//! Regenerate: the new key is issued at the backend and recorded, with the audit record naming
//! both keys, before the old key is revoked, so that the credential shown always works. The row
//! holds the intent (`Rotating`, the key Keyport chose, who asked) while the backend acts; see
//! `ops::lifecycle` for what reconcile does with a row left that way.

use std::sync::Arc;

use super::{OpError, Ops, Principal, managed};
use crate::{
    db::{
        self,
        audit::{Actor, Entry},
        credentials::{Credential, CredentialInfo},
        services::Service,
    },
    domain::{audit::AuditAction, roles::CredentialAction, services::CredentialState, validate},
    ops::{
        Field, FieldErrors, ProjectId, RowId,
        lifecycle::{
            audit_target, backend_failed, credential_user, failpoint, overtaken, requester_json,
            retire,
        },
    },
    providers::IssuedKey,
};

pub struct Regenerated {
    pub credential: Arc<CredentialInfo>,
    pub service: Service,
    pub access_key: String,
    /// Set when the new key works but the old one could not be revoked yet (reconcile retries).
    pub warning: Option<String>,
}

/// Replaces the credential's key, if the principal may.
pub async fn regenerate(ops: &Ops, who: &Principal, id: &str) -> Result<Regenerated, OpError> {
    regenerate_with(ops, who, id, None).await
}

/// Replaces the credential's key with `typed`, the new key its provider gave the owner, where
/// Keyport only keeps the keys (the stored driver); with `None`, the driver chooses the key.
pub async fn regenerate_with(
    ops: &Ops,
    who: &Principal,
    id: &str,
    typed: Option<IssuedKey>,
) -> Result<Regenerated, OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Regenerate).await?;
    ops.require_fresh(who.freshness()).await?;
    crate::ops::rotation::refuse_if_rotating(ops, &credential).await?;
    // Without a new access key (an OpenStack user keeps its name), the current one stays.
    let typed = typed.map(|key| IssuedKey {
        access_key: match key.access_key.trim() {
            "" => credential.access_key.clone(),
            typed => typed.to_string(),
        },
        secret: key.secret,
    });
    if let Some(key) = &typed {
        let mut errors = FieldErrors::default();
        if service.driver.is_remote() {
            errors.add(
                "secret",
                "This service's keys are issued by its backend; Regenerate asks it for a new one.",
            );
        }
        if let Err(message) =
            validate::label(&key.access_key, "Enter the access key id or user name.")
        {
            errors.add("access_key", message);
        }
        if key.secret.trim().is_empty() || key.secret.len() > 4096 {
            errors.add("secret", "Enter the new secret (at most 4096 characters).");
        }
        errors.into_result()?;
    }
    let (access_key, warning) = rotate(ops, &service, &credential, who.actor(), typed).await?;
    Ok(Regenerated {
        credential: credential.info,
        service,
        access_key,
        warning,
    })
}

/// Regenerates a credential: the new key is issued and recorded before the old one is revoked,
/// so that the credential shown always works.
async fn rotate(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
    requested_by: &Actor,
    typed: Option<IssuedKey>,
) -> Result<(String, Option<String>), OpError> {
    let settings = ops.settings(service).await?;
    let driver = ops.driver(&settings, service);
    // The backend's view of the keys changes: the next page asks again.
    let _stale = ops.key_statuses.forget_later(&service.id);
    let user = credential_user(ops, credential).await?;
    let chosen =
        typed.or_else(|| driver.choose(credential.kind, &user, Some(&credential.access_key)));
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
        let row = (service.project_id.as_str(), credential.id.as_str());
        let kind = credential.kind;
        overtaken(ops, driver.as_ref(), row, &user, kind, &issued.access_key).await?;
        // Reconcile put the new key in place and retires the old one itself.
        return Ok((issued.access_key, None));
    }
    failpoint("after-record").await;
    let warning = retire(ops, driver.as_ref(), credential, &user, &credential.access_key)
        .await
        .err()
        .map(|e| {
            format!("The new key works, but the old one could not be revoked yet ({}); Reconcile will retry.", e.message())
        });
    Ok((issued.access_key, warning))
}

/// Puts the new key of a rotation in place and records the regeneration in the name of
/// `requested_by`, with both keys, in one transaction. `how` tells how it was finished.
pub(crate) async fn rotated(
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
        credential_id: None,
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
