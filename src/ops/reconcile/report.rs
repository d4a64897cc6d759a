//! The Reconcile page's comparison of a service's credentials with the keys its backend lists,
//! and what an admin does with the differences: adopt or revoke a key only the backend has,
//! forget a credential whose key the backend lost.

use std::sync::Arc;

use futures_util::future::join_all;

use crate::{
    db::{
        self,
        audit::Entry,
        backend_users::BackendUserLink,
        credentials::{CredentialInfo, NewCredential, Owner},
        services::Service,
    },
    domain::{
        audit::AuditAction,
        services::{CredentialKind, CredentialState, ServiceKind},
    },
    ops::{
        Field, OpError, Ops, Principal, ProjectId, RowId,
        lifecycle::{KEY_STATUS_DEADLINE, known_keys},
        services::managed_service,
    },
    providers::{BackendKey, BackendUser, Driver, DriverError},
};

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
    pub missing: Vec<Arc<CredentialInfo>>,
    /// Credentials whose operation is not finished.
    pub interrupted: Vec<Arc<CredentialInfo>>,
}

/// The keys the backend lists for each of the service's backend users, asked of all users at
/// once.
async fn listed_keys(
    ops: &Ops,
    driver: &dyn Driver,
    service: &Service,
) -> Result<Vec<(BackendUserLink, BackendKey)>, OpError> {
    let links = db::backend_users::list(&ops.db, &service.id).await?;
    let lists = join_all(links.iter().map(|link| {
        let user = BackendUser {
            id: link.backend_id.clone(),
            name: link.backend_name.clone(),
        };
        async move { driver.list_keys(&user).await }
    }))
    .await;
    let mut listed = Vec::new();
    for (link, keys) in links.into_iter().zip(lists) {
        for key in keys? {
            listed.push((link.clone(), key));
        }
    }
    Ok(listed)
}

/// Compares Keyport's credentials of a service with the keys its backend lists.
async fn compare(ops: &Ops, service: &Service) -> Result<Report, OpError> {
    let settings = ops.settings(service).await?;
    let driver = ops.driver(&settings, service);
    let credentials = db::credentials::all_for_service(&ops.db, &service.id).await?;
    let known = known_keys(&credentials);
    let listed = listed_keys(ops, driver.as_ref(), service).await?;
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
    let listable = |c: &CredentialInfo| {
        driver.is_remote() && (c.kind == CredentialKind::Ec2 || service.kind == ServiceKind::S3)
    };
    let (interrupted, settled): (Vec<_>, Vec<_>) = credentials
        .into_iter()
        .map(|c| c.info)
        .partition(|c| !c.state.is_active());
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

/// The Reconcile page: the service, and its report or why the backend could not give one.
pub async fn report(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
) -> Result<(Service, Result<Report, DriverError>), OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let report = match compare(ops, &service).await {
        Ok(report) => Ok(report),
        Err(OpError::Backend(e)) => Err(e),
        Err(e) => return Err(e),
    };
    Ok((service, report))
}

/// Every key the backend lists for the service's users, with status and last use; within
/// [`KEY_STATUS_DEADLINE`], or an error saying the backend took too long.
pub(crate) async fn backend_keys(ops: &Ops, service: &Service) -> Result<Vec<BackendKey>, OpError> {
    let settings = ops.settings(service).await?;
    let driver = ops.driver(&settings, service);
    let listed = tokio::time::timeout(
        KEY_STATUS_DEADLINE,
        listed_keys(ops, driver.as_ref(), service),
    )
    .await
    .map_err(|_| {
        DriverError::Unreachable(format!(
            "the backend did not list the keys within {} s",
            KEY_STATUS_DEADLINE.as_secs()
        ))
    })??;
    Ok(listed.into_iter().map(|(_, key)| key).collect())
}

/// What to do with a key found at the backend that Keyport does not hold.
pub enum FoundKeyAction {
    /// Take it into Keyport as a credential of its user's owner. IAM never shows a secret again,
    /// so the secret is typed in; Keystone shows it.
    Adopt {
        secret: zeroize::Zeroizing<String>,
    },
    Revoke,
}

/// Adopts or revokes a key found at the backend; returns what was done.
pub async fn found_key(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    access_key: &str,
    action: FoundKeyAction,
) -> Result<String, OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let report = compare(ops, &service).await?;
    let found = report
        .unmanaged
        .iter()
        .find(|u| u.key.access_key == access_key)
        .ok_or(OpError::NotFound)?;
    let (audit, outcome) = match action {
        FoundKeyAction::Revoke => {
            let settings = ops.settings(&service).await?;
            ops.driver(&settings, &service)
                .revoke(&found.user, CredentialKind::Ec2, access_key, false)
                .await?;
            (
                AuditAction::CredentialRevoke,
                format!("{access_key} was revoked at the backend."),
            )
        }
        FoundKeyAction::Adopt { secret } => {
            let secret = found.key.secret.clone().unwrap_or(secret);
            if secret.trim().is_empty() {
                return Err(OpError::field(
                    "secret",
                    "Enter the key's secret to adopt it: the backend does not show it again.",
                ));
            }
            adopt(ops, who, &service, found, &secret).await?;
            (
                AuditAction::CredentialAdopt,
                format!("{access_key} is now a credential of {}.", found.owner_name),
            )
        }
    };
    ops.record(who, audit, &service.name, access_key).await?;
    Ok(outcome)
}

/// Takes a key found at the backend into Keyport, as a credential of the user's owner.
async fn adopt(
    ops: &Ops,
    who: &Principal,
    service: &Service,
    found: &Unmanaged,
    secret: &str,
) -> Result<String, OpError> {
    let id = db::new_id();
    let kind = if service.kind == ServiceKind::OpenStack {
        CredentialKind::Ec2
    } else {
        CredentialKind::Key
    };
    let sealed = ops
        .seal(
            ProjectId(&service.project_id),
            RowId(&id),
            Field::Secret,
            secret,
        )
        .await?;
    let name = format!("adopted {}", found.key.access_key);
    let created_by = who.signature();
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
        created_by: &created_by,
        state: CredentialState::Active,
        backend_user: &found.user.id,
        requested_by: "",
    };
    db::credentials::create(&ops.db, row, service.max_keys_per_owner, None).await?;
    Ok(id)
}

/// Removes from Keyport a credential whose key the backend no longer has; returns its name.
pub async fn forget(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    credential_id: &str,
) -> Result<String, OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let report = compare(ops, &service).await?;
    let credential = report
        .missing
        .iter()
        .find(|c| c.id == credential_id)
        .ok_or(OpError::NotFound)?;
    let record = Entry {
        project_id: Some(&who.project().id),
        actor: who.actor(),
        action: AuditAction::CredentialForget,
        target: &credential.name,
        detail: &credential.access_key,
        credential_id: None,
    };
    db::credentials::delete_recorded(&ops.db, &credential.id, &record).await?;
    Ok(credential.name.clone())
}
