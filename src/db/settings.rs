//! Instance-wide settings kept in the database (the master key id, whether setup is done).

use sqlx::{Any, Executor};

pub const MASTER_KEY_ID: &str = "master_key_id";
pub const SETUP_DONE: &str = "setup_done";
/// Who must sign in with a second factor: `nobody`, `admins` or `everyone`.
pub const TWO_FACTOR_REQUIRED: &str = "two_factor_required";

pub async fn get<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select value from settings where key = $1")
        .bind(key)
        .fetch_optional(db)
        .await
}

/// Inserts the setting; fails with a unique violation if it is already there.
pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
    value: &str,
) -> sqlx::Result<()> {
    sqlx::query("insert into settings (key, value) values ($1, $2)")
        .bind(key)
        .bind(value)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
    value: &str,
) -> sqlx::Result<()> {
    sqlx::query("insert into settings (key, value) values ($1, $2) on conflict (key) do update set value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether the database holds anything worth protecting: users, projects or a recorded key.
pub async fn holds_data<'e>(db: impl Executor<'e, Database = Any>) -> sqlx::Result<bool> {
    let count: i64 = sqlx::query_scalar(
        "select (select count(*) from users) + (select count(*) from projects) + (select count(*) from settings)",
    )
    .fetch_one(db)
    .await?;
    Ok(count > 0)
}

/// Inserts the setting unless it is there already.
pub async fn insert_if_absent<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
    value: &str,
) -> sqlx::Result<()> {
    sqlx::query("insert into settings (key, value) values ($1, $2) on conflict (key) do nothing")
        .bind(key)
        .bind(value)
        .execute(db)
        .await?;
    Ok(())
}
