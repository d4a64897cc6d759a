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

use std::sync::{Arc, OnceLock};

use super::{AppState, PageError, form_token, form_token::FormTokens, session};
use crate::crypto::random_token;

/// The token a visitor without a session puts in the forms of the page being answered, made
/// when the page asks for it; the visitor's cookie is set with the answer if it is new.
#[derive(Clone)]
pub struct VisitorToken {
    nonce: String,
    issued: Arc<OnceLock<String>>,
}

impl VisitorToken {
    pub fn token(&self, forms: &FormTokens) -> String {
        self.issued
            .get_or_init(|| forms.issue(&self.nonce, crate::db::now()))
            .clone()
    }
}

pub const FIELD: &str = "csrf_token";
const MAX_FORM_BYTES: usize = 64 * 1024;

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, request).await {
        Ok((mut request, cookie_nonce)) => {
            let fresh = cookie_nonce.is_none();
            let visitor = VisitorToken {
                nonce: cookie_nonce.unwrap_or_else(random_token),
                issued: Arc::default(),
            };
            request.extensions_mut().insert(visitor.clone());
            let mut response = next.run(request).await;
            if fresh && visitor.issued.get().is_some() {
                let cookie = form_token::cookie(&visitor.nonce, state.config.secure_cookies());
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

/// Checks the token of a state-changing request (a page view reads nothing). Returns the request
/// intact, and the visitor's cookie value if it has one.
async fn check(state: &AppState, request: Request) -> Result<(Request, Option<String>), PageError> {
    let cookie_nonce = form_token::nonce(request.headers());
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok((request, cookie_nonce));
    }
    let session = request
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or(PageError::Csrf)?;
    let stored = session::stored_csrf_token(&session).await?;
    let (parts, body) = request.into_parts();
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
    Ok((Request::from_parts(parts, Body::from(bytes)), cookie_nonce))
}
