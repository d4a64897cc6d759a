//! Bounded work per client and a trustworthy sign-in: sign-out under throttling, HSTS, names
//! that hide characters. Connections, NUL bytes, outgoing requests and memory have their own
//! files (`connections.rs`, `nul_bytes.rs`, `outgoing.rs`, `memory.rs`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{StatusCode, cookie::Jar, redirect::Policy};

use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, Visitor, location};

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

/// A visitor whose every request says it was forwarded for `client` (as a reverse proxy adds).
fn behind_proxy(app: &TestApp, client: &str) -> Visitor {
    let jar = Arc::new(Jar::default());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", client.parse().unwrap());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    Visitor {
        base: app.url.clone(),
        client,
        jar,
    }
}

async fn sign_in_status(visitor: &Visitor, email: &str, password: &str) -> (StatusCode, String) {
    let response = visitor
        .submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await;
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_throttled_alone_and_audited_by_its_address() {
    let app = TestApp::spawn_with(|c| {
        c.limits.trusted_proxies = vec![keyport::config::parse_network("127.0.0.1").unwrap()];
    })
    .await;
    app.admin().await;
    // One client behind the proxy guesses until it is throttled ...
    let guesser = behind_proxy(&app, "198.51.100.1");
    let mut throttled = false;
    for n in 0..30 {
        let (status, _) = sign_in_status(&guesser, &format!("guess{n}@example.org"), "x").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "the guessing client is throttled");
    // ... and another client of the same proxy still signs in.
    let admin = behind_proxy(&app, "198.51.100.2");
    let (status, page) = sign_in_status(&admin, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");

    // The audit log's "from" is the client, not the proxy.
    app.project(&admin, "team", ADMIN_EMAIL).await;
    app.service(&admin, "s3", "Storage", "").await;
    let from: Vec<(String, String)> = sqlx::query_as("select action, ip from audit_events")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert!(
        from.iter()
            .any(|(action, _)| !action.starts_with("sign_in."))
    );
    // The guesses are recorded from the guessing client, the rest from the admin's.
    for (action, ip) in &from {
        let client = if action.starts_with("sign_in.") {
            "198.51.100.1"
        } else {
            "198.51.100.2"
        };
        assert_eq!(ip, client, "{from:?}");
    }
}

#[tokio::test]
async fn forwarded_headers_from_untrusted_clients_are_ignored() {
    let app = TestApp::spawn().await;
    app.admin().await;
    // Each attempt claims another address; without a trusted proxy they are all 127.0.0.1.
    let mut throttled = false;
    for n in 0..30 {
        let visitor = behind_proxy(&app, &format!("198.51.100.{}", n + 1));
        let (status, _) = sign_in_status(&visitor, &format!("guess{n}@example.org"), "x").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(
        throttled,
        "a forged X-Forwarded-For does not escape the throttle"
    );
}

#[tokio::test]
async fn an_account_is_held_from_every_address_and_told_of_the_failures() {
    let app = TestApp::spawn_with(|c| {
        c.limits.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    app.admin().await;
    // Wrong passwords for the admin, each from another address (the per-address throttle never
    // applies), until the account itself is held.
    let mut refused = 0;
    let mut held = None;
    for n in 0..20 {
        let visitor = behind_proxy(&app, &format!("203.0.113.{}", n + 1));
        let (status, page) = sign_in_status(&visitor, ADMIN_EMAIL, "wrong password").await;
        match status {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                held = Some(page);
                break;
            }
            other => panic!("{other}: {page}"),
        }
    }
    let page = held.expect("the account is held after repeated failures");
    assert!(refused >= 5, "a few mistakes are free: {refused}");
    assert!(
        page.contains("Too many failed sign-ins with this email"),
        "{page}"
    );
    assert!(page.contains(ADMIN_EMAIL), "the form keeps the email");

    // Even the right password waits ...
    let owner = behind_proxy(&app, "192.0.2.10");
    let (status, _) = sign_in_status(&owner, ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // ... until the delay is over; then the user is told what happened.
    let started = Instant::now();
    loop {
        let (status, page) = sign_in_status(&owner, ADMIN_EMAIL, PASSWORD).await;
        if status == StatusCode::SEE_OTHER {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
        assert!(started.elapsed() < Duration::from_secs(30), "the hold ends");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, projects) = owner.get_text("/projects").await;
    assert!(
        projects.contains(&format!(
            "{refused} failed sign-ins with your email since your last visit"
        )),
        "{projects}"
    );
    // Said once; and a success starts the count anew.
    let (_, again) = owner.get_text("/projects").await;
    assert!(!again.contains("failed sign-ins"));
    let other = behind_proxy(&app, "192.0.2.11");
    assert_eq!(
        sign_in_status(&other, ADMIN_EMAIL, "wrong again").await.0,
        StatusCode::UNAUTHORIZED,
        "the hold was reset by the success"
    );
}
