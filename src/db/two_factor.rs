//! Two-factor sign-in: each user's TOTP secret (sealed), the last time step used, and their
//! one-time recovery codes (hashed).

use sqlx::{Any, Executor};

use super::{Db, now};

/// A user's TOTP factor as stored.
pub struct StoredFactor {
    /// Sealed under the master key, bound to the user id.
    pub sealed: Vec<u8>,
    pub confirmed: bool,
    pub last_step: Option<i64>,
    /// While not confirmed: the session that started the enrolment (its stored id).
    pub pending_session: String,
}

pub async fn find(db: &Db, user_id: &str) -> sqlx::Result<Option<StoredFactor>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        secret: Vec<u8>,
        confirmed_at: Option<i64>,
        last_step: Option<i64>,
        pending_session: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "select secret, confirmed_at, last_step, pending_session from totp_factors where user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|row| StoredFactor {
        sealed: row.secret,
        confirmed: row.confirmed_at.is_some(),
        last_step: row.last_step,
        pending_session: row.pending_session,
    }))
}

/// Whether the user has a confirmed factor: sign-in then asks for a code.
pub async fn enrolled(db: &Db, user_id: &str) -> sqlx::Result<bool> {
    let count: i64 = sqlx::query_scalar(
        "select count(*) from totp_factors where user_id = $1 and confirmed_at is not null",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await?;
    Ok(count > 0)
}

/// Starts an enrolment of session `session` (its stored id) with a new sealed secret, replacing
/// one not yet confirmed. Returns false (and changes nothing) when the user already has a
/// confirmed factor.
pub async fn start(db: &Db, user_id: &str, sealed: &[u8], session: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into totp_factors (user_id, secret, confirmed_at, last_step, created_at, pending_session)
         values ($1, $2, null, null, $3, $4)
         on conflict (user_id) do update set secret = excluded.secret, created_at = excluded.created_at,
             pending_session = excluded.pending_session
         where totp_factors.confirmed_at is null",
    )
    .bind(user_id)
    .bind(sealed)
    .bind(now())
    .bind(session)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Confirms the enrolment that session `session` started, whose code of time step `step` was
/// just typed, and stores the hashes of its recovery codes (replacing older ones), together.
/// False when that session has nothing pending.
pub async fn confirm(
    db: &Db,
    user_id: &str,
    step: i64,
    code_hashes: &[String],
    session: &str,
) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    let done = sqlx::query(
        "update totp_factors set confirmed_at = $2, last_step = $3, pending_session = ''
         where user_id = $1 and confirmed_at is null and pending_session = $4",
    )
    .bind(user_id)
    .bind(now())
    .bind(step)
    .bind(session)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    replace_recovery_codes(&mut tx, user_id, code_hashes).await?;
    tx.commit().await?;
    Ok(true)
}

async fn replace_recovery_codes(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    code_hashes: &[String],
) -> sqlx::Result<()> {
    sqlx::query("delete from recovery_codes where user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for hash in code_hashes {
        sqlx::query(
            "insert into recovery_codes (user_id, code_hash, used_at) values ($1, $2, null)",
        )
        .bind(user_id)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Accepts the code of time step `step` once: true only when it is later than every step used
/// before, so that no code works twice, not even in two requests at the same moment.
pub async fn use_step(db: &Db, user_id: &str, step: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update totp_factors set last_step = $2
         where user_id = $1 and confirmed_at is not null and (last_step is null or last_step < $2)",
    )
    .bind(user_id)
    .bind(step)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses up the recovery code with this hash; false when it is unknown or already used.
pub async fn use_recovery_code(db: &Db, user_id: &str, code_hash: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update recovery_codes set used_at = $3
         where user_id = $1 and code_hash = $2 and used_at is null",
    )
    .bind(user_id)
    .bind(code_hash)
    .bind(now())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many recovery codes the user has left.
pub async fn recovery_codes_left(db: &Db, user_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from recovery_codes where user_id = $1 and used_at is null")
        .bind(user_id)
        .fetch_one(db.pool())
        .await
}

/// Removes the user's factor and recovery codes; true when a factor was there.
pub async fn remove(db: &Db, user_id: &str) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("delete from recovery_codes where user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("delete from totp_factors where user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// Every sealed secret, for re-sealing under a new master key.
pub async fn all_sealed<'e>(
    executor: impl Executor<'e, Database = Any>,
) -> sqlx::Result<Vec<(String, Vec<u8>)>> {
    sqlx::query_as("select user_id, secret from totp_factors order by user_id")
        .fetch_all(executor)
        .await
}

pub async fn reseal<'e>(
    executor: impl Executor<'e, Database = Any>,
    user_id: &str,
    sealed: &[u8],
) -> sqlx::Result<()> {
    sqlx::query("update totp_factors set secret = $2 where user_id = $1")
        .bind(user_id)
        .bind(sealed)
        .execute(executor)
        .await?;
    Ok(())
}
