//! The steps of a guided rotation: 1 (the second key), 2 (its quiet period), 3 and 4, going back
//! to step 2, and abandoning it. Each writes its intent on the rotation's row (one conditional
//! update: of two people pressing the same button, one acts), calls the backend, then records
//! the outcome with its audit record.

use std::sync::Arc;

use super::{
    resting, step_failed,
    view::{KeyEvidence, Quiet, key_evidence, quiet_of},
    why_not,
};
use crate::{
    db::{
        self,
        audit::{Actor, Entry},
        credentials::{Credential, CredentialInfo, NewCredential},
        rotations::Rotation,
        services::Service,
    },
    domain::{
        audit::AuditAction,
        roles::CredentialAction,
        rotation_steps::{RotationStep, parse_quiet, quiet_words},
        services::CredentialState,
        validate,
    },
    ops::{
        Field, FieldErrors, OpError, Ops, Principal, ProjectId, RowId,
        credentials::{self, NewKey, managed},
        lifecycle::{audit_target, credential_user, failpoint, requester_json},
    },
    providers::{Deactivation, Driver, IssuedKey},
};

/// Step 1 as asked: the quiet period, and (for a service without a backend) the new key as
/// its provider gave it.
pub struct StartRotation {
    pub quiet: String,
    pub typed: Option<IssuedKey>,
}

pub struct Started {
    pub credential: Arc<CredentialInfo>,
    pub new_credential: Arc<CredentialInfo>,
    pub service: Service,
}

/// The quiet period as typed, or the field's error.
fn quiet_seconds(typed: &str) -> Result<i64, OpError> {
    let typed = if typed.trim().is_empty() { "1d" } else { typed };
    parse_quiet(typed).map_err(|message| OpError::field("quiet", message))
}

/// The name of the second key while both exist: the old key's, marked.
fn second_name(name: &str) -> String {
    let base: String = name.chars().take(94).collect();
    format!("{base} (new)")
}

/// Step 1: the second key, for the same owner, within the service's limit. The rotation's row
/// is written first (the intent); the key is made the way Add makes one (its own intent on its
/// row); then the rotation rests at step 2.
pub async fn start(
    ops: &Ops,
    who: &Principal,
    id: &str,
    input: StartRotation,
) -> Result<Started, OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Regenerate).await?;
    ops.require_fresh(who.freshness()).await?;
    let mut errors = FieldErrors::default();
    let typed_quiet = if input.quiet.trim().is_empty() {
        "1d"
    } else {
        input.quiet.as_str()
    };
    let quiet = parse_quiet(typed_quiet).unwrap_or_else(|message| {
        errors.add("quiet", message);
        0
    });
    if let Some(key) = &input.typed {
        if service.driver.is_remote() {
            errors.add(
                "secret",
                "This service's keys are issued by its backend; step 1 asks it for the second key.",
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
    }
    errors.into_result()?;
    if db::rotations::involving(&ops.db, &service.project_id, &credential.id)
        .await?
        .is_some()
    {
        return Err(OpError::Refused(
            "This credential is already being rotated: its rotation page shows the step it is at."
                .into(),
        ));
    }
    if let Some(why) = why_not(ops, &service, &credential).await? {
        return Err(OpError::Refused(format!("Nothing was changed: {why}")));
    }
    let new_id = db::new_id();
    let requested_by = requester_json(who.actor());
    if !db::rotations::start(
        &ops.db,
        &service.project_id,
        &credential.id,
        &new_id,
        quiet,
        &who.signature(),
        &requested_by,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    let name = second_name(&credential.name);
    let made = match input.typed {
        Some(key) => record_typed(ops, who, &service, &credential, &new_id, &name, key).await,
        None => {
            let user = credential_user(ops, &credential).await?;
            let new = NewKey {
                id: &new_id,
                service: &service,
                owner: &credential.owner,
                backend_name: &user.name,
                kind: credential.kind,
                name: &name,
                description: &credential.description,
                expires_at: None,
                created_by: &who.signature(),
                requested_by: who.actor(),
            };
            credentials::add_at_backend(ops, new).await.map(|_| ())
        }
    };
    if let Err(e) = made {
        // No second key row: step 1 did not happen, and the rotation goes. Otherwise the
        // backend may have acted: reconcile finishes or undoes both.
        if db::credentials::find(&ops.db, &service.project_id, &new_id)
            .await?
            .is_none()
        {
            db::rotations::forget_unstarted(&ops.db, &credential.id).await?;
        }
        return Err(e);
    }
    failpoint("after-second-key").await;
    let new_credential = db::credentials::find(&ops.db, &service.project_id, &new_id)
        .await?
        .ok_or(OpError::Busy)?;
    let detail = format!(
        "step 1: second key {} made beside {}; quiet period {}",
        new_credential.access_key,
        credential.access_key,
        quiet_words(quiet)
    );
    let target = audit_target(&service.name, &credential.name);
    let record = Entry {
        project_id: Some(&service.project_id),
        actor: who.actor(),
        action: AuditAction::CredentialRotationStep,
        target: &target,
        detail: &detail,
        credential_id: None,
    };
    if !db::rotations::step_done(
        &ops.db,
        &credential.id,
        RotationStep::Creating,
        RotationStep::BothActive,
        None,
        &record,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    Ok(Started {
        credential: credential.info,
        new_credential: new_credential.info,
        service,
    })
}

/// The second key of a service without a backend, as its provider gave it: recorded at once.
async fn record_typed(
    ops: &Ops,
    who: &Principal,
    service: &Service,
    credential: &Credential,
    new_id: &str,
    name: &str,
    key: IssuedKey,
) -> Result<(), OpError> {
    let access_key = key.access_key.trim();
    let sealed = ops
        .seal(
            ProjectId(&service.project_id),
            RowId(new_id),
            Field::Secret,
            &key.secret,
        )
        .await?;
    let target = audit_target(&service.name, name);
    let record = Entry {
        project_id: Some(&service.project_id),
        actor: who.actor(),
        action: AuditAction::CredentialImport,
        target: &target,
        detail: access_key,
        credential_id: None,
    };
    let new = NewCredential {
        id: new_id,
        project_id: &service.project_id,
        service_id: &service.id,
        owner: &credential.owner,
        kind: credential.kind,
        name,
        description: &credential.description,
        access_key,
        secret: &sealed,
        expires_at: None,
        created_by: &who.signature(),
        state: CredentialState::Active,
        backend_user: "",
        requested_by: "",
    };
    db::credentials::create(&ops.db, new, service.max_keys_per_owner, Some(&record)).await?;
    Ok(())
}

/// Changes how long the old key must have gone unused before step 3 is offered.
pub async fn set_quiet(ops: &Ops, who: &Principal, id: &str, typed: &str) -> Result<i64, OpError> {
    let (credential, service, _) = resting(ops, who, id, CredentialAction::Regenerate).await?;
    let seconds = quiet_seconds(typed)?;
    if !db::rotations::set_quiet(&ops.db, &credential.id, seconds).await? {
        return Err(OpError::Busy);
    }
    db::audit::record(
        &ops.db,
        Some(&service.project_id),
        who.actor(),
        AuditAction::CredentialRotationStep,
        &audit_target(&service.name, &credential.name),
        &format!("step 2: quiet period set to {}", quiet_words(seconds)),
    )
    .await?;
    Ok(seconds)
}

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
