//! CSRF protection for every form: a token must come back in the hidden field `csrf_token` of
//! every state-changing request, or nothing runs. A signed-in session keeps a synchronizer token
//! on the server; a visitor without a session gets a signed token bound to a cookie
//! ([`super::form_token`]), so that looking at the sign-in page stores nothing.

use axum::{
    body::Body,
    extract::{Request, State},
    http::{Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::{AppState, PageError, form_token, session};
use crate::crypto::random_token;

/// The token a visitor without a session puts in the forms of the page being answered.
#[derive(Clone)]
pub struct VisitorToken(pub String);

pub const FIELD: &str = "csrf_token";
const MAX_FORM_BYTES: usize = 64 * 1024;

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, request).await {
        Ok((request, new_nonce)) => {
            let mut response = next.run(request).await;
            if let Some(nonce) = new_nonce {
                let cookie = form_token::cookie(&nonce, state.config.secure_cookies());
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

/// Checks the token of a state-changing request, and gives a visitor without a session the
/// token for the forms of the answer. Returns the request intact, and the cookie value to set
/// when the visitor had none.
async fn check(state: &AppState, request: Request) -> Result<(Request, Option<String>), PageError> {
    let session = request
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or(PageError::Csrf)?;
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let stored = session::stored_csrf_token(&session).await?;
    let cookie_nonce = form_token::nonce(request.headers());
    let (mut parts, body) = request.into_parts();
    let body = if safe {
        body
    } else {
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| PageError::BadRequest("The form is too large."))?;
        let submitted = form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == FIELD)
            .map(|(_, value)| value.into_owned())
            .ok_or(PageError::Csrf)?;
        let valid = match (&stored, &cookie_nonce) {
            (Some(expected), _) => bool::from(submitted.as_bytes().ct_eq(expected.as_bytes())),
            (None, Some(nonce)) => state
                .form_tokens
                .verify(nonce, &submitted, crate::db::now()),
            (None, None) => false,
        };
        if !valid {
            return Err(PageError::Csrf);
        }
        Body::from(bytes)
    };
    let mut new_nonce = None;
    if stored.is_none() {
        let nonce = cookie_nonce.unwrap_or_else(|| {
            let nonce = random_token();
            new_nonce = Some(nonce.clone());
            nonce
        });
        let token = state.form_tokens.issue(&nonce, crate::db::now());
        parts.extensions.insert(VisitorToken(token));
    }
    Ok((Request::from_parts(parts, body), new_nonce))
}
