//! Steps 3 and 4 of a guided rotation, going back to step 2, and abandoning it. Each writes its
//! intent on the rotation's row (one conditional update: of two people pressing the same button,
//! one acts), calls the backend, then records the outcome with its audit record.

use super::{KeyEvidence, Quiet, key_evidence, quiet_of, resting, step_failed};
use crate::{
    db::{
        self,
        audit::{Actor, Entry},
        credentials::Credential,
        rotations::Rotation,
        services::Service,
    },
    domain::{audit::AuditAction, roles::CredentialAction, rotation_steps::RotationStep},
    ops::{
        OpError, Ops, Principal,
        lifecycle::{audit_target, credential_user, failpoint, requester_json},
    },
    providers::{Deactivation, Driver},
};

/// Whether the old key may be stopped now: quiet for long enough per the evidence, or the one
/// asking said to go on anyway. The refusal says what the evidence shows.
async fn quiet_enough(
    ops: &Ops,
    driver: &dyn Driver,
    credential: &Credential,
    rotation: &Rotation,
    anyway: bool,
) -> Result<(), OpError> {
    if anyway {
        return Ok(());
    }
    let evidence: KeyEvidence = key_evidence(ops, driver, credential, "old key").await?;
    let quiet: Quiet = quiet_of(rotation, &evidence);
    if quiet.reached {
        return Ok(());
    }
    if let Err(problem) = &evidence.backend {
        return Err(OpError::Refused(format!(
            "Nothing was changed: the backend did not say when the old key was last used ({problem}). Try again, or go on anyway."
        )));
    }
    Err(OpError::Refused(if quiet.backend_records_use {
        format!(
            "Nothing was changed: the old key has not been quiet for {} yet (quiet since {}, long enough at {}). Wait, or go on anyway.",
            quiet.words(),
            crate::domain::time::utc(quiet.since),
            crate::domain::time::utc(quiet.until)
        )
    } else {
        "Nothing was changed: this backend keeps no record of a key's use, so Keyport cannot tell whether the old key is still used. Go on anyway if you know it is not.".into()
    }))
}

/// The record of a rotation step in the old key's name.
fn entry<'a>(
    service: &'a Service,
    actor: &'a Actor,
    target: &'a str,
    detail: &'a str,
) -> Entry<'a> {
    Entry {
        project_id: Some(&service.project_id),
        actor,
        action: AuditAction::CredentialRotationStep,
        target,
        detail,
        credential_id: None,
    }
}

/// What step 3 did, in words, for the audit log and the page.
pub(super) fn deactivated_words(deactivation: Deactivation, access_key: &str) -> String {
    match deactivation {
        Deactivation::AtBackend => format!(
            "step 3: {access_key} deactivated at IAM (UpdateAccessKey Inactive); a client still using it is refused"
        ),
        _ => format!(
            "step 3: {access_key} marked disabled in Keyport; nothing changed at the provider, where it still works"
        ),
    }
}

