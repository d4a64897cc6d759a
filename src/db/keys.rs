//! Projects' wrapped data keys, and re-wrapping them all under a new master key.

use std::time::Duration;

use anyhow::Context;

use super::{Db, settings};
use crate::crypto::{envelope::DataKey, master_key::MasterKey};

/// The project's data key, created on first use.
pub async fn project_key(db: &Db, master: &MasterKey, project_id: &str) -> anyhow::Result<DataKey> {
    let wrapped: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("select data_key from projects where id = $1")
            .bind(project_id)
            .fetch_optional(db.pool())
            .await?;
    let wrapped = match wrapped.context("no such project")? {
        Some(wrapped) => wrapped,
        None => {
            // Two requests may race here; the update keeps only the first key, and both read it back.
            let key = DataKey::generate();
            sqlx::query("update projects set data_key = $1 where id = $2 and data_key is null")
                .bind(key.wrap(master, project_id))
                .bind(project_id)
                .execute(db.pool())
                .await?;
            sqlx::query_scalar("select data_key from projects where id = $1")
                .bind(project_id)
                .fetch_one(db.pool())
                .await?
        }
    };
    DataKey::unwrap(master, project_id, &wrapped).map_err(|_| {
        anyhow::anyhow!("the data key of project {project_id} does not open with the master key")
    })
}

/// Re-wraps every data key under `new` and records `new` as the master key, in one transaction:
/// an interruption leaves everything under `old`. `pause` slows each project down, for tests that
/// interrupt the rotation.
pub async fn rotate_master_key(
    db: &Db,
    old: &MasterKey,
    new: &MasterKey,
    pause: Option<Duration>,
) -> anyhow::Result<usize> {
    let mut tx = db.pool().begin().await?;
    // Written first so that the transaction holds the write lock from the start.
    settings::set(&mut *tx, settings::MASTER_KEY_ID, &new.id()).await?;
    let projects: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
        "select id, slug, data_key from projects where data_key is not null order by id",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (id, slug, wrapped) in &projects {
        let key = DataKey::unwrap(old, id, wrapped)
            .map_err(|_| anyhow::anyhow!("the data key of project {slug} does not open with the current master key; nothing was changed"))?;
        sqlx::query("update projects set data_key = $1 where id = $2")
            .bind(key.wrap(new, id))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
    }
    tx.commit().await?;
    Ok(projects.len())
}
