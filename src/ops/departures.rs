//! A member leaves a project: what they hold and what they saw is shown before, their own keys
//! are revoked at the backend (each through Delete, which records its intent first and is
//! finished by Reconcile after a crash) or left, and the keys of others they saw are flagged
//! "rotate: seen by a departed member" until regenerated. All of it audited.
//!
//! A grace period instead of "now" schedules the revocations (`scheduled_revocations`): a round
//! in every process ([`spawn_revocations`]) takes the due ones and revokes each through the same
//! crash-safe Delete, in the name of whoever chose the grace period.

use std::time::Duration;

use super::{OpError, Ops, Principal, credentials, lifecycle::requester_json, members};
use crate::{
    db::{self, audit::Actor, users::User},
    domain::{
        audit::AuditAction,
        roles::{Action, CredentialAction, Whose},
        rotation::DAY,
        time::{self, now},
    },
};

pub use crate::db::departures::DepartureKey;

/// What becomes of a departing member's own keys at their backends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Revoke {
    /// Revoked now, before the answer.
    Now,
    /// Revoked by the background round once this many days have passed (1 to 90).
    After(u32),
    /// Left as they are.
    Leave,
}

impl Revoke {
    /// The form's choice (`now`, `later`, anything else: leave) and its number of days; `None`
    /// when the days are not a number from 1 to 90.
    pub fn from_form(choice: &str, days: &str) -> Option<Revoke> {
        match choice {
            "now" => Some(Revoke::Now),
            "later" => match days.trim().parse::<u32>() {
                Ok(days @ 1..=90) => Some(Revoke::After(days)),
                _ => None,
            },
            _ => Some(Revoke::Leave),
        }
    }
}

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
    /// Keys whose revocation waits for the grace period, and when it ends.
    pub scheduled: Option<(u64, i64)>,
    /// How many keys of others are flagged for rotation.
    pub flagged: u64,
}

