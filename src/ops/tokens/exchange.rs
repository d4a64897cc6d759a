//! The two grants of `POST /identity/token`: an API key, or a refresh token that works once.

use super::{
    ACCESS_TOKEN_SECONDS, BAD_KEY, BAD_REFRESH, Claims, REFRESH_TOKEN_SECONDS, REFRESH_USE,
    RefreshClaims, Refused, Tokens,
};
use crate::{
    crypto::{jwt, random_token, sha256_hex},
    db::{
        self,
        api_keys::{ApiKey, Holder},
        audit::Actor,
        key_holders::{ForExchange, HeldKey, KeyBy, KeyHolder},
        tokens::Used,
    },
    domain::audit::AuditAction,
    ops::{OpError, Ops, api_keys::key_hash},
};

/// A secret's name for in-memory maps (the exchange's throttle per key): its SHA-256, so that
/// no map holds a usable key.
pub fn fingerprint(secret: &str) -> String {
    sha256_hex(secret)
}

/// Who holds a usable key, in words for the token: the member's email, or the app's project and
/// name; `None` when the holder may not use it.
fn holder_name(held: &HeldKey) -> Option<String> {
    Some(match held.holder.as_ref()? {
        KeyHolder::Member(user) => user.email.clone(),
        KeyHolder::App { app, project } => format!("{}/{}", project.slug, app.name),
    })
}

pub(super) fn subject(key: &ApiKey) -> String {
    match &key.holder {
        Holder::User(id) => format!("user:{id}"),
        Holder::App { app_id, .. } => format!("app:{app_id}"),
    }
}

/// Records a use of `key` from `ip`, off the request: at most once a minute per key and
/// address, as the row just read tells, so that a busy program's exchanges write nothing.
fn note_use(ops: &Ops, key: &ApiKey, ip: &str, now: i64) {
    let recent = key.last_used_at.is_some_and(|at| at > now - 60) && key.last_used_ip == ip;
    if recent {
        return;
    }
    let (db, id, ip) = (ops.db.clone(), key.id.clone(), ip.to_string());
    tokio::spawn(async move {
        if let Err(e) = db::api_keys::used(&db, &id, &ip).await {
            tracing::warn!(error = %e, key = id, "could not record an API key's use");
        }
    });
}

/// Signs an access token for the key `found` holds and the refresh token at `place` of `family`.
async fn issue(
    ops: &Ops,
    found: &ForExchange,
    name: String,
    family: String,
    place: i64,
) -> Result<Tokens, OpError> {
    let key = &found.held.key;
    let signer = ops.signer(found.signing_kid.as_deref()).await?;
    let now = db::now();
    let claims = Claims {
        sub: subject(key),
        iss: ops.public_url.clone(),
        iat: now,
        exp: now + ACCESS_TOKEN_SECONDS,
        jti: random_token()[..16].to_string(),
        key: key.id.clone(),
        name,
        generation: key.generation,
        token_use: None,
    };
    let refresh = RefreshClaims {
        sub: claims.sub.clone(),
        iss: claims.iss.clone(),
        iat: now,
        exp: now + REFRESH_TOKEN_SECONDS,
        key: key.id.clone(),
        family,
        place,
        token_use: REFRESH_USE.into(),
    };
    Ok(Tokens {
        access_token: signer.sign(&claims),
        refresh_token: signer.seal_refresh(&refresh),
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECONDS,
        expiration: claims.exp,
        scope: "keyport",
    })
}

/// The `apikey` grant: a usable key of a member or app that still exists gets tokens, the
/// refresh token the first of a new family. One read, no write.
pub async fn exchange(
    ops: &Ops,
    apikey: &str,
    ip: &str,
) -> Result<Result<Tokens, Refused>, OpError> {
    let hash = key_hash(apikey.trim());
    let Some(found) = db::key_holders::for_exchange(&ops.db, KeyBy::Hash(&hash)).await? else {
        return Ok(Err(BAD_KEY));
    };
    let now = db::now();
    if !found.held.key.usable(now) {
        return Ok(Err(BAD_KEY));
    }
    let Some(name) = holder_name(&found.held) else {
        return Ok(Err(BAD_KEY));
    };
    note_use(ops, &found.held.key, ip, now);
    Ok(Ok(issue(ops, &found, name, db::new_id(), 0).await?))
}

/// How far ahead of this clock a refresh token's `iat` may be (the clocks of the processes
/// that seal and open them may differ a little).
const CLOCK_SKEW: i64 = 60;

/// The claims of a refresh token Keyport sealed with a key that still verifies, for this
/// issuer, unexpired, and not living longer than Keyport makes them.
async fn open_refresh(ops: &Ops, token: &str) -> Result<Option<RefreshClaims>, OpError> {
    let Some(kid) = jwt::refresh_kid(token) else {
        return Ok(None);
    };
    let Some(key) = ops.refresh_key(kid).await? else {
        return Ok(None);
    };
    let now = db::now();
    Ok(key.open_refresh::<RefreshClaims>(token).filter(|claims| {
        claims.token_use == REFRESH_USE
            && claims.iss == ops.public_url
            && claims.exp > now
            && claims.iat <= now + CLOCK_SKEW
            && claims.exp - claims.iat <= REFRESH_TOKEN_SECONDS
    }))
}

/// The `refresh_token` grant: a refresh token works once. One presented again means it was
/// copied: its whole family is revoked, and the event audited. A token refused because of its
/// key (disabled, expired, its holder gone) is not used up.
pub async fn refresh(
    ops: &Ops,
    token: &str,
    actor: &Actor,
) -> Result<Result<Tokens, Refused>, OpError> {
    let Some(claims) = open_refresh(ops, token.trim()).await? else {
        return Ok(Err(BAD_REFRESH));
    };
    let Some(found) = db::key_holders::for_exchange(&ops.db, KeyBy::Id(&claims.key)).await? else {
        return Ok(Err(BAD_REFRESH));
    };
    let key = &found.held.key;
    if claims.sub != subject(key) {
        return Ok(Err(BAD_REFRESH));
    }
    let now = db::now();
    if !key.usable(now) {
        return Ok(Err(BAD_KEY));
    }
    let Some(name) = holder_name(&found.held) else {
        return Ok(Err(BAD_KEY));
    };
    let successor_expires = now + REFRESH_TOKEN_SECONDS;
    let used = db::tokens::use_refresh_token(
        &ops.db,
        &claims.family,
        claims.place,
        &key.id,
        successor_expires,
    )
    .await?;
    if let Used::Reused { newly } = used {
        return reused(ops, &claims.family, newly, actor).await;
    }
    note_use(ops, key, &actor.ip, now);
    Ok(Ok(issue(
        ops,
        &found,
        name,
        claims.family,
        claims.place + 1,
    )
    .await?))
}

/// A refresh token of `family` was presented after it had been used (or its family revoked):
/// the family is revoked, its latest token with it, and the revocation audited once.
async fn reused(
    ops: &Ops,
    family: &str,
    newly: bool,
    actor: &Actor,
) -> Result<Result<Tokens, Refused>, OpError> {
    if newly {
        tracing::warn!(
            family,
            "a used refresh token was presented again; its family is revoked"
        );
        db::audit::record(
            &ops.db,
            None,
            actor,
            AuditAction::TokenRefreshReused,
            family,
            "",
        )
        .await?;
    }
    Ok(Err(BAD_REFRESH))
}
