//! The keys that sign access and refresh tokens and the public keys that verify them, as this
//! process keeps them: the signer opened once per kid, the verifiers re-read every minute, and
//! the access tokens verified, each checked once.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::jwk::JwkSet;

use super::{ACCESS_TOKEN_SECONDS, Claims};
use crate::{
    crypto::{jwt, sha256_hex},
    db::{self, keys::UnderMaster, tokens::StoredSigningKey},
    ops::{OpError, Ops},
};

/// How long a process trusts the public keys it read: a key retired or rotated away stops
/// verifying (or a new one starts) within this time everywhere.
const VERIFIERS_FOR: Duration = Duration::from_secs(60);

/// Access tokens whose signature this process checked, kept at most: past it, the map starts
/// over (a few MB at most).
const MAX_VERIFIED: usize = 10_000;

/// The keys of this process: the one that signs, opened once per kid, and the public keys that
/// verify, by kid; and the access tokens it verified.
#[derive(Default)]
pub struct TokenKeys {
    signer: RwLock<Option<Arc<jwt::SigningKey>>>,
    /// The public keys by kid, and when they were read: a retired key stops verifying within
    /// [`VERIFIERS_FOR`] in every process, and unknown kids cost at most one query a second.
    verifiers: RwLock<Option<(Instant, HashMap<String, String>)>>,
    /// Access tokens verified here, by their SHA-256 (no map holds a usable token), with their
    /// kid and claims. A program sends one token for up to an hour, and checking an Ed25519
    /// signature costs more than the rest of an API request; what the claims name (the key, its
    /// holder) is still read from the database at every request.
    verified: Mutex<HashMap<String, (String, Arc<Claims>)>>,
    /// Retired keys opened to read the refresh tokens they sealed, by kid.
    retired: Mutex<HashMap<String, Arc<jwt::SigningKey>>>,
}

impl Ops {
    /// The key that signs now, made on first use. `current` is the kid the database names as
    /// the current one, read by the exchange's one query: a rotation by another process
    /// (`keyport token-key rotate`) holds from the next exchange on, and a retired key signs
    /// nothing. A key is opened and parsed once per kid. `None` asks the database.
    pub(super) async fn signer(
        &self,
        current: Option<&str>,
    ) -> Result<Arc<jwt::SigningKey>, OpError> {
        if let (Some(kid), Some(key)) = (current, self.tokens.signer.read().expect("lock").as_ref())
            && kid == key.kid
        {
            return Ok(Arc::clone(key));
        }
        let key = match db::tokens::current_signing_key(&self.db).await? {
            Some(stored) => self.open_signing_key(stored)?,
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

    fn open_signing_key(&self, stored: StoredSigningKey) -> Result<jwt::SigningKey, OpError> {
        let what = UnderMaster::SigningKey { kid: &stored.kid };
        let private = self
            .open_under_master(what, &stored.sealed)
            .map_err(|_| anyhow::anyhow!("the token signing key {} does not open", stored.kid))?;
        let key = jwt::SigningKey::from_pkcs8(stored.kid.clone(), private)
            .ok_or_else(|| anyhow::anyhow!("the token signing key {} is damaged", stored.kid))?;
        Ok(key)
    }

    /// The signing key `kid`, whose derived key authenticates its refresh tokens, if it may
    /// still verify (as for access tokens): the one that signs, or a retired one, opened once.
    pub(super) async fn refresh_key(
        &self,
        kid: &str,
    ) -> Result<Option<Arc<jwt::SigningKey>>, OpError> {
        if self.verifier(kid).await?.is_none() {
            return Ok(None);
        }
        if let Some(key) = self.tokens.signer.read().expect("lock").as_ref()
            && key.kid == kid
        {
            return Ok(Some(Arc::clone(key)));
        }
        if let Some(key) = self.tokens.retired.lock().expect("lock").get(kid) {
            return Ok(Some(Arc::clone(key)));
        }
        let stored = db::tokens::verifying_signing_key(&self.db, kid, ACCESS_TOKEN_SECONDS).await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let key = Arc::new(self.open_signing_key(stored)?);
        let mut retired = self.tokens.retired.lock().expect("lock");
        // Keys retire once an hour at most: a handful, unless rotated in a loop.
        if retired.len() >= 16 {
            retired.clear();
        }
        retired.insert(kid.to_string(), Arc::clone(&key));
        Ok(Some(key))
    }

    async fn add_signing_key(&self) -> Result<jwt::SigningKey, OpError> {
        let key = jwt::SigningKey::generate();
        let sealed = self.seal_under_master(UnderMaster::SigningKey { kid: &key.kid }, key.pkcs8());
        db::tokens::add_signing_key(&self.db, &key.kid, &sealed, &key.public_key).await?;
        Ok(key)
    }

    /// The claims of an access token Keyport signed with a key that still verifies, unexpired;
    /// its signature checked once per process.
    pub(super) async fn verify_access(&self, token: &str) -> Result<Option<Arc<Claims>>, OpError> {
        let digest = sha256_hex(token);
        let seen = self
            .tokens
            .verified
            .lock()
            .expect("lock")
            .get(&digest)
            .cloned();
        if let Some((kid, claims)) = seen {
            let verifies = self.verifier(&kid).await?.is_some();
            return Ok((verifies && claims.exp > db::now()).then_some(claims));
        }
        let Some(kid) = jwt::kid(token) else {
            return Ok(None);
        };
        let Some(public) = self.verifier(&kid).await? else {
            return Ok(None);
        };
        let lifetime = ACCESS_TOKEN_SECONDS as u64;
        let Some(claims) = jwt::verify::<Claims>(token, &public, &self.public_url, lifetime)
            .filter(|claims| claims.token_use.is_none())
        else {
            return Ok(None);
        };
        let claims = Arc::new(claims);
        let mut verified = self.tokens.verified.lock().expect("lock");
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        verified.insert(digest, (kid, Arc::clone(&claims)));
        Ok(Some(claims))
    }

    /// The public key `kid`, if it may still verify a token.
    pub(super) async fn verifier(&self, kid: &str) -> Result<Option<String>, OpError> {
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

/// The public keys that verify Keyport's access tokens, as a JWKS.
pub async fn jwks(ops: &Ops) -> Result<JwkSet, OpError> {
    ops.signer(None).await?;
    let keys = db::tokens::verifying_keys(&ops.db, ACCESS_TOKEN_SECONDS).await?;
    Ok(JwkSet {
        keys: keys
            .iter()
            .map(|(kid, public)| jwt::jwk(kid, public))
            .collect(),
    })
}
