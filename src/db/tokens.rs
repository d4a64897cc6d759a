//! What token exchange keeps: the keys that sign access tokens (sealed), and per family of
//! refresh tokens which one may be used next (the tokens themselves are signed and kept by
//! their programs only).

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

/// The signing key `kid`, if it may still verify a token: the current one, or one retired less
/// than `lifetime` seconds ago.
pub async fn verifying_signing_key(
    db: &Db,
    kid: &str,
    lifetime: i64,
) -> sqlx::Result<Option<StoredSigningKey>> {
    let row: Option<(String, Vec<u8>, String)> = sqlx::query_as(
        "select kid, private_key, public_key from signing_keys
         where kid = $1 and (retired_at is null or retired_at > $2)",
    )
    .bind(kid)
    .bind(now() - lifetime)
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

/// What using a refresh token did to its family.
#[derive(Debug, PartialEq, Eq)]
pub enum Used {
    /// It was the family's next token: the one after it is the next now.
    Used,
    /// It was used before, or its family was revoked: a copy. The family is revoked now;
    /// `newly` when this presentation revoked it (so that it is audited once).
    Reused { newly: bool },
}

/// Uses the token at `place` of `family` (of key `api_key_id`), whose successor expires at
/// `expires_at`. One statement decides: of concurrent presentations of one token exactly one
/// moves the family on, and since every token of a family is checked against the family's row,
/// revoking the family ends its latest token too, whenever that was issued.
pub async fn use_refresh_token(
    db: &Db,
    family: &str,
    place: i64,
    api_key_id: &str,
    expires_at: i64,
) -> sqlx::Result<Used> {
    let moved = if place == 0 {
        // A family's first refresh makes its row.
        sqlx::query(
            "insert into refresh_families (family, api_key_id, next_place, expires_at)
             values ($1, $2, 1, $3) on conflict (family) do nothing",
        )
        .bind(family)
        .bind(api_key_id)
        .bind(expires_at)
        .execute(db.pool())
        .await?
    } else {
        sqlx::query(
            "update refresh_families set next_place = $1 + 1, expires_at = $2
             where family = $3 and next_place = $1 and revoked_at is null",
        )
        .bind(place)
        .bind(expires_at)
        .bind(family)
        .execute(db.pool())
        .await?
    };
    if moved.rows_affected() == 1 {
        return Ok(Used::Used);
    }
    let revoked = sqlx::query(
        "update refresh_families set revoked_at = $1 where family = $2 and revoked_at is null",
    )
    .bind(now())
    .bind(family)
    .execute(db.pool())
    .await?;
    Ok(Used::Reused {
        newly: revoked.rows_affected() == 1,
    })
}

/// Forgets the families whose latest token has expired: no token of them can be presented.
pub async fn forget_expired_families(db: &Db) -> sqlx::Result<u64> {
    let deleted = sqlx::query("delete from refresh_families where expires_at <= $1")
        .bind(now())
        .execute(db.pool())
        .await?;
    Ok(deleted.rows_affected())
}
