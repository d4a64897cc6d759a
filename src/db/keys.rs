//! The master key checked against the database; the rows of what is sealed under it (projects'
//! data keys, token signing keys, TOTP secrets, single sign-on refresh tokens), read and written for `ops::vault`, which seals
//! and opens them.

use std::time::Duration;

use std::path::PathBuf;

use anyhow::{Context, bail};
use zeroize::Zeroizing;

use super::{Db, settings};
use crate::{config::MasterKeySettings, crypto::master_key::MasterKey};

/// Project `project_id`'s data key as stored (wrapped under the master key): `Ok(None)` when the
/// project has none yet, an error when there is no such project.
pub async fn wrapped_data_key(db: &Db, project_id: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let wrapped: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("select data_key from projects where id = $1")
            .bind(project_id)
            .fetch_optional(db.pool())
            .await?;
    wrapped.context("no such project")
}

/// Stores `wrapped` as project `project_id`'s data key unless it has one already, and returns
/// the one it has then. Two requests may race here; the first key stays, and both read it back.
pub async fn add_data_key(db: &Db, project_id: &str, wrapped: &[u8]) -> anyhow::Result<Vec<u8>> {
    sqlx::query("update projects set data_key = $1 where id = $2 and data_key is null")
        .bind(wrapped)
        .bind(project_id)
        .execute(db.pool())
        .await?;
    Ok(
        sqlx::query_scalar("select data_key from projects where id = $1")
            .bind(project_id)
            .fetch_one(db.pool())
            .await?,
    )
}

/// What the master key itself seals, each bound to what it belongs to.
#[derive(Clone, Copy, Debug)]
pub enum UnderMaster<'a> {
    /// A project's data key.
    DataKey { project_id: &'a str },
    /// The private part of a key that signs access tokens.
    SigningKey { kid: &'a str },
    /// A user's TOTP secret.
    TotpSecret { user_id: &'a str },
    /// A user's refresh token at the single sign-on provider.
    ProviderToken { user_id: &'a str },
}

/// Replaces everything sealed under the master key by what `rewrap` makes of it, and records
/// `new_key_id` as the master key's id, in one transaction: an error (or an interruption) leaves
/// everything as it was. Returns how many projects' data keys were re-wrapped. `pause` slows each
/// project down, for tests that interrupt the rotation.
pub async fn rewrap_all(
    db: &Db,
    new_key_id: &str,
    rewrap: impl Fn(UnderMaster<'_>, &[u8]) -> anyhow::Result<Vec<u8>>,
    pause: Option<Duration>,
) -> anyhow::Result<usize> {
    let mut tx = db.pool().begin().await?;
    // Written first so that the transaction holds the write lock from the start.
    settings::set(&mut *tx, settings::MASTER_KEY_ID, new_key_id).await?;
    let projects: Vec<(String, Vec<u8>)> =
        sqlx::query_as("select id, data_key from projects where data_key is not null order by id")
            .fetch_all(&mut *tx)
            .await?;
    for (id, wrapped) in &projects {
        let rewrapped = rewrap(UnderMaster::DataKey { project_id: id }, wrapped)?;
        sqlx::query("update projects set data_key = $1 where id = $2")
            .bind(rewrapped)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
    }
    let signing: Vec<(String, Vec<u8>)> =
        sqlx::query_as("select kid, private_key from signing_keys order by kid")
            .fetch_all(&mut *tx)
            .await?;
    for (kid, sealed) in &signing {
        sqlx::query("update signing_keys set private_key = $1 where kid = $2")
            .bind(rewrap(UnderMaster::SigningKey { kid }, sealed)?)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
    }
    for (user_id, sealed) in super::two_factor::all_sealed(&mut *tx).await? {
        let resealed = rewrap(UnderMaster::TotpSecret { user_id: &user_id }, &sealed)?;
        super::two_factor::reseal(&mut *tx, &user_id, &resealed).await?;
    }
    let tokens: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "select user_id, refresh_token from sso_identities where refresh_token is not null order by user_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (user_id, sealed) in &tokens {
        sqlx::query("update sso_identities set refresh_token = $1 where user_id = $2")
            .bind(rewrap(UnderMaster::ProviderToken { user_id }, sealed)?)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
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
