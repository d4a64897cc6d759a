//! The edge of every request: its body read within the body timeout, and NUL bytes refused in
//! the path, the query and the body before any handler or database sees them (PostgreSQL cannot
//! store a NUL in text, and no name, id or form field of Keyport has one): 400 for pages and the
//! token exchange, 422 `invalid` (JSON) for the REST API.

use std::time::Duration;

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::error::error_page;

/// Reads the body within `body_timeout` (408 and the connection closed past it), then refuses a
/// NUL anywhere in the request with 400.
pub async fn guard(State(body_timeout): State<Duration>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if has_encoded_nul(request.uri().path()) || request.uri().query().is_some_and(has_encoded_nul) {
        return refuse_nul(&path);
    }
    let (parts, body) = request.into_parts();
    let bytes =
        match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, usize::MAX)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return unreadable(&path, &e),
            Err(_) => return too_slow(&path),
        };
    let kind = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if body_has_nul(&bytes, &kind) {
        return refuse_nul(&path);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// `%00` (any case), what a NUL is in a URL or a form.
fn has_encoded_nul(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

fn body_has_nul(bytes: &Bytes, content_type: &str) -> bool {
    if bytes.contains(&0) {
        return true;
    }
    let text = String::from_utf8_lossy(bytes);
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return has_encoded_nul(&text);
    }
    if content_type.contains("json") {
        // `\u0000` in a JSON string (the escape is case-insensitive in its hex digits).
        return text.to_ascii_lowercase().contains("\\u0000");
    }
    false
}

/// The JSON side answers in its own shapes; pages get the error page.
enum Side {
    Api,
    Identity,
    Pages,
}

fn side(path: &str) -> Side {
    if path.starts_with("/api/") {
        Side::Api
    } else if path.starts_with("/identity/") {
        Side::Identity
    } else {
        Side::Pages
    }
}

fn answer(
    path: &str,
    status: StatusCode,
    (code, iam_code): (&str, &str),
    title: &'static str,
    message: &str,
) -> Response {
    match side(path) {
        Side::Api => (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response(),
        Side::Identity => (
            status,
            Json(json!({
                "errorCode": iam_code,
                "errorMessage": message,
                "context": {"requestType": "token"},
            })),
        )
            .into_response(),
        Side::Pages => error_page(status, title, message),
    }
}

fn refuse_nul(path: &str) -> Response {
    // The REST API answers input it cannot take with 422 `invalid`, as for a query that does not
    // parse (its documented answer); pages and the token exchange with 400.
    let status = match side(path) {
        Side::Api => StatusCode::UNPROCESSABLE_ENTITY,
        Side::Identity | Side::Pages => StatusCode::BAD_REQUEST,
    };
    answer(
        path,
        status,
        ("invalid", "BXNIM0107E"),
        "Not a valid request",
        "The request holds a NUL character (%00), which no address, name or field of Keyport may contain. Nothing was changed.",
    )
}

fn too_slow(path: &str) -> Response {
    let mut response = answer(
        path,
        StatusCode::REQUEST_TIMEOUT,
        ("timeout", "BXNIM0408E"),
        "Too slow",
        "The request's body did not arrive in time. Nothing was changed; try again.",
    );
    // The rest of the body may still be on its way: the connection cannot be reused.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn unreadable(path: &str, error: &axum::Error) -> Response {
    let too_large = std::error::Error::source(error)
        .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
    if too_large {
        return answer(
            path,
            StatusCode::PAYLOAD_TOO_LARGE,
            ("too_large", "BXNIM0413E"),
            "Too large",
            "The request is larger than Keyport accepts (64 KiB). Nothing was changed.",
        );
    }
    tracing::debug!(error = %error, "request body could not be read");
    answer(
        path,
        StatusCode::BAD_REQUEST,
        ("invalid", "BXNIM0107E"),
        "Not a valid request",
        "The request's body could not be read. Nothing was changed; try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_however_it_is_written() {
        assert!(has_encoded_nul("/projects/a%00b"));
        assert!(has_encoded_nul("email=a%00b%40example.org"));
        assert!(!has_encoded_nul("/projects/a%200b"));
        assert!(!has_encoded_nul("q=100%25"));
        let form = "application/x-www-form-urlencoded";
        assert!(body_has_nul(&Bytes::from_static(b"a=%00"), form));
        assert!(body_has_nul(&Bytes::from_static(b"a=\0"), "text/plain"));
        assert!(body_has_nul(
            &Bytes::from_static(br#"{"name":"a\U0000b"}"#),
            "application/json"
        ));
        assert!(!body_has_nul(
            &Bytes::from_static(br#"{"name":"100%00"}"#),
            "application/json"
        ));
        assert!(!body_has_nul(&Bytes::from_static(b"name=a%2500"), form));
    }
}
