//! Token exchange, as IBM Cloud IAM does it: an API key (or a refresh token) is exchanged for a
//! one-hour access token, a JWT signed by Keyport that other services can verify offline with
//! the keys at `/identity/keys`, and a single-use refresh token. Every API request checks its
//! token's key again, so a disabled key or a removed member is refused at once.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{OpError, Ops, api_keys::key_hash};
use crate::{
    crypto::{jwt, random_token, sha256_hex},
    db::{
        self,
        api_keys::{ApiKey, Holder},
        audit::Actor,
        keys::UnderMaster,
        projects::Project,
        tokens::Presented,
        users::User,
    },
    domain::{audit::AuditAction, roles::Role},
};

/// How long a process trusts the public keys it read: a key retired or rotated away stops
/// verifying (or a new one starts) within this time everywhere.
const VERIFIERS_FOR: Duration = Duration::from_secs(60);

/// How long an access token is valid, as IAM's: one hour.
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;
/// How long a refresh token is valid if it is not used.
pub const REFRESH_TOKEN_SECONDS: i64 = 30 * 86_400;

/// What an access token says.
#[derive(Serialize, Deserialize, Debug)]
pub struct Claims {
    /// `user:ID` or `app:ID`.
    pub sub: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// The API key the token was exchanged for: checked on every request.
    pub key: String,
    /// Who the subject is, in words: a member's email, or an app's project and name.
    pub name: String,
}

/// The answer to a token exchange, shaped as IAM's.
#[derive(Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub expiration: i64,
    pub scope: &'static str,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens(expires {}, [redacted])", self.expiration)
    }
}

/// Why an exchange was refused: a code and a message in IAM's manner. Never says which of key
/// or token was wrong beyond what the caller sent.
#[derive(Debug)]
pub struct Refused {
    /// 400: the request is malformed; 401: the key or token does not (or no longer) work.
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
}

const BAD_KEY: Refused = Refused {
    status: 401,
    code: "BXNIM0415E",
    message: "Provided API key could not be found, is disabled or has expired.",
};
const BAD_REFRESH: Refused = Refused {
    status: 401,
    code: "BXNIM0407E",
    message: "Provided refresh token is not valid.",
};

/// The keys of this process: the one that signs, opened once per kid, and the public keys that
/// verify, by kid.
#[derive(Default)]
pub struct TokenKeys {
    signer: RwLock<Option<Arc<jwt::SigningKey>>>,
    /// The public keys by kid, and when they were read: a retired key stops verifying within
    /// [`VERIFIERS_FOR`] in every process, and unknown kids cost at most one query a second.
    verifiers: RwLock<Option<(Instant, HashMap<String, String>)>>,
}

impl Ops {
    /// The key that signs now, made on first use. The database is asked for the current kid at
    /// every exchange, so that a rotation by another process (`keyport token-key rotate`) holds
    /// from the next exchange on and a retired key signs nothing; a key is opened once per kid.
    async fn signer(&self) -> Result<Arc<jwt::SigningKey>, OpError> {
        let current = db::tokens::current_signing_key(&self.db).await?;
        if let (Some(stored), Some(key)) =
            (&current, self.tokens.signer.read().expect("lock").as_ref())
            && stored.kid == key.kid
        {
            return Ok(Arc::clone(key));
        }
        let key = match current {
            Some(stored) => {
                let what = UnderMaster::SigningKey { kid: &stored.kid };
                let private = self.open_under_master(what, &stored.sealed).map_err(|_| {
                    anyhow::anyhow!("the token signing key {} does not open", stored.kid)
                })?;
                jwt::SigningKey::from_pkcs8(stored.kid.clone(), private).ok_or_else(|| {
                    anyhow::anyhow!("the token signing key {} is damaged", stored.kid)
                })?
            }
            None => self.add_signing_key().await?,
        };
        let key = Arc::new(key);
        *self.tokens.signer.write().expect("lock") = Some(Arc::clone(&key));
        // The tokens this process signs verify here at once, whenever the keys were last read.
        if let Some((_, keys)) = self.tokens.verifiers.write().expect("lock").as_mut() {
            keys.insert(key.kid.clone(), key.public_key.clone());
        }
        Ok(key)
    }

    async fn add_signing_key(&self) -> Result<jwt::SigningKey, OpError> {
        let key = jwt::SigningKey::generate();
        let sealed = self.seal_under_master(UnderMaster::SigningKey { kid: &key.kid }, key.pkcs8());
        db::tokens::add_signing_key(&self.db, &key.kid, &sealed, &key.public_key).await?;
        Ok(key)
    }

    /// The public key `kid`, if it may still verify a token.
    async fn verifier(&self, kid: &str) -> Result<Option<String>, OpError> {
        if let Some((read, keys)) = self.tokens.verifiers.read().expect("lock").as_ref()
            && read.elapsed() < VERIFIERS_FOR
            && (keys.contains_key(kid) || read.elapsed() < Duration::from_secs(1))
        {
            return Ok(keys.get(kid).cloned());
        }
        let keys: HashMap<String, String> =
            db::tokens::verifying_keys(&self.db, ACCESS_TOKEN_SECONDS)
                .await?
                .into_iter()
                .collect();
        let public = keys.get(kid).cloned();
        *self.tokens.verifiers.write().expect("lock") = Some((Instant::now(), keys));
        Ok(public)
    }
}

