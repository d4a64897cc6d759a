//! Reconcile's part of guided rotation: a step left under way by a stopped process is finished
//! (or, for a step 1 that made no second key, undone), in the name of whoever asked for it.
//!
//! | step under way | backend may have | reconcile |
//! |---|---|---|
//! | `creating` | the second key | once the second key's own row is settled (credential reconcile): active → step 2; gone → the rotation goes |
//! | `deactivating` | the old key inactive | deactivate it (again), → step 4 |
//! | `reactivating` | the old key active | activate it (again), → step 2 |
//! | `deleting` | the old key deleted | delete it (again), drop its row, the second key takes its name |
//! | `abandoning` | the old key active, the second revoked | both (again), drop the second key's row and the rotation |

use super::steps::{
    abandoned, deactivated_words, old_deleted, put_back, reactivated_words, set_status_done,
};
use crate::{
    db::{self, audit::Actor, rotations::Rotation},
    domain::{audit::AuditAction, rotation_steps::RotationStep},
    ops::{
        OpError, Ops,
        lifecycle::{audit_target, credential_user, not_yet},
    },
};

/// Said in the audit log of a step that reconcile finished.
const FINISHED_LATER: &str = " (finished by reconcile after an interruption)";

/// Finishes every rotation step interrupted before `cutoff`, of one service or of all, auditing
/// each as done by `actor`. Returns each credential's name and what came of it.
pub(crate) async fn finish_interrupted(
    ops: &Ops,
    cutoff: i64,
    service_id: Option<&str>,
    actor: &Actor,
) -> Result<Vec<(String, String)>, OpError> {
    let mut outcomes = Vec::new();
    let silent_since = db::now() - ops.process_timeout.as_secs() as i64;
    for rotation in db::rotations::interrupted(&ops.db, cutoff, silent_since).await? {
        let Some(credential) =
            db::credentials::find(&ops.db, &rotation.project_id, &rotation.credential_id).await?
        else {
            continue;
        };
        if service_id.is_some_and(|id| id != credential.service_id) {
            continue;
        }
        if !db::rotations::claim(&ops.db, &rotation).await? {
            continue;
        }
        let outcome = match finish(ops, &rotation, actor).await {
            Ok(outcome) => {
                tracing::info!(credential = %credential.id, %outcome, "reconciled an interrupted rotation step");
                outcome
            }
            Err(e) => {
                tracing::warn!(credential = %credential.id, error = %e, "cannot reconcile a rotation step yet");
                not_yet(&e)
            }
        };
        outcomes.push((credential.name.clone(), outcome));
    }
    Ok(outcomes)
}

/// Finishes or undoes one interrupted step, auditing it: the step in the name of whoever asked
/// for it, and reconcile's own record as done by `actor`.
async fn finish(ops: &Ops, rotation: &Rotation, actor: &Actor) -> Result<String, OpError> {
    let credential = db::credentials::find(&ops.db, &rotation.project_id, &rotation.credential_id)
        .await?
        .ok_or(OpError::NotFound)?;
    let service = db::services::find(&ops.db, &credential.project_id, &credential.service_id)
        .await?
        .ok_or(OpError::NotFound)?;
    let settings = ops.settings(&service).await?;
    let driver = ops.driver(&settings, &service);
    let _stale = ops.key_statuses.forget_later(&service.id);
    let requester: Actor =
        serde_json::from_str(&rotation.requested_by).unwrap_or_else(|_| actor.clone());
    let target = audit_target(&service.name, &credential.name);
    let outcome = match rotation.step {
        RotationStep::Creating => {
            let new =
                db::credentials::find(&ops.db, &rotation.project_id, &rotation.new_credential_id)
                    .await?;
            match new {
                None => {
                    db::rotations::forget_unstarted(&ops.db, &credential.id).await?;
                    format!(
                        "undone: step 1 made no second key; {} stays as it was; asked for by {}",
                        credential.access_key, requester.label
                    )
                }
                Some(new) if new.state.is_active() => {
                    let detail = format!(
                        "step 1: second key {} made beside {}{FINISHED_LATER}",
                        new.access_key, credential.access_key
                    );
                    let record = db::audit::Entry {
                        project_id: Some(&service.project_id),
                        actor: &requester,
                        action: AuditAction::CredentialRotationStep,
                        target: &target,
                        detail: &detail,
                        credential_id: None,
                    };
                    db::rotations::step_done(
                        &ops.db,
                        &credential.id,
                        RotationStep::Creating,
                        RotationStep::BothActive,
                        None,
                        &record,
                    )
                    .await?;
                    format!("finished: step 1, {} made", new.access_key)
                }
                Some(_) => {
                    return Err(OpError::Refused(
                        "the second key's own change is finished first".into(),
                    ));
                }
            }
        }
        step @ (RotationStep::Deactivating | RotationStep::Reactivating) => {
            let active = step == RotationStep::Reactivating;
            let user = credential_user(ops, &credential).await?;
            driver
                .set_active(&user, &credential.access_key, active)
                .await?;
            let words = if active {
                reactivated_words(driver.deactivation(), &credential.access_key)
            } else {
                deactivated_words(driver.deactivation(), &credential.access_key)
            };
            let detail = format!("{words}{FINISHED_LATER}");
            set_status_done(ops, &service, &credential, &requester, step, &detail).await?;
            format!("finished: {words}")
        }
        RotationStep::Deleting => {
            let user = credential_user(ops, &credential).await?;
            driver
                .revoke(&user, credential.kind, &credential.access_key, false)
                .await?;
            let detail = old_deleted(
                ops,
                &service,
                &credential,
                rotation,
                &requester,
                FINISHED_LATER,
            )
            .await?;
            format!("finished: {detail}")
        }
        RotationStep::Abandoning => {
            put_back(ops, driver.as_ref(), &credential, rotation).await?;
            let detail = abandoned(
                ops,
                &service,
                &credential,
                rotation,
                &requester,
                FINISHED_LATER,
            )
            .await?;
            format!("finished: {detail}")
        }
        RotationStep::BothActive | RotationStep::OldInactive => {
            return Ok("nothing to do".into());
        }
    };
    db::audit::record(
        &ops.db,
        Some(&credential.project_id),
        actor,
        AuditAction::CredentialReconcile,
        &target,
        &format!("rotation {outcome}"),
    )
    .await?;
    Ok(outcome)
}
