//! Token exchange, as IBM Cloud IAM does it: an API key (or a refresh token) is exchanged for a
//! one-hour access token, a JWT signed by Keyport that other services can verify offline with
//! the keys at `/identity/keys`, and a single-use refresh token. Every API request checks its
//! token's key again, so a disabled key or a removed member is refused at once.
//!
//! An exchange reads one row (the key, its holder, the kid that signs) and writes nothing: the
//! refresh token is sealed too and carries its family and its place in it; the family gets a
//! row at its first refresh, which says which place may be used next (see
//! `db::tokens::use_refresh_token`). A key's last use is recorded off the request, at most once
//! a minute per key and address.
//!
//! `signing`: the keys that sign and verify, kept per process; `exchange`: the two grants;
//! `callers`: who presents an access token.

mod callers;
mod exchange;
mod signing;

use serde::{Deserialize, Serialize};

pub use callers::{Caller, CallerHolder, actor_label, authenticate, projects};
pub use exchange::{exchange, fingerprint, refresh};
pub use signing::{TokenKeys, jwks, rotate_signing_key};

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
    /// The token's own id: tells two tokens of one key issued in the same second apart.
    #[serde(default)]
    pub jti: String,
    /// The API key the token was exchanged for: checked on every request.
    pub key: String,
    /// Who the subject is, in words: a member's email, or an app's project and name.
    pub name: String,
    /// The key's generation when the token was issued: a token issued before the key or its
    /// user was disabled stays refused after they are enabled again.
    #[serde(default)]
    pub generation: i64,
    /// Set in refresh tokens only (`refresh`): one presented as an access token is refused.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
}

/// What a refresh token says: sealed (HMAC-SHA256) under a key derived from the key that signs
/// access tokens, so it works while that key verifies (one hour past a `keyport token-key
/// rotate`; programs then exchange their API key again). Only Keyport reads refresh tokens.
#[derive(Serialize, Deserialize, Debug)]
pub struct RefreshClaims {
    pub sub: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub key: String,
    /// The family: the tokens that descend from one API key exchange.
    #[serde(rename = "fam")]
    pub family: String,
    /// Its place in the family: 0 for the exchange's, then one more with each refresh.
    pub place: i64,
    /// Always `refresh`.
    #[serde(rename = "use")]
    pub token_use: String,
}

pub(super) const REFRESH_USE: &str = "refresh";

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

pub(super) const BAD_KEY: Refused = Refused {
    status: 401,
    code: "BXNIM0415E",
    message: "Provided API key could not be found, is disabled or has expired.",
};
pub(super) const BAD_REFRESH: Refused = Refused {
    status: 401,
    code: "BXNIM0407E",
    message: "Provided refresh token is not valid.",
};
