//! The single sign-on provider seen from Keyport: an OpenID Connect relying party (authorization
//! code flow with PKCE, `state` and `nonce`) over the drivers' HTTP client and its outgoing-request
//! policy. Discovery and the provider's keys are cached; an ID token signed with a key id not
//! in the cache fetches the keys again, at most once a minute. Why not the `openidconnect` crate:
//! `docs/decisions.md`.

pub mod id_token;

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;
use zeroize::Zeroizing;

use super::http::{Http, not_answered};
pub use id_token::Expect;
use id_token::{JwkSet, Parsed, Refused};

/// How long discovery and the keys are trusted before they are read again.
const CACHE_SECONDS: u64 = 3600;

/// How Keyport is registered at the provider.
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
    /// Space-separated, `openid` among them.
    pub scopes: String,
    /// Where the provider sends the browser back: `<public URL>/login/sso/callback`.
    pub redirect_uri: String,
    /// The keys are fetched again for an unknown key id at most this often: a flood of tokens
    /// with made-up key ids costs the provider one request a minute.
    pub key_refetch: Duration,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// Why the provider's answer was not taken; each message is for the page and the log.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or gave an answer Keyport cannot read.
    #[error("{0}")]
    Unreachable(String),
    /// The provider answered, and refused: `code` is its error code (RFC 6749 5.2). Only
    /// `invalid_grant` says the grant, and so the account, is refused; `invalid_client`,
    /// `temporarily_unavailable` and the others are about Keyport or the provider.
    #[error("{message}")]
    Refused { code: String, message: String },
    /// A token failed a check: it is not to be believed.
    #[error("{0}")]
    Invalid(String),
}

impl OidcError {
    /// Whether the provider refused the grant itself (`invalid_grant`): the account, or its
    /// session there, is no longer vouched for. Any other failure says nothing about the account.
    pub fn refuses_the_grant(&self) -> bool {
        matches!(self, OidcError::Refused { code, .. } if code == "invalid_grant")
    }
}

impl From<Refused> for OidcError {
    fn from(refused: Refused) -> Self {
        OidcError::Invalid(refused.0)
    }
}

#[derive(Clone, Debug, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    /// RFC 9207: the provider names itself (`iss`) in every authorization response.
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

struct Keys {
    set: JwkSet,
    fetched: Instant,
}

/// The provider's tokens: the ID token's claims, checked, and the refresh token if it gave one.
pub struct Tokens {
    /// `None` when a refresh answered no ID token.
    pub claims: Option<Map<String, Value>>,
    pub refresh_token: Option<Zeroizing<String>>,
}

/// What the authorization request asks for besides the flow's own parameters.
#[derive(Default)]
pub struct Authorize<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_verifier: &'a str,
    /// `Some(0)` with `prompt=login`: the provider must ask the user again (step-up).
    pub max_age: Option<u32>,
    pub login_hint: Option<&'a str>,
}

