//! CSRF protection for every form: a token must come back in the hidden field `csrf_token` of
//! every state-changing request, or nothing runs. A signed-in session keeps a synchronizer token
//! on the server; a visitor without a session gets a signed token bound to a cookie
//! ([`super::form_token`]), so that looking at the sign-in page stores nothing.

use std::sync::{Arc, OnceLock};

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
use crate::ops::{FormTokens, random_token};

/// The token a visitor without a session puts in the forms of the page being answered, made
/// when the page asks for it (with a new random value when the visitor has no cookie yet, which
/// is then set with the answer).
#[derive(Clone)]
pub struct VisitorToken {
    /// The random value of the visitor's `keyport_form` cookie, if they sent one.
    cookie: Option<String>,
    /// The random value the token is bound to, and the token, once made.
    issued: Arc<OnceLock<(String, String)>>,
}

impl VisitorToken {
    pub fn token(&self, forms: &FormTokens) -> String {
        let (_, token) = self.issued.get_or_init(|| {
            let nonce = self.cookie.clone().unwrap_or_else(random_token);
            let token = forms.issue(&nonce, crate::domain::time::now());
            (nonce, token)
        });
        token.clone()
    }

    /// The random value to set in a new cookie: when a token was made and the visitor had none.
    fn new_cookie(&self) -> Option<&str> {
        match (&self.cookie, self.issued.get()) {
            (None, Some((nonce, _))) => Some(nonce),
            _ => None,
        }
    }
}

pub const FIELD: &str = "csrf_token";
const MAX_FORM_BYTES: usize = 64 * 1024;

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, request).await {
        Ok((mut request, cookie)) => {
            let visitor = VisitorToken {
                cookie,
                issued: Arc::default(),
            };
            request.extensions_mut().insert(visitor.clone());
            let mut response = next.run(request).await;
            if let Some(nonce) = visitor.new_cookie() {
                let cookie = form_token::cookie(nonce, state.config.secure_cookies());
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
    // An upload's body goes to its handler unread (`crate::upload`); its form carries
    // the token in its URL instead.
    let upload = request
        .extensions()
        .get::<crate::upload::UploadStream>()
        .is_some();
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::BadRequest("The form is too large."))?;
    let fields = if upload {
        parts.uri.query().unwrap_or_default().as_bytes()
    } else {
        &bytes[..]
    };
    let submitted = form_urlencoded::parse(fields)
        .find(|(name, _)| name == FIELD)
        .map(|(_, value)| value.into_owned())
        .ok_or(PageError::Csrf)?;
    let valid = match (&stored, &cookie_nonce) {
        (Some(expected), _) => bool::from(submitted.as_bytes().ct_eq(expected.as_bytes())),
        (None, Some(nonce)) => {
            state
                .ops
                .form_tokens()
                .verify(nonce, &submitted, crate::domain::time::now())
        }
        (None, None) => false,
    };
    if !valid {
        return Err(PageError::Csrf);
    }
    Ok((Request::from_parts(parts, Body::from(bytes)), cookie_nonce))
}
