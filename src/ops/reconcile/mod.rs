//! Reconcile: finishes or undoes the operations a stopped process left half-done (at start, then
//! every minute, or when an admin asks); and (in `report`) compares a service's credentials with
//! the keys its backend lists, so that an admin can adopt, revoke or forget what only one side
//! knows.

mod report;

pub(crate) use report::backend_keys;
pub use report::{FoundKeyAction, Report, Unmanaged, forget, found_key, report};

use std::time::Duration;

use anyhow::Context;

use super::{
    Field, OpError, Ops, Principal, ProjectId, RowId, credentials,
    lifecycle::{self, audit_target, chosen_key, credential_user, known_keys, not_yet},
    services::managed_service,
};
use crate::{
    db::{
        self,
        audit::{Actor, Entry},
        credentials::Credential,
    },
    domain::{
        audit::AuditAction,
        services::{CredentialKind, CredentialState},
    },
    providers::{BackendUser, Driver, IssuedKey},
};

/// How long an operation may take before a periodic reconcile treats it as interrupted: longer
/// than every backend timeout of one operation together.
pub const INTERRUPTED_AFTER: Duration = Duration::from_secs(300);

/// How long the start waits for reconcile before serving; what is left is done in the background.
const START_RECONCILE_LIMIT: Duration = Duration::from_secs(30);

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
/// is revoked, so keys made outside Keyport stay. While another change of the same backend user
/// may be waiting for a key the backend chooses, an unknown key may be that change's: nothing is
/// revoked, and `credential` waits for the next round.
async fn revoke_unknown_unless_chosen(
    ops: &Ops,
    driver: &dyn Driver,
    credential: &Credential,
    user: &BackendUser,
    chosen: &Option<IssuedKey>,
) -> Result<Vec<String>, OpError> {
    if chosen.is_some() {
        return Ok(Vec::new());
    }
    // Listed before the rows are read: a change that got its key before the list has its row
    // by then, so it is seen below; one that gets its key after is not in the list.
    let listed = driver.list_keys(user).await?;
    let credentials = db::credentials::all_for_service(&ops.db, &credential.service_id).await?;
    let may_be_under_way = db::now() - INTERRUPTED_AFTER.as_secs() as i64;
    let awaits_key = |c: &Credential| match c.state {
        CredentialState::Creating => c.access_key.is_empty(),
        CredentialState::Rotating => c.pending_access_key.is_empty(),
        _ => false,
    };
    if credentials.iter().any(|c| {
        c.id != credential.id
            && c.backend_user == credential.backend_user
            && awaits_key(c)
            && c.state_since.unwrap_or(0) > may_be_under_way
    }) {
        return Err(OpError::Refused(
            "another change of the same backend user is under way; this one is finished after it"
                .into(),
        ));
    }
    let known = known_keys(&credentials);
    let mut revoked = Vec::new();
    for key in listed {
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
                credential_id: None,
            };
            db::credentials::activate(&ops.db, id, &key.access_key, &credential.secret, &record)
                .await?;
            (format!("finished: {} is in use", key.access_key), false)
        }
        (CredentialState::Creating, chosen) => {
            // Revoked first: if the backend fails, the row stays for the next round.
            let revoked =
                revoke_unknown_unless_chosen(ops, driver, credential, &user, &chosen).await?;
            db::credentials::delete(&ops.db, id).await?;
            let outcome = format!(
                "undone: the credential was not added; revoked at the backend: {revoked:?}"
            );
            (outcome, true)
        }
        (CredentialState::Rotating, Some(key)) if live => {
            let sealed = ops.seal(project, row, Field::Secret, &key.secret).await?;
            credentials::rotated(
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
                revoke_unknown_unless_chosen(ops, driver, credential, &user, &chosen).await?;
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
            credentials::forget_deleted(ops, &service, credential, &requester, FINISHED_LATER)
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
    let silent_since = db::now() - ops.process_timeout.as_secs() as i64;
    for credential in db::credentials::interrupted(&ops.db, cutoff, silent_since).await? {
        if service_id.is_some_and(|id| id != credential.service_id) {
            continue;
        }
        // Another process may have found it too: the one that takes it over finishes it.
        if !db::credentials::claim(&ops.db, &credential).await? {
            continue;
        }
        let outcome = match finish(ops, &credential, actor).await {
            Ok(outcome) => {
                tracing::info!(credential = %credential.id, %outcome, "reconciled an interrupted operation");
                outcome
            }
            Err(e) => {
                tracing::warn!(credential = %credential.id, error = %e, "cannot reconcile yet");
                not_yet(&e)
            }
        };
        outcomes.push((credential.name.clone(), outcome));
    }
    Ok(outcomes)
}

/// Announces this process, reconciles what stopped processes left before the portal serves,
/// then in the background: keeps this process announced, and finishes what other processes left
/// when they fall silent, and operations older than [`INTERRUPTED_AFTER`].
///
/// `dead` are processes of this host known to have stopped (`db::host_processes`): what they
/// left is finished in this first round, without waiting for them to fall silent.
pub async fn reconcile_and_spawn(ops: Ops, dead: &[String]) {
    if let Err(e) = db::instances::register(&ops.db).await {
        tracing::warn!(error = %e, "cannot announce this process");
    }
    let silent_at = db::now() - ops.process_timeout.as_secs() as i64 - 1;
    for id in dead {
        match db::instances::forget_dead(&ops.db, id, silent_at).await {
            Ok(()) => {
                tracing::info!(process = %id, "a process of this host stopped without finishing; its operations are finished now")
            }
            Err(e) => tracing::warn!(error = %e, "cannot mark a stopped process"),
        }
    }
    let actor = reconciler();
    match tokio::time::timeout(START_RECONCILE_LIMIT, round(&ops, &actor)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "reconcile at start failed"),
        Err(_) => tracing::warn!("reconcile at start takes long; going on in the background"),
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ops.process_timeout / 3);
        loop {
            tick.tick().await;
            if let Err(e) = db::instances::heartbeat(&ops.db).await {
                tracing::warn!(error = %e, "cannot tell other processes this one is running");
            }
            if let Err(e) = round(&ops, &actor).await {
                tracing::warn!(error = %e, "reconcile failed");
            }
        }
    });
}

/// One round of reconcile, by the process that holds the lease.
async fn round(ops: &Ops, actor: &Actor) -> Result<(), OpError> {
    if !db::instances::take_lease(&ops.db, "reconcile", ops.process_timeout).await? {
        return Ok(());
    }
    let cutoff = db::now() - INTERRUPTED_AFTER.as_secs() as i64;
    finish_interrupted(ops, cutoff, None, actor).await?;
    // After the credentials: a rotation's step 1 waits for its second key's row to be settled.
    super::rotation::finish_interrupted(ops, cutoff, None, actor).await?;
    Ok(())
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
    let mut outcomes = finish_interrupted(ops, cutoff, Some(&service.id), who.actor()).await?;
    outcomes.extend(
        super::rotation::finish_interrupted(ops, cutoff, Some(&service.id), who.actor()).await?,
    );
    Ok(outcomes)
}
