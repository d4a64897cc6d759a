//! The master key checked against the database, projects' wrapped data keys, and re-wrapping
//! them all under a new master key.

use std::time::Duration;

use std::path::PathBuf;

use anyhow::{Context, bail};
use zeroize::Zeroizing;

use super::{Db, settings};
use crate::{
    config::MasterKeySettings,
    crypto::{
        envelope::{self, DataKey},
        master_key::MasterKey,
    },
};

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
    // The keys that sign access tokens are sealed under the master key too.
    let signing: Vec<(String, Vec<u8>)> =
        sqlx::query_as("select kid, private_key from signing_keys order by kid")
            .fetch_all(&mut *tx)
            .await?;
    for (kid, sealed) in &signing {
        let private = envelope::open_signing_key(old, kid, sealed).map_err(|_| {
            anyhow::anyhow!("the token signing key {kid} does not open with the current master key; nothing was changed")
        })?;
        sqlx::query("update signing_keys set private_key = $1 where kid = $2")
            .bind(envelope::seal_signing_key(new, kid, &private))
            .bind(kid)
            .execute(&mut *tx)
            .await?;
    }
    // So are the secrets of two-factor sign-in.
    for (user_id, sealed) in super::two_factor::all_sealed(&mut *tx).await? {
        let secret = envelope::open_totp_secret(old, &user_id, &sealed).map_err(|_| {
            anyhow::anyhow!("the two-factor secret of user {user_id} does not open with the current master key; nothing was changed")
        })?;
        let resealed = envelope::seal_totp_secret(new, &user_id, &secret);
        super::two_factor::reseal(&mut *tx, &user_id, &resealed).await?;
    }
    tx.commit().await?;
    Ok(projects.len())
}

/// Where the key came from, for the start-up log.
#[derive(Debug)]
pub enum KeySource {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

/// Loads the master key and checks it against the database, generating one only for a new
/// database. Refuses to go on when the key is missing or is not the one the data was written with.
pub async fn open_master_key(
    settings: &MasterKeySettings,
    db: &Db,
) -> anyhow::Result<(MasterKey, KeySource)> {
    let recorded = settings::get(db.pool(), settings::MASTER_KEY_ID).await?;
    let (key, source) = match load(settings)? {
        Some(loaded) => loaded,
        None => {
            let path = &settings.file;
            if recorded.is_some() || settings::holds_data(db.pool()).await? {
                bail!(
                    "the master key file {} is missing, but the database already holds data \
                     encrypted under a master key (id {}). Restore the key from your backup, or \
                     set KEYPORT_MASTER_KEY_FILE / KEYPORT_MASTER_KEY to it.",
                    path.display(),
                    recorded.as_deref().unwrap_or("unknown")
                );
            }
            let key = MasterKey::generate();
            key.write_new_file(path)?;
            (key, KeySource::Generated(path.clone()))
        }
    };
    match recorded {
        Some(expected) if expected != key.id() => bail!(
            "the master key (id {}) is not the one this database was written with (id {expected}); \
             start with the right key, or rotate keys with `keyport master-key rotate`",
            key.id()
        ),
        Some(_) => {}
        None => settings::set(db.pool(), settings::MASTER_KEY_ID, &key.id()).await?,
    }
    Ok((key, source))
}

fn load(settings: &MasterKeySettings) -> anyhow::Result<Option<(MasterKey, KeySource)>> {
    if let Some(value) = &settings.value {
        let key = MasterKey::decode(value.as_bytes())
            .context("KEYPORT_MASTER_KEY is not a valid master key")?;
        return Ok(Some((key, KeySource::Environment)));
    }
    let path = &settings.file;
    match std::fs::read(path) {
        Ok(contents) => {
            let contents = Zeroizing::new(contents);
            let key = MasterKey::decode(&contents).with_context(|| {
                format!(
                    "the master key file {} is not a valid master key",
                    path.display()
                )
            })?;
            Ok(Some((key, KeySource::File(path.clone()))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => {
            Err(e).with_context(|| format!("cannot read the master key file {}", path.display()))
        }
    }
}