/// Step 3: the old key is made inactive at IAM, or marked disabled in Keyport where there is
/// no backend. Keystone EC2 has no inactive state: refused, its rotation goes on to step 4.
pub async fn deactivate_old(
    ops: &Ops,
    who: &Principal,
    id: &str,
    anyway: bool,
) -> Result<String, OpError> {
    let (credential, service, rotation) =
        resting(ops, who, id, CredentialAction::Regenerate).await?;
    if rotation.step != RotationStep::BothActive {
        return Err(OpError::Refused(
            "Nothing was changed: the old key is already deactivated.".into(),
        ));
    }
    let settings = ops.settings(&service).await?;
    let driver = ops.driver(&settings, &service);
    let deactivation = driver.deactivation();
    if deactivation == Deactivation::Unsupported {
        return Err(OpError::Refused(
            "Nothing was changed: Keystone has no inactive state for an EC2 key pair; it works until it is deleted. Step 4 deletes it."
                .into(),
        ));
    }
    quiet_enough(ops, driver.as_ref(), &credential, &rotation, anyway).await?;
    let _stale = ops.key_statuses.forget_later(&service.id);
    let under_way = RotationStep::Deactivating;
    let requested_by = requester_json(who.actor());
    if !db::rotations::advance(
        &ops.db,
        &credential.id,
        RotationStep::BothActive,
        under_way,
        &requested_by,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    let user = credential_user(ops, &credential).await?;
    if let Err(e) = driver
        .set_active(&user, &credential.access_key, false)
        .await
    {
        return step_failed(ops, &rotation, under_way, RotationStep::BothActive, e).await;
    }
    failpoint("after-deactivate").await;
    let detail = deactivated_words(deactivation, &credential.access_key);
    set_status_done(ops, &service, &credential, who.actor(), under_way, &detail).await?;
    Ok(detail)
}

/// Records the end of step 3 (or of going back to step 2): the rotation at rest, the old key's
/// Keyport flag as the backend now has it.
pub(super) async fn set_status_done(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
    actor: &Actor,
    under_way: RotationStep,
    detail: &str,
) -> Result<(), OpError> {
    let (to, enabled) = match under_way {
        RotationStep::Deactivating => (RotationStep::OldInactive, false),
        _ => (RotationStep::BothActive, true),
    };
    let target = audit_target(&service.name, &credential.name);
    let record = entry(service, actor, &target, detail);
    if !db::rotations::step_done(
        &ops.db,
        &credential.id,
        under_way,
        to,
        Some(enabled),
        &record,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    Ok(())
}

/// Back from step 3 to step 2: the old key works again (a client that failed when it was
/// deactivated was found, and needs time to move).
pub async fn reactivate_old(ops: &Ops, who: &Principal, id: &str) -> Result<String, OpError> {
    let (credential, service, rotation) =
        resting(ops, who, id, CredentialAction::Regenerate).await?;
    if rotation.step != RotationStep::OldInactive {
        return Err(OpError::Refused(
            "Nothing was changed: the old key is not deactivated.".into(),
        ));
    }
    let settings = ops.settings(&service).await?;
    let driver = ops.driver(&settings, &service);
    let _stale = ops.key_statuses.forget_later(&service.id);
    let under_way = RotationStep::Reactivating;
    let requested_by = requester_json(who.actor());
    if !db::rotations::advance(
        &ops.db,
        &credential.id,
        RotationStep::OldInactive,
        under_way,
        &requested_by,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    let user = credential_user(ops, &credential).await?;
    if let Err(e) = driver.set_active(&user, &credential.access_key, true).await {
        return step_failed(ops, &rotation, under_way, RotationStep::OldInactive, e).await;
    }
    failpoint("after-deactivate").await;
    let detail = reactivated_words(driver.deactivation(), &credential.access_key);
    set_status_done(ops, &service, &credential, who.actor(), under_way, &detail).await?;
    Ok(detail)
}

pub(super) fn reactivated_words(deactivation: Deactivation, access_key: &str) -> String {
    match deactivation {
        Deactivation::AtBackend => {
            format!("back to step 2: {access_key} active again at IAM (UpdateAccessKey Active)")
        }
        _ => format!("back to step 2: {access_key} enabled again in Keyport"),
    }
}

/// Step 4: the old key is deleted at the backend (or, without one, in Keyport), and the second
/// key takes the credential's name. After step 3; for a backend without an inactive state
/// (Keystone EC2) straight after step 2, once the old key is quiet (or `anyway`).
pub async fn delete_old(
    ops: &Ops,
    who: &Principal,
    id: &str,
    anyway: bool,
) -> Result<String, OpError> {
    let (credential, service, rotation) = resting(ops, who, id, CredentialAction::Delete).await?;
    let settings = ops.settings(&service).await?;
    let driver = ops.driver(&settings, &service);
    let deactivation = driver.deactivation();
    if rotation.step == RotationStep::BothActive {
        if deactivation != Deactivation::Unsupported {
            return Err(OpError::Refused(
                "Nothing was changed: deactivate the old key first (step 3), so that a client still using it fails where it can be enabled again."
                    .into(),
            ));
        }
        quiet_enough(ops, driver.as_ref(), &credential, &rotation, anyway).await?;
    }
    let _stale = ops.key_statuses.forget_later(&service.id);
    let requested_by = requester_json(who.actor());
    if !db::rotations::advance(
        &ops.db,
        &credential.id,
        rotation.step,
        RotationStep::Deleting,
        &requested_by,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    let user = credential_user(ops, &credential).await?;
    if let Err(e) = driver
        .revoke(&user, credential.kind, &credential.access_key, false)
        .await
    {
        return step_failed(ops, &rotation, RotationStep::Deleting, rotation.step, e).await;
    }
    failpoint("after-delete-old").await;
    old_deleted(ops, &service, &credential, &rotation, who.actor(), "").await
}

/// Records step 4's end in the name of `actor`: the old credential goes, the second key takes
/// its name. `how` tells how it was finished.
pub(super) async fn old_deleted(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
    rotation: &Rotation,
    actor: &Actor,
    how: &str,
) -> Result<String, OpError> {
    let new = db::credentials::find(&ops.db, &service.project_id, &rotation.new_credential_id)
        .await?
        .map(|c| c.access_key.clone())
        .unwrap_or_default();
    let where_ = if service.driver.is_remote() {
        "at the backend"
    } else {
        "in Keyport (nothing changed at the provider)"
    };
    let detail = format!(
        "step 4: {} deleted {where_}; {new} is the key of {} now{how}",
        credential.access_key, credential.name
    );
    let target = audit_target(&service.name, &credential.name);
    let record = entry(service, actor, &target, &detail);
    if !db::rotations::old_deleted(&ops.db, rotation, &credential.name, &record).await? {
        return Err(OpError::Busy);
    }
    Ok(detail)
}

pub struct Abandoned {
    pub detail: String,
    pub service: Service,
}

/// Abandons the rotation: the old key active (at IAM) and enabled in Keyport again, the second
/// key revoked at the backend and deleted.
pub async fn abandon(ops: &Ops, who: &Principal, id: &str) -> Result<Abandoned, OpError> {
    let (credential, service, rotation) =
        resting(ops, who, id, CredentialAction::Regenerate).await?;
    let stale = ops.key_statuses.forget_later(&service.id);
    let requested_by = requester_json(who.actor());
    if !db::rotations::advance(
        &ops.db,
        &credential.id,
        rotation.step,
        RotationStep::Abandoning,
        &requested_by,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    let settings = ops.settings(&service).await?;
    let driver = ops.driver(&settings, &service);
    // A failure half-way (the old key enabled again, the second not yet revoked) cannot be put
    // back as it was: the abandon stays under way, and reconcile finishes it.
    if let Err(e) = put_back(ops, driver.as_ref(), &credential, &rotation).await {
        return Err(match e {
            OpError::Backend(e) => OpError::Refused(format!(
                "The abandon did not finish: {e}. Reconcile finishes it when the backend answers."
            )),
            e => e,
        });
    }
    failpoint("after-abandon").await;
    let detail = abandoned(ops, &service, &credential, &rotation, who.actor(), "").await?;
    drop(driver);
    drop(stale);
    Ok(Abandoned { detail, service })
}

/// The backend's part of an abandon: the old key active again where the backend deactivated
/// it, the second key revoked. Both are harmless to repeat.
pub(super) async fn put_back(
    ops: &Ops,
    driver: &dyn Driver,
    credential: &Credential,
    rotation: &Rotation,
) -> Result<(), OpError> {
    let user = credential_user(ops, credential).await?;
    if driver.deactivation() == Deactivation::AtBackend {
        driver
            .set_active(&user, &credential.access_key, true)
            .await?;
    }
    if let Some(new) =
        db::credentials::find(&ops.db, &credential.project_id, &rotation.new_credential_id).await?
    {
        let new_user = credential_user(ops, &new).await?;
        driver
            .revoke(&new_user, new.kind, &new.access_key, false)
            .await?;
    }
    Ok(())
}

/// Records the end of an abandon in the name of `actor`.
pub(super) async fn abandoned(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
    rotation: &Rotation,
    actor: &Actor,
    how: &str,
) -> Result<String, OpError> {
    let new = db::credentials::find(&ops.db, &service.project_id, &rotation.new_credential_id)
        .await?
        .map(|c| c.access_key.clone())
        .unwrap_or_default();
    let detail = format!(
        "rotation abandoned: {} works and is enabled again; the second key {new} was deleted{how}",
        credential.access_key
    );
    let target = audit_target(&service.name, &credential.name);
    let record = entry(service, actor, &target, &detail);
    if !db::rotations::abandoned(&ops.db, rotation, &record).await? {
        return Err(OpError::Busy);
    }
    Ok(detail)
}
