//! The signed tokens of visitors' forms (CSRF before sign-in, see `web::form_token`): an HMAC
//! under a key derived from the master key, so that every portal process of an instance accepts
//! the tokens of the others.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::hmac;

use crate::crypto::master_key::MasterKey;

/// How long a form may stay open before it must be loaded again.
const LIFETIME_SECONDS: i64 = 2 * 60 * 60;

/// Signs and checks tokens with a key derived from the master key, so that every portal process
/// of an instance accepts the tokens of the others.
#[derive(Clone)]
pub struct FormTokens {
    key: hmac::Key,
}

impl FormTokens {
    pub(super) fn new(master: &MasterKey) -> Self {
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
}
