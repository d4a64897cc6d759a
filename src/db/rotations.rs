//! Guided rotations: one row per credential whose key is being replaced in steps. Each step is a
//! compare-and-set on `step`, with its audit record in the same transaction where the step ends.

use sqlx::FromRow;

use super::{Db, audit, now};
use crate::domain::rotation_steps::RotationStep;

/// A rotation as its row holds it.
#[derive(Clone, Debug)]
pub struct Rotation {
    /// The credential whose key is replaced (the old key).
    pub credential_id: String,
    pub project_id: String,
    /// The credential of the second key.
    pub new_credential_id: String,
    pub step: RotationStep,
    pub quiet_seconds: i64,
    pub started_at: i64,
    pub started_by: String,
    pub step_since: i64,
    /// Who asked for the step under way (an audit actor as JSON); empty at rest.
    pub requested_by: String,
    pub claimed_by: String,
}

#[derive(FromRow)]
struct Row {
    credential_id: String,
    project_id: String,
    new_credential_id: String,
    step: String,
    quiet_seconds: i64,
    started_at: i64,
    started_by: String,
    step_since: i64,
    requested_by: String,
    claimed_by: String,
}

impl TryFrom<Row> for Rotation {
    type Error = sqlx::Error;

    fn try_from(row: Row) -> sqlx::Result<Rotation> {
        let step = RotationStep::parse(&row.step).ok_or_else(|| {
            sqlx::Error::Decode(
                format!(
                    "rotation {}: unknown step {:?}",
                    row.credential_id, row.step
                )
                .into(),
            )
        })?;
        Ok(Rotation {
            credential_id: row.credential_id,
            project_id: row.project_id,
            new_credential_id: row.new_credential_id,
            step,
            quiet_seconds: row.quiet_seconds,
            started_at: row.started_at,
            started_by: row.started_by,
            step_since: row.step_since,
            requested_by: row.requested_by,
            claimed_by: row.claimed_by,
        })
    }
}

const SELECT: &str = "select credential_id, project_id, new_credential_id, step, quiet_seconds,
        started_at, started_by, step_since, requested_by, claimed_by
    from rotations";

/// The rotation a credential takes part in, as the old key or as the new one.
pub async fn involving(
    db: &Db,
    project_id: &str,
    credential_id: &str,
) -> sqlx::Result<Option<Rotation>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "{SELECT} where project_id = $1 and (credential_id = $2 or new_credential_id = $2)"
    ))
    .bind(project_id)
    .bind(credential_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(Rotation::try_from).transpose()
}

/// Every rotation of a project.
pub async fn of_project(db: &Db, project_id: &str) -> sqlx::Result<Vec<Rotation>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} where project_id = $1"))
        .bind(project_id)
        .fetch_all(db.pool())
        .await?;
    rows.into_iter().map(Rotation::try_from).collect()
}

/// The intent of step 1: a rotation of `credential_id` whose second key will be
/// `new_credential_id`. `false` when the credential is already being rotated.
pub async fn start(
    db: &Db,
    project_id: &str,
    credential_id: &str,
    new_credential_id: &str,
    quiet_seconds: i64,
    started_by: &str,
    requested_by: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "insert into rotations (credential_id, project_id, new_credential_id, step, quiet_seconds,
             started_at, started_by, step_since, requested_by, claimed_by)
         values ($1, $2, $3, 'creating', $4, $5, $6, $5, $7, $8)",
    )
    .bind(credential_id)
    .bind(project_id)
    .bind(new_credential_id)
    .bind(quiet_seconds)
    .bind(now())
    .bind(started_by)
    .bind(requested_by)
    .bind(db.instance())
    .execute(db.pool())
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Moves a rotation from `from` to `to` (a step under way records who asked and this process;
/// a step at rest clears them). `false` when the rotation is not at `from`: someone else moved it.
pub async fn advance(
    db: &Db,
    credential_id: &str,
    from: RotationStep,
    to: RotationStep,
    requested_by: &str,
) -> sqlx::Result<bool> {
    let resting = to.is_resting();
    let updated = sqlx::query(
        "update rotations set step = $1, step_since = $2, requested_by = $3, claimed_by = $4
         where credential_id = $5 and step = $6",
    )
    .bind(to.as_str())
    .bind(now())
    .bind(if resting { "" } else { requested_by })
    .bind(if resting { "" } else { db.instance() })
    .bind(credential_id)
    .bind(from.as_str())
    .execute(db.pool())
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Ends the step under way at `to` and records it, in one transaction: when the old key's
/// Keyport flag changes with it (`enabled`), that too.
pub async fn step_done(
    db: &Db,
    credential_id: &str,
    from: RotationStep,
    to: RotationStep,
    enabled: Option<bool>,
    record: &audit::Entry<'_>,
) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    let updated = sqlx::query(
        "update rotations set step = $1, step_since = $2, requested_by = '', claimed_by = ''
         where credential_id = $3 and step = $4",
    )
    .bind(to.as_str())
    .bind(now())
    .bind(credential_id)
    .bind(from.as_str())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    if let Some(enabled) = enabled {
        sqlx::query("update credentials set enabled = $1 where id = $2")
            .bind(i64::from(enabled))
            .bind(credential_id)
            .execute(&mut *tx)
            .await?;
    }
    audit::insert(&mut *tx, record).await?;
    tx.commit().await?;
    Ok(true)
}

/// Changes how long the old key must be quiet, at rest only.
pub async fn set_quiet(db: &Db, credential_id: &str, quiet_seconds: i64) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "update rotations set quiet_seconds = $1
         where credential_id = $2 and step in ('both_active', 'old_inactive')",
    )
    .bind(quiet_seconds)
    .bind(credential_id)
    .execute(db.pool())
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Rotations whose step was interrupted: under way since before `cutoff`, or left by a process
/// silent since `silent_since`.
pub async fn interrupted(db: &Db, cutoff: i64, silent_since: i64) -> sqlx::Result<Vec<Rotation>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} where step not in ('both_active', 'old_inactive')
             and (step_since <= $1
                  or (claimed_by <> $3
                      and claimed_by in (select id from instances where heartbeat_at <= $2)))
         order by credential_id"
    ))
    .bind(cutoff)
    .bind(silent_since)
    .bind(db.instance())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Rotation::try_from).collect()
}

