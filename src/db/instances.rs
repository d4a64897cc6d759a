//! The portal processes that serve one database, and the leases of their periodic jobs.
//!
//! Each process keeps a row fresh (a heartbeat); a process whose row has not been refreshed for a
//! while (`KEYPORT_PROCESS_TIMEOUT_SECONDS`) is taken to have stopped, and its unfinished
//! operations are finished by another.
//! A lease lets one process at a time run a periodic job.

use std::time::Duration;

use super::{Db, now};

/// Announces this process.
pub async fn register(db: &Db) -> sqlx::Result<()> {
    let now = now();
    sqlx::query("insert into instances (id, started_at, heartbeat_at) values ($1, $2, $2)")
        .bind(db.instance())
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Tells the others this process is still there; forgets processes silent for a day.
pub async fn heartbeat(db: &Db) -> sqlx::Result<()> {
    let now = now();
    let updated = sqlx::query("update instances set heartbeat_at = $1 where id = $2")
        .bind(now)
        .bind(db.instance())
        .execute(db.pool())
        .await?;
    if updated.rows_affected() == 0 {
        register(db).await?;
    }
    sqlx::query("delete from instances where heartbeat_at < $1")
        .bind(now - 86_400)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// This process stops: nothing of it is under way any more.
pub async fn deregister(db: &Db) -> sqlx::Result<()> {
    sqlx::query("delete from instances where id = $1")
        .bind(db.instance())
        .execute(db.pool())
        .await?;
    sqlx::query("delete from leases where holder = $1")
        .bind(db.instance())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Process `id` is known to have stopped (its host lock was free, see `host_processes`): it is
/// marked silent since `silent_at` (as long as the timeout asks), so that what it left unfinished
/// is finished now rather than after the timeout, and its leases are freed. Its row goes after a
/// day, as a silent process's does, so that a round that cannot finish its operations yet still
/// finds them as a dead process's.
pub async fn forget_dead(db: &Db, id: &str, silent_at: i64) -> sqlx::Result<()> {
    sqlx::query("update instances set heartbeat_at = $1 where id = $2 and heartbeat_at > $1")
        .bind(silent_at)
        .bind(id)
        .execute(db.pool())
        .await?;
    sqlx::query("delete from leases where holder = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Takes (or keeps) the lease `name` for `length`, unless another process holds it.
pub async fn take_lease(db: &Db, name: &str, length: Duration) -> sqlx::Result<bool> {
    let now = now();
    let taken = sqlx::query(
        "insert into leases (name, holder, expires_at) values ($1, $2, $3)
         on conflict (name) do update set holder = excluded.holder, expires_at = excluded.expires_at
         where leases.holder = excluded.holder or leases.expires_at <= $4",
    )
    .bind(name)
    .bind(db.instance())
    .bind(now + length.as_secs() as i64)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(taken.rows_affected() == 1)
}
