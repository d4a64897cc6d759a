//! CSRF protection before sign-in without a stored session: the forms a visitor fills in before
//! they have a session (sign-in, setup, set-password) carry a signed, short-lived token bound to
//! a random value in a cookie (a signed double-submit cookie). Nothing is written to the
//! database for a visitor who only looks at a page.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::hmac;

use crate::crypto::master_key::MasterKey;

/// The cookie that holds the visitor's random value.
pub const COOKIE: &str = "keyport_form";

/// How long a form may stay open before it must be loaded again.
const LIFETIME_SECONDS: i64 = 2 * 60 * 60;

/// Signs and checks tokens with a key derived from the master key, so that every portal process
/// of an instance accepts the tokens of the others.
#[derive(Clone)]
pub struct FormTokens {
    key: hmac::Key,
}

impl FormTokens {
    pub fn new(master: &MasterKey) -> Self {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, master.as_bytes());
        let derived = hmac::sign(&derive, b"keyport form tokens v1");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// The token for a form shown at `now` to the visitor holding `nonce`.
    pub fn issue(&self, nonce: &str, now: i64) -> String {
        let tag = hmac::sign(&self.key, message(nonce, now).as_bytes());
        format!("{now}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Whether `token` was issued to the holder of `nonce` within the lifetime.
    pub fn verify(&self, nonce: &str, token: &str, now: i64) -> bool {
        let Some((issued, tag)) = token.split_once('.') else {
            return false;
        };
        let (Ok(issued), Ok(tag)) = (issued.parse::<i64>(), URL_SAFE_NO_PAD.decode(tag)) else {
            return false;
        };
        (now - LIFETIME_SECONDS..=now + 60).contains(&issued)
            && hmac::verify(&self.key, message(nonce, issued).as_bytes(), &tag).is_ok()
    }
}

fn message(nonce: &str, issued: i64) -> String {
    format!("{nonce}.{issued}")
}

/// The visitor's random value from the request's cookies, if it has a usable one.
pub fn nonce(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && value.len() == 43)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value that gives a visitor `nonce`: for this browser session only, never
/// sent by other sites' requests, not readable by scripts.
pub fn cookie(nonce: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("a random token is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> FormTokens {
        FormTokens::new(&MasterKey::generate())
    }

    #[test]
    fn a_token_is_accepted_for_its_nonce_within_its_lifetime_only() {
        let tokens = tokens();
        let nonce = crate::crypto::random_token();
        let token = tokens.issue(&nonce, 1_000_000);
        assert!(tokens.verify(&nonce, &token, 1_000_000));
        assert!(tokens.verify(&nonce, &token, 1_000_000 + LIFETIME_SECONDS));
        assert!(!tokens.verify(&nonce, &token, 1_000_001 + LIFETIME_SECONDS));
        assert!(!tokens.verify(&crate::crypto::random_token(), &token, 1_000_000));
        let forged_time = token.replacen("1000000", "1000100", 1);
        assert!(!tokens.verify(&nonce, &forged_time, 1_000_100));
        assert!(!tokens.verify(&nonce, "", 1_000_000));
        assert!(!tokens.verify(&nonce, "1000000.", 1_000_000));
    }

    #[test]
    fn another_master_key_makes_other_tokens() {
        let nonce = crate::crypto::random_token();
        let token = tokens().issue(&nonce, 1_000_000);
        assert!(!tokens().verify(&nonce, &token, 1_000_000));
    }

    #[test]
    fn the_nonce_is_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        let nonce = crate::crypto::random_token();
        headers.append(header::COOKIE, HeaderValue::from_static("a=b"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE}={nonce}")).unwrap(),
        );
        assert_eq!(super::nonce(&headers), Some(nonce));
        assert_eq!(super::nonce(&HeaderMap::new()), None);
    }
}
