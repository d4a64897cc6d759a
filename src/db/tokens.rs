//! What token exchange keeps: the keys that sign access tokens (sealed), and refresh tokens
//! (hashed), each usable once.

use super::{Db, now};

/// A signing key as stored: the private part sealed under the master key.
pub struct StoredSigningKey {
    pub kid: String,
    pub sealed: Vec<u8>,
    pub public_key: String,
}

/// The key that signs: the newest one not retired.
pub async fn current_signing_key(db: &Db) -> sqlx::Result<Option<StoredSigningKey>> {
    let row: Option<(String, Vec<u8>, String)> = sqlx::query_as(
        "select kid, private_key, public_key from signing_keys where retired_at is null
         order by created_at desc, kid limit 1",
    )
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(kid, sealed, public_key)| StoredSigningKey {
        kid,
        sealed,
        public_key,
    }))
}

/// Adds a signing key; it signs from now on, and the ones before it only verify.
pub async fn add_signing_key(
    db: &Db,
    kid: &str,
    sealed: &[u8],
    public_key: &str,
) -> sqlx::Result<()> {
    let mut tx = db.pool().begin().await?;
    let at = now();
    sqlx::query("update signing_keys set retired_at = $1 where retired_at is null")
        .bind(at)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into signing_keys (kid, private_key, public_key, created_at) values ($1, $2, $3, $4)",
    )
    .bind(kid)
    .bind(sealed)
    .bind(public_key)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The public keys that may still have signed a valid token: the current one, and those
/// retired less than `lifetime` seconds ago. `(kid, public key)`.
pub async fn verifying_keys(db: &Db, lifetime: i64) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "select kid, public_key from signing_keys where retired_at is null or retired_at > $1
         order by created_at desc, kid",
    )
    .bind(now() - lifetime)
    .fetch_all(db.pool())
    .await
}

/// Drops signing keys retired long enough ago that no token they signed is valid.
pub async fn forget_old_signing_keys(db: &Db, lifetime: i64) -> sqlx::Result<u64> {
    let deleted =
        sqlx::query("delete from signing_keys where retired_at is not null and retired_at <= $1")
            .bind(now() - lifetime)
            .execute(db.pool())
            .await?;
    Ok(deleted.rows_affected())
}

pub async fn add_refresh_token(
    db: &Db,
    token_hash: &str,
    family: &str,
    api_key_id: &str,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into refresh_tokens (token_hash, family, api_key_id, expires_at) values ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(family)
    .bind(api_key_id)
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// What presenting a refresh token found.
pub enum Presented {
    /// Unused and unexpired (not used yet: see [`replace_refresh_token`]).
    Fresh { api_key_id: String, family: String },
    /// Used before (or revoked with its family): its family, so that it can be revoked.
    Spent { family: String },
    /// Not Keyport's, or expired unused: refused, and nothing else happens.
    Unknown,
}

/// What a presented refresh token is, without using it: a token refused for its key (disabled,
/// say) stays usable once the key is enabled again.
pub async fn find_refresh_token(db: &Db, token_hash: &str) -> sqlx::Result<Presented> {
    let row: Option<(String, String, Option<i64>, i64)> = sqlx::query_as(
        "select api_key_id, family, used_at, expires_at from refresh_tokens where token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        Some((_, family, Some(_), _)) => Presented::Spent { family },
        Some((api_key_id, family, None, expires_at)) if expires_at > now() => {
            Presented::Fresh { api_key_id, family }
        }
        _ => Presented::Unknown,
    })
}

/// Uses refresh token `token_hash` and records its successor `next_hash` in its family, in one
/// transaction: of concurrent presentations exactly one succeeds (true), and the successor exists
/// from the moment its parent is used, so that revoking the family (the loser's doing) reaches
/// it too. False when the token was used, revoked or expired meanwhile.
pub async fn replace_refresh_token(
    db: &Db,
    token_hash: &str,
    next_hash: &str,
    expires_at: i64,
) -> sqlx::Result<bool> {
    let at = now();
    let mut tx = db.pool().begin().await?;
    let used: Option<(String, String)> = sqlx::query_as(
        "update refresh_tokens set used_at = $1
         where token_hash = $2 and used_at is null and expires_at > $1
         returning api_key_id, family",
    )
    .bind(at)
    .bind(token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((api_key_id, family)) = used else {
        return Ok(false);
    };
    sqlx::query(
        "insert into refresh_tokens (token_hash, family, api_key_id, expires_at) values ($1, $2, $3, $4)",
    )
    .bind(next_hash)
    .bind(&family)
    .bind(&api_key_id)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Revokes every refresh token of a family (a reused token means one was stolen).
pub async fn revoke_family(db: &Db, family: &str) -> sqlx::Result<()> {
    sqlx::query("update refresh_tokens set used_at = coalesce(used_at, $1), expires_at = 0 where family = $2")
        .bind(now())
        .bind(family)
        .execute(db.pool())
        .await?;
    Ok(())
}