/// Makes a new signing key: it signs from now on; tokens signed by the old one stay valid until
/// they expire. Returns its kid.
pub async fn rotate_signing_key(ops: &Ops) -> Result<String, OpError> {
    let key = ops.add_signing_key().await?;
    *ops.tokens.signer.write().expect("lock") = None;
    db::tokens::forget_old_signing_keys(&ops.db, ACCESS_TOKEN_SECONDS).await?;
    Ok(key.kid)
}

/// A secret's name for in-memory maps (the exchange's throttle per key): its SHA-256, so that
/// no map holds a usable key.
pub fn fingerprint(secret: &str) -> String {
    sha256_hex(secret)
}

/// The public keys that verify Keyport's access tokens, as a JWKS.
pub async fn jwks(ops: &Ops) -> Result<JwkSet, OpError> {
    ops.signer().await?;
    let keys = db::tokens::verifying_keys(&ops.db, ACCESS_TOKEN_SECONDS).await?;
    Ok(JwkSet {
        keys: keys
            .iter()
            .map(|(kid, public)| jwt::jwk(kid, public))
            .collect(),
    })
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

fn subject(key: &ApiKey) -> String {
    match &key.holder {
        Holder::User(id) => format!("user:{id}"),
        Holder::App { app_id, .. } => format!("app:{app_id}"),
    }
}

/// Signs an access token for `key` and records a new refresh token of `family`.
async fn issue(ops: &Ops, key: &ApiKey, name: String, family: &str) -> Result<Tokens, OpError> {
    let now = db::now();
    let claims = Claims {
        sub: subject(key),
        iss: ops.public_url.clone(),
        iat: now,
        exp: now + ACCESS_TOKEN_SECONDS,
        key: key.id.clone(),
        name,
    };
    let access_token = ops.signer().await?.sign(&claims);
    let refresh_token = Zeroizing::new(random_token());
    let expires = now + REFRESH_TOKEN_SECONDS;
    db::tokens::add_refresh_token(
        &ops.db,
        &sha256_hex(&refresh_token),
        family,
        &key.id,
        expires,
    )
    .await?;
    Ok(Tokens {
        access_token,
        refresh_token: refresh_token.to_string(),
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_SECONDS,
        expiration: claims.exp,
        scope: "keyport",
    })
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
    let family = db::new_id();
    Ok(Ok(issue(ops, &key, name, &family).await?))
}

/// The `refresh_token` grant: a refresh token works once. One presented again means it was
/// copied: its whole family is revoked, and the event audited.
pub async fn refresh(
    ops: &Ops,
    token: &str,
    actor: &Actor,
) -> Result<Result<Tokens, Refused>, OpError> {
    let (api_key_id, family) =
        match db::tokens::use_refresh_token(&ops.db, &sha256_hex(token.trim())).await? {
            Presented::Fresh { api_key_id, family } => (api_key_id, family),
            Presented::Spent { family } => {
                db::tokens::revoke_family(&ops.db, &family).await?;
                tracing::warn!(
                    family,
                    "a used refresh token was presented again; its family is revoked"
                );
                db::audit::record(
                    &ops.db,
                    None,
                    actor,
                    AuditAction::TokenRefreshReused,
                    &family,
                    "",
                )
                .await?;
                return Ok(Err(BAD_REFRESH));
            }
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
    Ok(Ok(issue(ops, &key, name, &family).await?))
}

/// Who presents an access token: its key, and the member or app holding it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key: ApiKey,
    pub holder: CallerHolder,
}

#[derive(Clone, Debug)]
pub enum CallerHolder {
    Member(User),
    App {
        project: Project,
        app: db::apps::App,
    },
}

/// The caller of an access token, if the token is Keyport's, unexpired, and its key is still
/// usable and held by an enabled member or an existing app.
pub async fn authenticate(ops: &Ops, token: &str) -> Result<Option<Caller>, OpError> {
    let Some(kid) = jwt::kid(token) else {
        return Ok(None);
    };
    let Some(public) = ops.verifier(&kid).await? else {
        return Ok(None);
    };
    let Some(claims) = jwt::verify::<Claims>(token, &public) else {
        return Ok(None);
    };
    let Some(key) = db::api_keys::find(&ops.db, &claims.key).await? else {
        return Ok(None);
    };
    if !key.usable(db::now()) || claims.sub != subject(&key) {
        return Ok(None);
    }
    let holder = match &key.holder {
        Holder::User(id) => match db::users::find(&ops.db, id).await? {
            Some(user) if !user.disabled => CallerHolder::Member(user),
            _ => return Ok(None),
        },
        Holder::App { app_id, project_id } => {
            let project = db::projects::find(&ops.db, project_id).await?;
            let app = db::apps::find(&ops.db, project_id, app_id).await?;
            match project.zip(app) {
                Some((project, app)) => CallerHolder::App { project, app },
                None => return Ok(None),
            }
        }
    };
    Ok(Some(Caller { key, holder }))
}

/// The projects the caller may reach, with its role in each.
pub async fn projects(ops: &Ops, caller: &Caller) -> Result<Vec<(Project, Role)>, OpError> {
    Ok(match &caller.holder {
        CallerHolder::Member(user) => db::projects::list_for_user(&ops.db, &user.id).await?,
        CallerHolder::App { project, .. } => vec![(project.clone(), Role::Member)],
    })
}

/// How the audit log names the caller.
pub fn actor_label(caller: &Caller) -> String {
    match &caller.holder {
        CallerHolder::Member(user) => format!("{} (API key {})", user.email, caller.key.prefix),
        CallerHolder::App { app, .. } => {
            format!("app {} (API key {})", app.name, caller.key.prefix)
        }
    }
}