/// Takes over the interrupted step of `rotation` for this process, unless another process took
/// it over first.
pub async fn claim(db: &Db, rotation: &Rotation) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "update rotations set claimed_by = $1
         where credential_id = $2 and step = $3 and claimed_by = $4",
    )
    .bind(db.instance())
    .bind(&rotation.credential_id)
    .bind(rotation.step.as_str())
    .bind(&rotation.claimed_by)
    .execute(db.pool())
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Drops a rotation whose step 1 never made its second key (the backend refused, or was not
/// reached): nothing happened.
pub async fn forget_unstarted(db: &Db, credential_id: &str) -> sqlx::Result<bool> {
    let deleted =
        sqlx::query("delete from rotations where credential_id = $1 and step = 'creating'")
            .bind(credential_id)
            .execute(db.pool())
            .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Keyport's own record of a key's use: its latest Show, Copy or Download (when, which, by whom)
/// and how many there were.
pub async fn keyport_use(
    db: &Db,
    project_id: &str,
    credential_id: &str,
) -> sqlx::Result<Option<(i64, String, String, i64)>> {
    let latest: Option<(i64, String, String)> = sqlx::query_as(
        "select at, action, actor from audit_events
         where project_id = $1 and credential_id = $2
           and action in ('credential.reveal', 'credential.copy', 'credential.download')
         order by at desc, id desc limit 1",
    )
    .bind(project_id)
    .bind(credential_id)
    .fetch_optional(db.pool())
    .await?;
    let Some((at, action, actor)) = latest else {
        return Ok(None);
    };
    let count: i64 = sqlx::query_scalar(
        "select count(*) from audit_events
         where project_id = $1 and credential_id = $2
           and action in ('credential.reveal', 'credential.copy', 'credential.download')",
    )
    .bind(project_id)
    .bind(credential_id)
    .fetch_one(db.pool())
    .await?;
    Ok(Some((at, action, actor, count)))
}

/// Step 4's end: the old key's credential goes (and its rotation with it), the second key
/// takes its name, and `record` is written, in one transaction.
pub async fn old_deleted(
    db: &Db,
    rotation: &Rotation,
    name: &str,
    record: &audit::Entry<'_>,
) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    let deleted = sqlx::query(
        "delete from credentials where id = $1
             and exists (select 1 from rotations where credential_id = $1 and step = 'deleting')",
    )
    .bind(&rotation.credential_id)
    .execute(&mut *tx)
    .await?;
    if deleted.rows_affected() != 1 {
        return Ok(false);
    }
    // The rotation's row went with the credential (on delete cascade); made sure of here.
    sqlx::query("delete from rotations where credential_id = $1")
        .bind(&rotation.credential_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update credentials set name = $1, rotated_at = $2 where id = $3")
        .bind(name)
        .bind(now())
        .bind(&rotation.new_credential_id)
        .execute(&mut *tx)
        .await?;
    audit::insert(&mut *tx, record).await?;
    tx.commit().await?;
    Ok(true)
}

/// The end of an abandon: the second key's row goes (its key is revoked at the backend by
/// then), the rotation goes, the old key is enabled in Keyport again, and `record` is written,
/// in one transaction.
pub async fn abandoned(
    db: &Db,
    rotation: &Rotation,
    record: &audit::Entry<'_>,
) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    let deleted =
        sqlx::query("delete from rotations where credential_id = $1 and step = 'abandoning'")
            .bind(&rotation.credential_id)
            .execute(&mut *tx)
            .await?;
    if deleted.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("delete from credentials where id = $1")
        .bind(&rotation.new_credential_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update credentials set enabled = 1 where id = $1")
        .bind(&rotation.credential_id)
        .execute(&mut *tx)
        .await?;
    audit::insert(&mut *tx, record).await?;
    tx.commit().await?;
    Ok(true)
}
