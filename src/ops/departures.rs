//! A member leaves a project: what they hold and what they saw is shown before, their own keys
//! are revoked at the backend (each through Delete, which records its intent first and is
//! finished by Reconcile after a crash) or left, and the keys of others they saw are flagged
//! "rotate: seen by a departed member" until regenerated. All of it audited.

use super::{OpError, Ops, Principal, credentials, members};
use crate::{
    db::{self, departures::DepartureKey, users::User},
    domain::{
        audit::AuditAction,
        roles::{Action, CredentialAction, Whose},
        time::now,
    },
};

/// What a member leaving the project leaves behind.
pub struct Departure {
    pub user: User,
    /// The keys they hold in the project.
    pub held: Vec<DepartureKey>,
    /// The keys of others whose secret they showed, copied or downloaded since the key last changed.
    pub seen: Vec<DepartureKey>,
}

/// What removing `user_id` from the project would leave behind, for its confirmation.
pub async fn departure(ops: &Ops, who: &Principal, user_id: &str) -> Result<Departure, OpError> {
    who.require(Action::ManageMembers)?;
    let member = members::to_remove(ops, who, user_id).await?;
    let user = db::users::find(&ops.db, &member.user_id)
        .await?
        .ok_or(OpError::NotFound)?;
    let project = &who.project().id;
    Ok(Departure {
        held: db::departures::held(&ops.db, project, user_id).await?,
        seen: db::departures::seen(&ops.db, project, user_id).await?,
        user,
    })
}

/// What became of a departed member's own key.
pub struct Revocation {
    pub key: DepartureKey,
    /// `None`: revoked at the backend and gone; else why not (nothing is claimed done).
    pub failed: Option<String>,
}

/// What removing a member did.
pub struct Removed {
    pub user: User,
    pub revoked: Vec<Revocation>,
    /// How many keys of others are flagged for rotation.
    pub flagged: u64,
}

/// Removes `user_id` from the project: with `revoke`, their own keys are deleted first (revoked
/// at the backend; a key that fails stays, and the answer says so); the keys of others they saw
/// are flagged. A refused removal (the last owner) changes nothing.
pub async fn remove(
    ops: &Ops,
    who: &Principal,
    user_id: &str,
    revoke: bool,
) -> Result<Removed, OpError> {
    let departure = departure(ops, who, user_id).await?;
    if revoke {
        // Asked before anything changes: deleting others' keys needs the right and a fresh proof.
        who.require(Action::Credential(CredentialAction::Delete, Whose::Others))?;
        ops.require_fresh(who.freshness()).await?;
    }
    // The membership goes first: a removal the database refuses (the last owner) revokes nothing.
    let user = members::remove(ops, who, user_id).await?;
    let mut revoked = Vec::new();
    if revoke {
        for key in departure.held {
            let failed = match credentials::delete_departed(ops, who, &key.id).await {
                Ok(()) => None,
                Err(OpError::Internal(e)) => return Err(OpError::Internal(e)),
                Err(e) => Some(e.message()),
            };
            revoked.push(Revocation { key, failed });
        }
    }
    let flagged =
        db::departures::record(&ops.db, &who.project().id, &user.id, &user.email, now()).await?;
    // The removal itself is audited by `members::remove`, each revocation by Delete; this
    // records what the departure did besides, when it did anything.
    if !revoked.is_empty() || flagged > 0 {
        let done = revoked.iter().filter(|r| r.failed.is_none()).count();
        let detail = format!(
            "{done} of their keys revoked, {} left; {flagged} keys they saw flagged for rotation",
            revoked.len() - done
        );
        db::audit::record(
            &ops.db,
            Some(&who.project().id),
            who.actor(),
            AuditAction::MemberOffboard,
            &user.email,
            &detail,
        )
        .await?;
    }
    Ok(Removed {
        user,
        revoked,
        flagged,
    })
}

/// What a user leaves behind in one project.
pub struct ProjectDeparture {
    pub project_name: String,
    pub held: Vec<DepartureKey>,
    pub seen: Vec<DepartureKey>,
}

/// What disabling `user` would leave behind in each of their projects, for the confirmation of
/// an instance administrator (the caller checked the right).
pub async fn everywhere(ops: &Ops, user: &User) -> Result<Vec<ProjectDeparture>, OpError> {
    let mut all = Vec::new();
    for (project, _) in db::projects::list_for_user(&ops.db, &user.id).await? {
        all.push(ProjectDeparture {
            held: db::departures::held(&ops.db, &project.id, &user.id).await?,
            seen: db::departures::seen(&ops.db, &project.id, &user.id).await?,
            project_name: project.name,
        });
    }
    Ok(all)
}

/// Flags, in every project of `user` (being disabled), the keys of others they saw; returns how
/// many. Their own keys stop working through Keyport at once (a disabled user's API keys are
/// refused) and stay at their backends until removed from each project.
pub async fn record_everywhere(ops: &Ops, user: &User) -> Result<u64, OpError> {
    let mut flagged = 0;
    for (project, _) in db::projects::list_for_user(&ops.db, &user.id).await? {
        flagged +=
            db::departures::record(&ops.db, &project.id, &user.id, &user.email, now()).await?;
    }
    Ok(flagged)
}
