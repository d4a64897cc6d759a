//! Guided rotation: a credential's key replaced in four steps that may be days apart, with the
//! state on the server (`rotations`), so that every process shows it and it can be resumed or
//! abandoned after a restart.
//!
//! 1. `start`: a second key for the same owner, within the service's limit (an ordinary
//!    credential, made the way Add makes one).
//! 2. Both keys work; the page shows the evidence of use of each ([`view`]) and waits until
//!    the old key has been quiet for the chosen time ([`set_quiet`]).
//! 3. `deactivate_old`: the old key is made inactive where the backend can (IAM), or marked
//!    disabled in Keyport where there is no backend; Keystone EC2 has no inactive state, so its
//!    rotation goes from step 2 to step 4. `reactivate_old` goes back to step 2.
//! 4. `delete_old`: the old key is deleted; the second key takes the credential's name.
//!
//! `abandon` puts things back: the old key active and enabled, the second key deleted.
//!
//! Each step writes its intent on the rotation's row (the step under way, who asked, the
//! process) before the backend is called, and its outcome with its audit record after; a step
//! left under way is finished or undone by reconcile ([`resume`]).

mod resume;
mod steps;
mod view;

pub(crate) use resume::finish_interrupted;
pub use steps::{
    Abandoned, StartRotation, Started, abandon, deactivate_old, delete_old, reactivate_old,
    set_quiet, start,
};
pub use view::{KeyEvidence, KeyportUse, Quiet, RotationView, marks, view};

use super::{OpError, Ops, Principal, credentials::managed, lifecycle::backend_failed};
use crate::{
    db::{self, credentials::Credential, rotations::Rotation, services::Service},
    domain::{
        roles::CredentialAction,
        rotation_steps::RotationStep,
        services::{CredentialKind, ServiceKind},
    },
};

/// Why the credential cannot be rotated in two keys, if it cannot.
async fn why_not(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
) -> Result<Option<String>, OpError> {
    if !credential.state.is_active() {
        return Ok(Some(
            "Another change to this credential is under way; Reconcile finishes it.".into(),
        ));
    }
    if service.driver.is_remote()
        && service.kind == ServiceKind::OpenStack
        && credential.kind == CredentialKind::Key
    {
        return Ok(Some(
            "A Keystone user has one password: two cannot work at once. Use Regenerate, or rotate an EC2 key pair.".into(),
        ));
    }
    let held = db::credentials::count_for_owner(&ops.db, &service.id, &credential.owner).await?;
    if held >= service.max_keys_per_owner {
        return Ok(Some(format!(
            "{} already holds {held} of the {} keys this service allows for an owner: a second key needs a free place. Delete an unused key, or use Regenerate.",
            credential.owner_name, service.max_keys_per_owner
        )));
    }
    Ok(None)
}

/// The credential `id`'s rotation at rest, if the principal may do `action` to the credential
/// (step-up checked): the old key's credential, its service and the rotation.
async fn resting(
    ops: &Ops,
    who: &Principal,
    id: &str,
    action: CredentialAction,
) -> Result<(Credential, Service, Rotation), OpError> {
    let rotation = db::rotations::involving(&ops.db, &who.project().id, id).await?;
    let old_id = rotation.as_ref().map_or(id, |r| r.credential_id.as_str());
    let (credential, service) = managed(ops, who, old_id, action).await?;
    ops.require_fresh(who.freshness()).await?;
    let rotation = rotation.ok_or_else(|| {
        OpError::Refused("This credential is not being rotated: step 1 starts a rotation.".into())
    })?;
    if !rotation.step.is_resting() {
        return Err(OpError::Busy);
    }
    Ok((credential, service, rotation))
}

/// Refuses Regenerate, Delete and a change of the enabled flag of a credential that takes part
/// in a rotation: the rotation's steps do those.
pub(crate) async fn refuse_if_rotating(ops: &Ops, credential: &Credential) -> Result<(), OpError> {
    match db::rotations::involving(&ops.db, &credential.project_id, &credential.id).await? {
        Some(_) => Err(OpError::Refused(
            "Nothing was changed: this key takes part in a rotation in two keys. Finish or abandon the rotation first (Rotate with two keys)."
                .into(),
        )),
        None => Ok(()),
    }
}

/// The backend failed during a step whose intent was written: a certain failure puts the
/// rotation back at `from`; an uncertain one leaves the step for reconcile.
async fn step_failed<T>(
    ops: &Ops,
    rotation: &Rotation,
    under_way: RotationStep,
    from: RotationStep,
    error: crate::providers::DriverError,
) -> Result<T, OpError> {
    let restore = db::rotations::advance(&ops.db, &rotation.credential_id, under_way, from, "");
    backend_failed(error, restore).await
}
