//! Delete: the key is revoked at the backend first, then the row goes, with its audit record.
//! The row holds the intent (`Deleting`, who asked) while the backend acts.

use std::sync::Arc;

use super::{OpError, Ops, Principal, managed};
use crate::{
    db::{
        self,
        audit::{Actor, Entry},
        credentials::{Credential, CredentialInfo},
        services::Service,
    },
    domain::{audit::AuditAction, roles::CredentialAction, services::CredentialState},
    ops::lifecycle::{audit_target, backend_failed, credential_user, failpoint, requester_json},
};

pub struct Deleted {
    pub credential: Arc<CredentialInfo>,
    pub service: Service,
}

/// Deletes the credential, if the principal may.
pub async fn delete(ops: &Ops, who: &Principal, id: &str) -> Result<Deleted, OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Delete).await?;
    ops.require_fresh(who.freshness()).await?;
    crate::ops::rotation::refuse_if_rotating(ops, &credential).await?;
    revoke_then_forget(ops, &service, &credential, who.actor()).await?;
    Ok(Deleted {
        credential: credential.info,
        service,
    })
}

/// Deletes a departed member's key as part of their removal (`ops::departures`), whose proof of
/// identity was asked once for all their keys.
pub(crate) async fn delete_departed(ops: &Ops, who: &Principal, id: &str) -> Result<(), OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Delete).await?;
    revoke_then_forget(ops, &service, &credential, who.actor()).await
}

/// Deletes a departed member's key whose grace period is over (`ops::departures::revoke_due`),
/// in the name of whoever chose the grace period; `false` when the key is already gone.
pub(crate) async fn delete_scheduled(
    ops: &Ops,
    project_id: &str,
    id: &str,
    requested_by: &Actor,
) -> Result<bool, OpError> {
    let Some(credential) = db::credentials::find(&ops.db, project_id, id).await? else {
        return Ok(false);
    };
    let service = db::services::find(&ops.db, project_id, &credential.service_id)
        .await?
        .ok_or(OpError::NotFound)?;
    revoke_then_forget(ops, &service, &credential, requested_by).await?;
    Ok(true)
}

/// Deletes a credential: revoked at the backend first, then the row goes.
async fn revoke_then_forget(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
    requested_by: &Actor,
) -> Result<(), OpError> {
    let settings = ops.settings(service).await?;
    let driver = ops.driver(&settings, service);
    // The backend's view of the keys changes: the next page asks again.
    let _stale = ops.key_statuses.forget_later(&service.id);
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
pub(crate) async fn forget_deleted(
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
        credential_id: None,
    };
    db::credentials::delete_recorded(&ops.db, &credential.id, &record).await?;
    Ok(())
}
