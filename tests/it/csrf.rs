//! CSRF tokens on every form, security headers on every response, and a real 404 page.

use reqwest::StatusCode;

use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, location, page_text, text};

/// The answer to a form whose CSRF token is missing or wrong: 403 and the "Form expired" page.
pub async fn assert_form_expired(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
    let html = response.text().await.unwrap();
    assert_eq!(
        text(&html, "h1").as_deref(),
        Some("Form expired"),
        "{what}: {html}"
    );
    assert!(
        page_text(&html).contains("security token was missing or out of date"),
        "{what}: {html}"
    );
}

#[tokio::test]
async fn a_form_without_the_right_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    admin.get("/projects").await;
    let form = [("name", "Storage"), ("slug", "storage")];
    for token in [None, Some("wrong-token"), Some("")] {
        let mut fields = form.to_vec();
        if let Some(token) = token {
            fields.push(("csrf_token", token));
        }
        let response = admin.post("/projects", &fields).await;
        assert_form_expired(response, &format!("token {token:?}")).await;
    }
    let (_, html) = admin.get_text("/projects").await;
    assert!(
        !html.contains("/projects/storage"),
        "no project was created"
    );

    // Signing out and signing in need the token too.
    assert_form_expired(admin.post("/logout", &[]).await, "sign-out").await;
    assert_eq!(
        admin.get("/projects").await.status(),
        StatusCode::OK,
        "still signed in"
    );
    let visitor = app.visitor();
    visitor.get("/login").await;
    let response = visitor
        .post("/login", &[("email", ADMIN_EMAIL), ("password", PASSWORD)])
        .await;
    assert_form_expired(response, "sign-in").await;
    assert_eq!(location(&visitor.get("/projects").await), "/login");
}

#[tokio::test]
async fn a_token_from_another_session_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let other = app.visitor();
    let (_, html) = other.get_text("/login").await;
    let foreign = crate::helpers::csrf_token(&html).unwrap();
    let response = admin
        .post(
            "/projects",
            &[
                ("csrf_token", &foreign),
                ("name", "Storage"),
                ("slug", "storage"),
            ],
        )
        .await;
    assert_form_expired(response, "a foreign token").await;
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for path in [
        "/projects",
        "/login",
        "/no-such-page",
        "/static/style.css",
        "/healthz",
    ] {
        let response = admin.get(path).await;
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(headers.get("x-frame-options").unwrap(), "DENY", "{path}");
        assert_eq!(
            headers.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            headers.get("referrer-policy").unwrap(),
            "no-referrer",
            "{path}"
        );
    }
    let page = admin.get("/projects").await;
    assert_eq!(page.headers().get("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn unknown_routes_get_a_404_page() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (status, html) = admin.get_text("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Not found"));
    assert!(html.contains("<html"), "a page, not a bare string");
}

#[tokio::test]
async fn oversized_and_malformed_forms_get_clear_errors() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (_, html) = admin.get_text("/projects").await;
    let token = crate::helpers::csrf_token(&html).unwrap();
    let huge = "x".repeat(100 * 1024);
    let response = admin
        .post(
            "/projects",
            &[("csrf_token", &token), ("name", &huge), ("slug", "big")],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "a form over 64 KiB"
    );
    // A form body that is not urlencoded at all: no token can be read from it.
    let response = admin
        .client
        .post(admin.url("/projects"))
        .header("content-type", "application/json")
        .body(format!("{{\"csrf_token\": \"{token}\"}}"))
        .send()
        .await
        .unwrap();
    assert_form_expired(response, "a JSON body").await;
    let (_, html) = admin.get_text("/projects").await;
    assert!(!html.contains("/projects/big"), "no project was created");
}
