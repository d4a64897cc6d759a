//! Security headers on every response.

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::Response,
};

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Browsers remember for a year to reach the portal over https only; sent only when the public
/// URL is https, since over plain http the header is ignored and would promise nothing.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// An origin a page's forms may also lead to (set on the response by the page): the Buckets
/// console's download form answers with a redirect to the S3 endpoint, which `form-action`
/// covers too.
#[derive(Clone)]
pub struct FormTarget(pub url::Origin);

/// Adds the headers; `https` is whether the portal's public URL is https.
pub async fn add(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let extra = response
        .extensions()
        .get::<FormTarget>()
        .map(|t| t.0.ascii_serialization())
        .filter(|origin| origin != "null");
    let headers = response.headers_mut();
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    let fixed: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Some(origin) = extra {
        let policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    // Pages may show secrets: no cache keeps them. Static assets set their own policy.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