/// A relying party of one provider.
pub struct OidcClient {
    settings: OidcSettings,
    http: Http,
    metadata: RwLock<Option<(Metadata, Instant)>>,
    keys: RwLock<Option<Keys>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<Zeroizing<String>>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The code challenge of `verifier` (RFC 7636, S256).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What a provider's text may show on a page: printable, at most 200 characters.
/// A provider's text as Keyport shows it: no hidden or control characters, at most 200.
pub(crate) fn shown(text: &str) -> String {
    text.chars()
        .filter(|c| !crate::domain::validate::is_hidden_or_control(*c))
        .take(200)
        .collect()
}

impl OidcClient {
    pub fn new(settings: OidcSettings, http: Http) -> Self {
        OidcClient {
            settings,
            http,
            metadata: RwLock::new(None),
            keys: RwLock::new(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    pub fn client_id(&self) -> &str {
        &self.settings.client_id
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        url: &str,
    ) -> Result<T, OidcError> {
        let response = self
            .http
            .get(url)
            .map_err(|e| OidcError::Unreachable(e.to_string()))?
            .send()
            .await
            .map_err(|e| OidcError::Unreachable(not_answered(what, url, &e).to_string()))?;
        if !response.status().is_success() {
            return Err(OidcError::Unreachable(format!(
                "{what} answered HTTP {}.",
                response.status().as_u16()
            )));
        }
        response.json().await.map_err(|_| {
            OidcError::Unreachable(format!("{what} gave an answer Keyport cannot read."))
        })
    }

    /// The provider's discovery document, read at first use and again after an hour.
    async fn metadata(&self) -> Result<Metadata, OidcError> {
        if let Some((metadata, at)) = self.metadata.read().await.as_ref()
            && at.elapsed() < Duration::from_secs(CACHE_SECONDS)
        {
            return Ok(metadata.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let metadata: Metadata = self
            .get_json("The single sign-on provider's discovery document", &url)
            .await?;
        if metadata.issuer != self.settings.issuer {
            return Err(OidcError::Invalid(format!(
                "The provider's discovery document names the issuer {}, not {}: check KEYPORT_OIDC_ISSUER.",
                shown(&metadata.issuer),
                self.settings.issuer
            )));
        }
        *self.metadata.write().await = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    /// Whether the provider names itself in every authorization response (RFC 9207, from its
    /// discovery document): then an answer without `iss` is not the provider's.
    pub async fn sends_iss(&self) -> Result<bool, OidcError> {
        Ok(self
            .metadata()
            .await?
            .authorization_response_iss_parameter_supported)
    }

    /// The URL the browser is sent to, to sign in at the provider.
    pub async fn authorization_url(&self, request: &Authorize<'_>) -> Result<String, OidcError> {
        let metadata = self.metadata().await?;
        let mut url = url::Url::parse(&metadata.authorization_endpoint).map_err(|_| {
            OidcError::Unreachable("The provider's authorization endpoint is not a URL.".into())
        })?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", &self.settings.redirect_uri)
                .append_pair("scope", &self.settings.scopes)
                .append_pair("state", request.state)
                .append_pair("nonce", request.nonce)
                .append_pair("code_challenge", &code_challenge(request.code_verifier))
                .append_pair("code_challenge_method", "S256");
            if let Some(max_age) = request.max_age {
                query
                    .append_pair("prompt", "login")
                    .append_pair("max_age", &max_age.to_string());
            }
            if let Some(hint) = request.login_hint {
                query.append_pair("login_hint", hint);
            }
        }
        Ok(url.to_string())
    }

    /// Posts a grant to the token endpoint, with the client secret (HTTP Basic, RFC 6749 2.3.1).
    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, OidcError> {
        let metadata = self.metadata().await?;
        let what = "The single sign-on provider's token endpoint";
        let encode =
            |v: &str| -> String { form_urlencoded::byte_serialize(v.as_bytes()).collect() };
        let response = self
            .http
            .post(&metadata.token_endpoint)
            .map_err(|e| OidcError::Unreachable(e.to_string()))?
            .basic_auth(
                encode(&self.settings.client_id),
                Some(encode(&self.settings.client_secret)),
            )
            .form(form)
            .send()
            .await
            .map_err(|e| {
                OidcError::Unreachable(not_answered(what, &metadata.token_endpoint, &e).to_string())
            })?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|_| {
                OidcError::Unreachable(format!("{what} gave an answer Keyport cannot read."))
            });
        }
        let error: Option<ErrorAnswer> = response.json().await.ok();
        match error {
            Some(error) if status.is_client_error() && !error.error.is_empty() => {
                let description = error
                    .error_description
                    .map(|d| format!(": {}", shown(&d)))
                    .unwrap_or_default();
                Err(OidcError::Refused {
                    message: format!(
                        "The provider refused ({}{description}).",
                        shown(&error.error)
                    ),
                    code: error.error,
                })
            }
            _ => Err(OidcError::Unreachable(format!(
                "{what} answered HTTP {}.",
                status.as_u16()
            ))),
        }
    }

    /// Exchanges the code of a sign-in for its tokens; the ID token is checked against
    /// `expect` (its nonce among them).
    pub async fn exchange(
        &self,
        code: &str,
        code_verifier: &str,
        expect: &Expect<'_>,
    ) -> Result<Tokens, OidcError> {
        let answer = self
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.settings.redirect_uri),
                ("code_verifier", code_verifier),
            ])
            .await?;
        let token = answer.id_token.ok_or_else(|| {
            OidcError::Invalid(
                "The provider answered without an ID token: is `openid` among the scopes?".into(),
            )
        })?;
        let claims = self.verify(&token, expect).await?;
        Ok(Tokens {
            claims: Some(claims),
            refresh_token: answer.refresh_token,
        })
    }

