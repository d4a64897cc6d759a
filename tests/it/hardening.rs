//! Bounded work per client and a trustworthy sign-in: sign-out under throttling, HSTS, names
//! that hide characters. Connections, NUL bytes, outgoing requests and memory have their own
//! files (`connections.rs`, `nul_bytes.rs`, `outgoing.rs`, `memory.rs`).

use reqwest::StatusCode;

use crate::helpers::{ADMIN_EMAIL, TestApp, location};

#[tokio::test]
async fn sign_out_works_from_a_throttled_address() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // Someone at the same address guesses until the password forms are throttled.
    let guesser = app.visitor();
    let mut throttled = false;
    for _ in 0..30 {
        let response = guesser
            .submit(
                "/login",
                "/login",
                &[("email", "nobody@example.org"), ("password", "guess")],
            )
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "the sign-in form is throttled");

    let response = admin.submit("/projects", "/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
    assert_eq!(
        admin.get("/projects").await.status(),
        StatusCode::SEE_OTHER,
        "the session ended"
    );
}

#[tokio::test]
async fn hsts_only_when_the_public_url_is_https() {
    let https =
        TestApp::spawn_with(|c| c.public_url = Some("https://keys.example.org".into())).await;
    for path in [
        "/setup",
        "/healthz",
        "/static/style.css",
        "/api/v1/openapi.json",
    ] {
        let response = https.visitor().get(path).await;
        assert_eq!(
            response
                .headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000; includeSubDomains"),
            "{path}"
        );
    }
    let http = TestApp::spawn().await;
    let response = http.visitor().get("/setup").await;
    assert!(!response.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn names_with_hidden_or_direction_characters_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let response = admin
        .submit(
            "/projects",
            "/projects",
            &[
                ("name", "Pay\u{202E}roll"),
                ("slug", "payroll"),
                ("owner_email", ADMIN_EMAIL),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Control, zero-width and text-direction characters are not allowed."),
        "{html}"
    );
    assert_eq!(
        admin.get("/projects/payroll").await.status(),
        StatusCode::NOT_FOUND
    );
}
