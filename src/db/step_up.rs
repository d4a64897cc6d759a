//! Step-up grants: the one action a proof of identity allows right after it when the window is
//! zero, each used up once.

use super::{Db, now};

/// Records grant `id` (its hash) of `user_id`, usable until `expires_at`; forgets expired ones.
pub async fn add_grant(db: &Db, id: &str, user_id: &str, expires_at: i64) -> sqlx::Result<()> {
    sqlx::query("delete from step_up_grants where expires_at <= $1")
        .bind(now())
        .execute(db.pool())
        .await?;
    sqlx::query("insert into step_up_grants (id, user_id, expires_at) values ($1, $2, $3)")
        .bind(id)
        .bind(user_id)
        .bind(expires_at)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Uses up grant `id` of `user_id`: true for the one request that deletes it while it is valid.
pub async fn use_grant(db: &Db, id: &str, user_id: &str) -> sqlx::Result<bool> {
    let used = sqlx::query(
        "delete from step_up_grants where id = $1 and user_id = $2 and expires_at > $3",
    )
    .bind(id)
    .bind(user_id)
    .bind(now())
    .execute(db.pool())
    .await?;
    Ok(used.rows_affected() == 1)
}
