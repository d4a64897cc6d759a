//! CSRF protection for every form: a synchronizer token kept in the server-side session must come
//! back in the hidden field `csrf_token` of every state-changing request, or nothing runs.

use axum::{
    body::Body,
    extract::Request,
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::{PageError, session};

pub const FIELD: &str = "csrf_token";
const MAX_FORM_BYTES: usize = 64 * 1024;

pub async fn guard(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    match check(request).await {
        Ok(request) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Reads the form, compares its token in constant time, and hands the request on intact.
async fn check(request: Request) -> Result<Request, PageError> {
    let session = request
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or(PageError::Csrf)?;
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::BadRequest("The form is too large."))?;
    let submitted = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == FIELD)
        .map(|(_, value)| value.into_owned());
    let expected = session::stored_csrf_token(&session).await?;
    match (submitted, expected) {
        (Some(submitted), Some(expected))
            if bool::from(submitted.as_bytes().ct_eq(expected.as_bytes())) =>
        {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(PageError::Csrf),
    }
}