/// Removes `user_id` from the project: with [`Revoke::Now`], their own keys are deleted first
/// (revoked at the backend; a key that fails stays, and the answer says so); with
/// [`Revoke::After`], their revocation is scheduled; the keys of others they saw are flagged. A
/// refused removal (the last owner) changes nothing.
pub async fn remove(
    ops: &Ops,
    who: &Principal,
    user_id: &str,
    revoke: Revoke,
) -> Result<Removed, OpError> {
    members::to_remove(ops, who, user_id).await?;
    if revoke != Revoke::Leave {
        // Asked before anything changes: deleting others' keys needs the right and a fresh proof.
        who.require(Action::Credential(CredentialAction::Delete, Whose::Others))?;
        ops.require_fresh(who.freshness()).await?;
    }
    let held = match revoke {
        Revoke::Now => db::departures::held(&ops.db, &who.project().id, user_id).await?,
        Revoke::After(_) | Revoke::Leave => Vec::new(),
    };
    // The membership goes first: a removal the database refuses (the last owner) revokes nothing.
    let user = members::remove(ops, who, user_id).await?;
    let mut revoked = Vec::new();
    let mut scheduled = None;
    if let Revoke::After(days) = revoke {
        let due_at = now() + i64::from(days) * DAY;
        let project = &who.project().id;
        let requester = requester_json(who.actor());
        let count = db::departures::schedule_revocations(
            &ops.db,
            project,
            &user.id,
            &user.email,
            due_at,
            &requester,
        )
        .await?;
        scheduled = Some((count, due_at)).filter(|(count, _)| *count > 0);
    }
    if revoke == Revoke::Now {
        for key in held {
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
    if !revoked.is_empty() || scheduled.is_some() || flagged > 0 {
        let done = revoked.iter().filter(|r| r.failed.is_none()).count();
        let mut detail = format!(
            "{done} of their keys revoked, {} left; {flagged} keys they saw flagged for rotation",
            revoked.len() - done
        );
        if let Some((count, due_at)) = scheduled {
            detail.push_str(&format!(
                "; {count} of their keys to be revoked on {}",
                time::day(due_at)
            ));
        }
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
        scheduled,
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

/// Flags, in every project of `user` (being disabled), the keys of others they saw, and
/// schedules the revocation of their own keys at `revoke_at` (`None`: they stay at their
/// backends); returns how many keys were flagged and how many scheduled. Their own keys stop
/// working through Keyport at once either way (a disabled user's API keys are refused).
pub async fn record_everywhere(
    ops: &Ops,
    user: &User,
    revoke_at: Option<i64>,
    requested_by: &Actor,
) -> Result<(u64, u64), OpError> {
    let (mut flagged, mut scheduled) = (0, 0);
    let requester = requester_json(requested_by);
    for (project, _) in db::projects::list_for_user(&ops.db, &user.id).await? {
        flagged +=
            db::departures::record(&ops.db, &project.id, &user.id, &user.email, now()).await?;
        if let Some(due_at) = revoke_at {
            scheduled += db::departures::schedule_revocations(
                &ops.db,
                &project.id,
                &user.id,
                &user.email,
                due_at,
                &requester,
            )
            .await?;
        }
    }
    Ok((flagged, scheduled))
}

/// How long a process holds a revocation it took: far more than a backend call's deadline.
const CLAIM_SECONDS: i64 = 120;

/// Revokes the departed members' keys whose grace period is over; returns how many were revoked
/// and how many failed. A failure is kept with its error and tried again an hour later; the key
/// stays, and nothing claims it stopped working.
pub async fn revoke_due(ops: &Ops) -> Result<(usize, usize), OpError> {
    let (revoked, failed, _) = revoke(ops, None).await?;
    Ok((revoked, failed))
}

/// Revokes now the keys whose revocation `user`'s departure scheduled for now (a user disabled
/// with "revoke now"), and no one else's; how many were revoked and how many failed, as
/// [`revoke_due`].
pub async fn revoke_due_for(ops: &Ops, user: &User) -> Result<(usize, usize), OpError> {
    let (mut revoked, mut failed) = (0, 0);
    loop {
        let (done, not_done, claimed) = revoke(ops, Some(&user.email)).await?;
        revoked += done;
        failed += not_done;
        if claimed == 0 {
            return Ok((revoked, failed));
        }
    }
}

/// One round of revocations that are due: everyone's, or those of one departed member; how many
/// were revoked, failed, and claimed.
async fn revoke(ops: &Ops, departed: Option<&str>) -> Result<(usize, usize, usize), OpError> {
    let at = now();
    let due = db::departures::claim_due_revocations(&ops.db, at, at + CLAIM_SECONDS, 20, departed)
        .await?;
    let claimed = due.len();
    let (mut revoked, mut failed) = (0, 0);
    for revocation in due {
        let mut actor: Actor = serde_json::from_str(&revocation.requested_by).unwrap_or_default();
        actor.label = format!(
            "{} (grace period after {} left)",
            actor.label, revocation.departed_email
        );
        let id = &revocation.credential_id;
        match credentials::delete_scheduled(ops, &revocation.project_id, id, &actor).await {
            Ok(true) => revoked += 1,
            Ok(false) => {}
            Err(OpError::Internal(e)) => return Err(OpError::Internal(e)),
            Err(e) => {
                failed += 1;
                let retry_at = now() + 3600;
                db::departures::revocation_failed(&ops.db, id, &e.message(), retry_at).await?;
                tracing::warn!(credential = %id, attempts = revocation.attempts + 1,
                    "a departed member's key could not be revoked; tried again in an hour");
            }
        }
    }
    Ok((revoked, failed, claimed))
}

/// Runs [`revoke_due`] every few seconds in this process (each process does; the claims keep
/// them off each other's keys).
pub fn spawn_revocations(ops: Ops) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            if let Err(e) = revoke_due(&ops).await {
                tracing::warn!(error = %e, "could not revoke the departed members' keys that are due");
            }
        }
    });
}
