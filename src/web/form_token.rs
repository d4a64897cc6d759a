//! CSRF protection before sign-in without a stored session: the forms a visitor fills in before
//! they have a session (sign-in, setup, set-password) carry a signed, short-lived token bound to
//! a random value in a cookie (a signed double-submit cookie). Nothing is written to the
//! database for a visitor who only looks at a page. The tokens are signed and checked by
//! `ops::FormTokens`; this file reads and writes the cookie.

use axum::http::{HeaderMap, HeaderValue, header};

/// The cookie that holds the visitor's random value.
pub const COOKIE: &str = "keyport_form";

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

    #[test]
    fn the_nonce_is_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        let nonce = crate::ops::random_token();
        headers.append(header::COOKIE, HeaderValue::from_static("a=b"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE}={nonce}")).unwrap(),
        );
        assert_eq!(super::nonce(&headers), Some(nonce));
        assert_eq!(super::nonce(&HeaderMap::new()), None);
    }
}
