//! The two grants of `POST /identity/token`: an API key, or a refresh token that works once.

use zeroize::Zeroizing;

use super::{
    ACCESS_TOKEN_SECONDS, BAD_KEY, BAD_REFRESH, Claims, REFRESH_TOKEN_SECONDS, Refused, Tokens,
};
use crate::{
    crypto::{random_token, sha256_hex},
    db::{
        self,
        api_keys::{ApiKey, Holder},
        audit::Actor,
        tokens::Presented,
    },
    domain::audit::AuditAction,
    ops::{OpError, Ops, api_keys::key_hash},
};

/// A secret's name for in-memory maps (the exchange's throttle per key): its SHA-256, so that
/// no map holds a usable key.
pub fn fingerprint(secret: &str) -> String {
    sha256_hex(secret)
}

/// Who holds a usable key: the member (not disabled) or the app, in words for the token.
async fn holder_name(ops: &Ops, key: &ApiKey) -> Result<Option<String>, OpError> {
    Ok(match &key.holder {
        Holder::User(id) => db::users::find(&ops.db, id)
            .await?
            .filter(|user| !user.disabled)
            .map(|user| user.email),
        Holder::App { app_id, project_id } => {
            let project = db::projects::find(&ops.db, project_id).await?;
            let app = db::apps::find(&ops.db, project_id, app_id).await?;
            project
                .zip(app)
                .map(|(p, a)| format!("{}/{}", p.slug, a.name))
        }
    })
}

pub(super) fn subject(key: &ApiKey) -> String {
    match &key.holder {
        Holder::User(id) => format!("user:{id}"),
        Holder::App { app_id, .. } => format!("app:{app_id}"),
    }
}

/// Where a new refresh token is recorded: the first of a new family (the API key grant), or the
/// successor of the one presented, written in the same transaction that uses it.
enum Lineage<'a> {
    NewFamily,
    Replaces(&'a str),
}

/// Signs an access token for `key` and records a new refresh token. `Ok(None)` when the refresh
/// token it replaces was used meanwhile (by a concurrent presentation).
async fn issue(
    ops: &Ops,
    key: &ApiKey,
    name: String,
    lineage: Lineage<'_>,
) -> Result<Option<Tokens>, OpError> {
    let now = db::now();
    let claims = Claims {
        sub: subject(key),
        iss: ops.public_url.clone(),
        iat: now,
        exp: now + ACCESS_TOKEN_SECONDS,
        key: key.id.clone(),
        name,
        generation: key.generation,
    };
    let access_token = ops.signer().await?.sign(&claims);
    let refresh_token = Zeroizing::new(random_token());
    let expires = now + REFRESH_TOKEN_SECONDS;
    let hash = sha256_hex(&refresh_token);
    match lineage {
        Lineage::NewFamily => {
            db::tokens::add_refresh_token(&ops.db, &hash, &db::new_id(), &key.id, expires).await?
        }
        Lineage::Replaces(parent) => {
            if !db::tokens::replace_refresh_token(&ops.db, parent, &hash, expires).await? {
                return Ok(None);
            }
        }
    }
    Ok(Some(Tokens {
        access_token,
        refresh_token: refresh_token.to_string(),
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECONDS,
        expiration: claims.exp,
        scope: "keyport",
    }))
}

/// The `apikey` grant: a usable key of a member or app that still exists gets tokens.
pub async fn exchange(
    ops: &Ops,
    apikey: &str,
    ip: &str,
) -> Result<Result<Tokens, Refused>, OpError> {
    let Some(key) = db::api_keys::find_by_hash(&ops.db, &key_hash(apikey.trim())).await? else {
        return Ok(Err(BAD_KEY));
    };
    if !key.usable(db::now()) {
        return Ok(Err(BAD_KEY));
    }
    let Some(name) = holder_name(ops, &key).await? else {
        return Ok(Err(BAD_KEY));
    };
    db::api_keys::used(&ops.db, &key.id, ip).await?;
    let tokens = issue(ops, &key, name, Lineage::NewFamily).await?;
    Ok(Ok(tokens.expect("a new family replaces nothing")))
}

/// The `refresh_token` grant: a refresh token works once. One presented again means it was
/// copied: its whole family is revoked, and the event audited. A token refused because of its
/// key (disabled, expired, its holder gone) is not used up.
pub async fn refresh(
    ops: &Ops,
    token: &str,
    actor: &Actor,
) -> Result<Result<Tokens, Refused>, OpError> {
    let hash = sha256_hex(token.trim());
    let (api_key_id, family) = match db::tokens::find_refresh_token(&ops.db, &hash).await? {
        Presented::Fresh { api_key_id, family } => (api_key_id, family),
        Presented::Spent { family } => return reused(ops, &family, actor).await,
        Presented::Unknown => return Ok(Err(BAD_REFRESH)),
    };
    let Some(key) = db::api_keys::find(&ops.db, &api_key_id).await? else {
        return Ok(Err(BAD_REFRESH));
    };
    if !key.usable(db::now()) {
        return Ok(Err(BAD_KEY));
    }
    let Some(name) = holder_name(ops, &key).await? else {
        return Ok(Err(BAD_KEY));
    };
    db::api_keys::used(&ops.db, &key.id, &actor.ip).await?;
    match issue(ops, &key, name, Lineage::Replaces(&hash)).await? {
        Some(tokens) => Ok(Ok(tokens)),
        // Another presentation of the same token used it first: this one is the copy.
        None => reused(ops, &family, actor).await,
    }
}

/// A refresh token of `family` was presented after it had been used: the family is revoked
/// (its latest token included, which was written with its parent's use) and the event audited.
async fn reused(
    ops: &Ops,
    family: &str,
    actor: &Actor,
) -> Result<Result<Tokens, Refused>, OpError> {
    db::tokens::revoke_family(&ops.db, family).await?;
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
    Ok(Err(BAD_REFRESH))
}