    /// Uses a refresh token: the provider answers only while the account and its grant live.
    /// A new ID token, if it gives one, must be about `expect.subject`.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        expect: &Expect<'_>,
    ) -> Result<Tokens, OidcError> {
        let answer = self
            .token_request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .await?;
        let claims = match answer.id_token {
            Some(token) => Some(self.verify(&token, expect).await?),
            None => None,
        };
        Ok(Tokens {
            claims,
            refresh_token: answer.refresh_token,
        })
    }

    /// A back-channel logout token, checked: signature, `iss`, `aud`, `iat`, the logout event.
    pub async fn verify_logout_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Map<String, Value>, OidcError> {
        let parsed = id_token::parse(token)?;
        self.check_signature(&parsed).await?;
        id_token::check_logout_claims(
            &parsed.claims,
            &self.settings.issuer,
            &self.settings.client_id,
            now,
        )?;
        Ok(parsed.claims)
    }

    async fn verify(
        &self,
        token: &str,
        expect: &Expect<'_>,
    ) -> Result<Map<String, Value>, OidcError> {
        let parsed = id_token::parse(token)?;
        self.check_signature(&parsed).await?;
        id_token::check_claims(&parsed.claims, expect)?;
        Ok(parsed.claims)
    }

    async fn check_signature(&self, parsed: &Parsed) -> Result<(), OidcError> {
        if !id_token::supported(&parsed.alg) {
            return Err(OidcError::Invalid(format!(
                "The provider's token is signed with {}, which Keyport does not accept.",
                shown(&parsed.alg)
            )));
        }
        let kid = parsed.kid.as_deref();
        let known = {
            let keys = self.keys.read().await;
            keys.as_ref()
                .filter(|k| k.fetched.elapsed() < Duration::from_secs(CACHE_SECONDS))
                .map(|k| {
                    id_token::candidates(&k.set, &parsed.alg, kid)
                        .into_iter()
                        .cloned()
                        .collect::<Vec<_>>()
                })
        };
        let candidates = match known {
            Some(found) if !found.is_empty() => found,
            _ => self.fetch_keys_for(parsed, kid).await?,
        };
        if candidates
            .iter()
            .any(|key| id_token::signed_by(parsed, key))
        {
            Ok(())
        } else {
            Err(OidcError::Invalid(
                "The token's signature is not the provider's: it was not signed by a key the provider publishes.".into(),
            ))
        }
    }

    /// The keys again from the provider, unless they were fetched less than a minute ago.
    async fn fetch_keys_for(
        &self,
        parsed: &Parsed,
        kid: Option<&str>,
    ) -> Result<Vec<id_token::Jwk>, OidcError> {
        let mut keys = self.keys.write().await;
        let fresh = keys
            .as_ref()
            .is_some_and(|k| k.fetched.elapsed() < self.settings.key_refetch);
        if !fresh {
            let metadata = self.metadata().await?;
            let set: JwkSet = self
                .get_json("The single sign-on provider's keys", &metadata.jwks_uri)
                .await?;
            *keys = Some(Keys {
                set,
                fetched: Instant::now(),
            });
        }
        let set = &keys.as_ref().expect("just set").set;
        Ok(id_token::candidates(set, &parsed.alg, kid)
            .into_iter()
            .cloned()
            .collect())
    }
}
