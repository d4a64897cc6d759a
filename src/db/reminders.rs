//! Reminders' conditions and their outbox of deliveries (migration 0016).

use sqlx::FromRow;

use super::{Db, new_id};

/// When the check last ran, in the settings table (Unix seconds).
pub const LAST_CHECK: &str = "reminders_last_check";

/// A message to write with its condition.
pub struct NewDelivery {
    pub channel: &'static str,
    pub recipients: String,
    pub subject: String,
    pub body: String,
}

/// A message of the outbox.
#[derive(Clone, Debug, FromRow)]
pub struct Delivery {
    pub id: String,
    pub channel: String,
    pub recipients: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

const COLUMNS: &str = "id, channel, recipients, subject, body, status, attempts, next_attempt_at, \
                       last_error, created_at, sent_at";

/// Whether the condition is recorded already.
pub async fn known(db: &Db, credential_id: &str, kind: &str, due_at: i64) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "select 1 from reminder_conditions where credential_id = $1 and kind = $2 and due_at = $3",
    )
    .bind(credential_id)
    .bind(kind)
    .bind(due_at)
    .fetch_optional(db.pool())
    .await?;
    Ok(found.is_some())
}

/// Records the condition with its messages, in one transaction; `false` when it was recorded
/// already (by this process earlier, or by another): then nothing is written. The unique key
/// decides between processes that find it at once.
pub async fn record(
    db: &Db,
    credential_id: &str,
    kind: &str,
    due_at: i64,
    deliveries: &[NewDelivery],
) -> sqlx::Result<bool> {
    let now = super::now();
    let mut tx = db.pool().begin().await?;
    let condition = new_id();
    let inserted = sqlx::query(
        "insert into reminder_conditions (id, credential_id, kind, due_at, found_at)
         values ($1, $2, $3, $4, $5)
         on conflict (credential_id, kind, due_at) do nothing",
    )
    .bind(&condition)
    .bind(credential_id)
    .bind(kind)
    .bind(due_at)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        tx.rollback().await?;
        return Ok(false);
    }
    for d in deliveries {
        sqlx::query(
            "insert into reminder_deliveries
                 (id, condition_id, channel, recipients, subject, body, status, attempts,
                  next_attempt_at, created_at)
             values ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
        )
        .bind(new_id())
        .bind(&condition)
        .bind(d.channel)
        .bind(&d.recipients)
        .bind(&d.subject)
        .bind(&d.body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Who is told of a key's conditions: its holder, when a person holds it, and the project's
/// owners and admins; enabled accounts only.
pub async fn recipients(db: &Db, credential_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "select u.email from credentials c join users u on u.id = c.owner_user_id
         where c.id = $1 and u.disabled = 0
         union
         select u.email from credentials c
             join memberships m on m.project_id = c.project_id
             join users u on u.id = m.user_id
         where c.id = $1 and m.role in ('owner', 'admin') and u.disabled = 0
         order by 1",
    )
    .bind(credential_id)
    .fetch_all(db.pool())
    .await
}

/// Pending messages whose next attempt is due and which nobody holds, oldest first.
pub async fn due(db: &Db, now: i64, limit: i64) -> sqlx::Result<Vec<Delivery>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from reminder_deliveries
         where status = 'pending' and next_attempt_at <= $1
           and (claimed_until is null or claimed_until <= $1)
         order by next_attempt_at, id limit $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

/// Takes the message until `until`, counting an attempt; `false` when another sender holds it
/// or it is sent.
pub async fn claim(db: &Db, id: &str, now: i64, until: i64) -> sqlx::Result<bool> {
    let claimed = sqlx::query(
        "update reminder_deliveries set claimed_until = $3, attempts = attempts + 1
         where id = $1 and status = 'pending' and next_attempt_at <= $2
           and (claimed_until is null or claimed_until <= $2)",
    )
    .bind(id)
    .bind(now)
    .bind(until)
    .execute(db.pool())
    .await?;
    Ok(claimed.rows_affected() == 1)
}

pub async fn mark_sent(db: &Db, id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "update reminder_deliveries
         set status = 'sent', sent_at = $2, claimed_until = null, last_error = null
         where id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The attempt failed: the message waits until `next_attempt_at`, with the error shown.
pub async fn mark_failed(db: &Db, id: &str, error: &str, next_attempt_at: i64) -> sqlx::Result<()> {
    sqlx::query(
        "update reminder_deliveries
         set last_error = $2, next_attempt_at = $3, claimed_until = null
         where id = $1 and status = 'pending'",
    )
    .bind(id)
    .bind(error)
    .bind(next_attempt_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The latest messages, newest first.
pub async fn recent(db: &Db, limit: i64) -> sqlx::Result<Vec<Delivery>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from reminder_deliveries order by created_at desc, id desc limit $1"
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

/// Messages not sent yet, and those of them whose last attempt failed.
pub async fn unsent(db: &Db) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "select count(*), coalesce(sum(case when last_error is not null then 1 else 0 end), 0)
         from reminder_deliveries where status = 'pending'",
    )
    .fetch_one(db.pool())
    .await
}
