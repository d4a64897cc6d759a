//! Reconcile: finishes or undoes the operations a stopped process left half-done (at start, then
//! every minute, or when an admin asks), and compares a service's credentials with the keys its
//! backend lists, so that an admin can adopt, revoke or forget what only one side knows.

use std::time::Duration;

use anyhow::Context;
use futures_util::future::join_all;

use super::{
    Field, OpError, Ops, Principal, ProjectId, RowId,
    lifecycle::{self, audit_target, chosen_key, credential_user, known_keys},
    services::managed_service,
};
use crate::{
    db::{
        self,
        audit::{Actor, Entry},
        backend_users::BackendUserLink,
        credentials::{Credential, NewCredential, Owner},
        services::Service,
    },
    domain::{
        audit::AuditAction,
        services::{CredentialKind, CredentialState, ServiceKind},
    },
    providers::{BackendKey, BackendUser, Driver, DriverError, IssuedKey},
};

/// How long an operation may take before a periodic reconcile treats it as interrupted: longer
/// than every backend timeout of one operation together.
pub const INTERRUPTED_AFTER: Duration = Duration::from_secs(300);

/// How long the start waits for reconcile before serving; what is left is done in the background.
const START_RECONCILE_LIMIT: Duration = Duration::from_secs(30);

/// How long a page waits for the backend's list of keys before it shows the page without it.
pub const KEY_STATUS_DEADLINE: Duration = Duration::from_secs(3);

/// Said in the audit log of an operation that reconcile finished.
const FINISHED_LATER: &str = " (finished by reconcile after an interruption)";

/// The actor of the reconciles Keyport runs by itself.
fn reconciler() -> Actor {
    Actor {
        label: "keyport (reconcile)".into(),
        ..Actor::default()
    }
}

/// Who asked for a credential's unfinished operation; `fallback` when the row does not say.
fn requester(credential: &Credential, fallback: &Actor) -> Actor {
    serde_json::from_str(&credential.requested_by).unwrap_or_else(|_| fallback.clone())
}

/// Revokes the keys of `user` at the backend that no credential of the service knows: left by
/// an operation interrupted after the backend issued a key Keyport never recorded. Only where the
/// backend chose the key (`chosen` is `None`) can an unknown key be that one; otherwise nothing
/// is revoked, so keys made outside Keyport stay.
async fn revoke_unknown_unless_chosen(
    ops: &Ops,
    driver: &dyn Driver,
    service: &Service,
    user: &BackendUser,
    chosen: &Option<IssuedKey>,
) -> Result<Vec<String>, OpError> {
    if chosen.is_some() {
        return Ok(Vec::new());
    }
    let credentials = db::credentials::all_for_service(&ops.db, &service.id).await?;
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

/// Finishes or undoes one interrupted operation, auditing it: a finished operation in the name
/// of whoever asked for it, with its keys; an undone one as done by `actor`. Returns what was
/// done.
pub(crate) async fn finish(
    ops: &Ops,
    credential: &Credential,
    actor: &Actor,
) -> Result<String, OpError> {
    let service = db::services::find(&ops.db, &credential.project_id, &credential.service_id)
        .await?
        .context("the credential's service is gone")?;
    let settings = ops.settings(&service).await?;
    let driver = ops.driver(&settings, &service);
    let driver = driver.as_ref();
    let user = credential_user(ops, credential).await?;
    let requester = requester(credential, actor);
    let chosen = chosen_key(ops, credential).await?;
    let live = match &chosen {
        Some(key) => driver.is_live(&user, credential.kind, key).await?,
        None => false,
    };
    let id = &credential.id;
    let (project, row) = (ProjectId(&service.project_id), RowId(id));
    let (outcome, undone) = match (credential.state, chosen) {
        (CredentialState::Creating, Some(key)) if live => {
            let target = audit_target(&service.name, &credential.name);
            let detail = format!("{}{FINISHED_LATER}", key.access_key);
            let record = Entry {
                project_id: Some(&service.project_id),
                actor: &requester,
                action: AuditAction::CredentialCreate,
                target: &target,
                detail: &detail,
            };
            db::credentials::activate(&ops.db, id, &key.access_key, &credential.secret, &record)
                .await?;
            (format!("finished: {} is in use", key.access_key), false)
        }
        (CredentialState::Creating, chosen) => {
            // Revoked first: if the backend fails, the row stays for the next round.
            let revoked =
                revoke_unknown_unless_chosen(ops, driver, &service, &user, &chosen).await?;
            db::credentials::delete(&ops.db, id).await?;
            let outcome = format!(
                "undone: the credential was not added; revoked at the backend: {revoked:?}"
            );
            (outcome, true)
        }
        (CredentialState::Rotating, Some(key)) if live => {
            let sealed = ops.seal(project, row, Field::Secret, &key.secret).await?;
            lifecycle::rotated(
                ops,
                &service,
                credential,
                &key.access_key,
                &sealed,
                &requester,
                FINISHED_LATER,
            )
            .await?;
            lifecycle::retire(ops, driver, credential, &user, &credential.access_key).await?;
            let outcome = format!(
                "finished: {} replaced {}",
                key.access_key, credential.access_key
            );
            (outcome, false)
        }
        (CredentialState::Rotating, chosen) => {
            let revoked =
                revoke_unknown_unless_chosen(ops, driver, &service, &user, &chosen).await?;
            db::credentials::set_state(&ops.db, id, CredentialState::Active, None, "").await?;
            let outcome = format!(
                "undone: {} stays; revoked at the backend: {revoked:?}",
                credential.access_key
            );
            (outcome, true)
        }
        (CredentialState::Retiring, _) => {
            let old = credential.pending_access_key.clone();
            lifecycle::retire(ops, driver, credential, &user, &old).await?;
            (format!("finished: {old} revoked"), false)
        }
        (CredentialState::Deleting, _) => {
            driver
                .revoke(&user, credential.kind, &credential.access_key, false)
                .await?;
            lifecycle::forget_deleted(ops, &service, credential, &requester, FINISHED_LATER)
                .await?;
            (
                format!("finished: {} deleted", credential.access_key),
                false,
            )
        }
        (CredentialState::Active, _) => return Ok("nothing to do".into()),
    };
    let detail = if undone {
        format!("{outcome}; asked for by {}", requester.label)
    } else {
        outcome.clone()
    };
    db::audit::record(
        &ops.db,
        Some(&credential.project_id),
        actor,
        AuditAction::CredentialReconcile,
        &audit_target(&service.name, &credential.name),
        &detail,
    )
    .await?;
    Ok(outcome)
}

/// Finishes every operation interrupted before `cutoff` (Unix seconds), of one service or of
/// all, auditing each as done by `actor`. Returns each credential's name and what came of it; a
/// backend that does not answer leaves its credentials as they are, for the next round.
async fn finish_interrupted(
    ops: &Ops,
    cutoff: i64,
    service_id: Option<&str>,
    actor: &Actor,
) -> Result<Vec<(String, String)>, OpError> {
    let mut outcomes = Vec::new();
    for credential in db::credentials::interrupted(&ops.db, cutoff).await? {
        if service_id.is_some_and(|id| id != credential.service_id) {
            continue;
        }
        let outcome = match finish(ops, &credential, actor).await {
            Ok(outcome) => {
                tracing::info!(credential = %credential.id, %outcome, "reconciled an interrupted operation");
                outcome
            }
            Err(e) => {
                tracing::warn!(credential = %credential.id, error = %e, "cannot reconcile yet");
                match e {
                    OpError::Internal(_) => "not yet: Keyport met an error (see its log)".into(),
                    e => format!("not yet: {}", e.message()),
                }
            }
        };
        outcomes.push((credential.name, outcome));
    }
    Ok(outcomes)
}

/// Reconciles everything before the portal serves (no operation of this process is under way
/// yet), then, in the background, every minute the operations older than [`INTERRUPTED_AFTER`].
pub async fn reconcile_and_spawn(ops: Ops) {
    let actor = reconciler();
    let everything = finish_interrupted(&ops, i64::MAX, None, &actor);
    match tokio::time::timeout(START_RECONCILE_LIMIT, everything).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "reconcile at start failed"),
        Err(_) => tracing::warn!("reconcile at start takes long; going on in the background"),
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(INTERRUPTED_AFTER / 5).await;
            let cutoff = db::now() - INTERRUPTED_AFTER.as_secs() as i64;
            if let Err(e) = finish_interrupted(&ops, cutoff, None, &actor).await {
                tracing::warn!(error = %e, "reconcile failed");
            }
        }
    });
}

/// The Reconcile page's "Finish or undo them now", for one service: only operations older than
/// any request could take, never one still under way.
pub async fn finish_now(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
) -> Result<Vec<(String, String)>, OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let cutoff = db::now() - INTERRUPTED_AFTER.as_secs() as i64;
    finish_interrupted(ops, cutoff, Some(&service.id), &who.actor).await
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
    let listable = |c: &Credential| {
        driver.is_remote() && (c.kind == CredentialKind::Ec2 || service.kind == ServiceKind::S3)
    };
    let (interrupted, settled): (Vec<_>, Vec<_>) =
        credentials.into_iter().partition(|c| !c.state.is_active());
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
        project_id: Some(&who.project.id),
        actor: &who.actor,
        action: AuditAction::CredentialForget,
        target: &credential.name,
        detail: &credential.access_key,
    };
    db::credentials::delete_recorded(&ops.db, &credential.id, &record).await?;
    Ok(credential.name.clone())
}
