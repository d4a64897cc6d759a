//! A NUL byte in any input (path, query, form or JSON body) is answered 4xx on every route, by
//! GET and POST, signed in with a valid CSRF token or a valid API token: PostgreSQL cannot store
//! a NUL in text and answered 500 before.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    api::ApiApp,
    helpers::{ADMIN_EMAIL, csrf_token},
};

const NUL: &str = "a%00b";

/// Every route pattern of the pages and of `/identity`, read from the routers' source, so that
/// a new route is covered without being listed here.
fn page_routes() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root.join("web"), root.join("api/identity.rs")];
    let mut routes = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for piece in source.split(".route(").skip(1) {
            let Some(pattern) = piece.trim_start().strip_prefix('"') else {
                continue;
            };
            let pattern = &pattern[..pattern.find('"').unwrap()];
            if pattern.starts_with('/') {
                routes.push(pattern.to_string());
            }
        }
    }
    routes.sort();
    routes.dedup();
    assert!(routes.len() > 50, "the routes were found: {routes:?}");
    routes
}

/// `pattern` with each `{parameter}` replaced by `value`.
fn fill(pattern: &str, value: &str) -> String {
    let mut path = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').unwrap() + open;
        path.push_str(&rest[..open]);
        path.push_str(value);
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    path
}

/// The same path with NUL in its parameters (when it has any), and with valid-looking
/// parameters and NUL in the query.
fn nul_paths(pattern: &str) -> Vec<String> {
    let mut paths = vec![format!(
        "{}?q={NUL}&email={NUL}%40example.org",
        fill(pattern, "team")
    )];
    if pattern.contains('{') {
        paths.push(fill(pattern, NUL));
    }
    paths
}

/// A form with NUL in every field a Keyport form has, and a valid CSRF token.
fn nul_form(csrf: &str) -> String {
    let mut form = format!("csrf_token={csrf}");
    for field in [
        "email",
        "name",
        "slug",
        "owner_email",
        "description",
        "password",
        "password_confirm",
        "current_password",
        "new_password",
        "role",
        "kind",
        "site",
        "region",
        "interface",
        "url",
        "access_key",
        "secret",
        "expires",
        "filter",
        "action",
        "user_id",
        "app",
        "driver",
    ] {
        form.push_str(&format!("&{field}={NUL}%40example.org"));
    }
    form
}

#[tokio::test]
async fn nul_in_any_input_of_any_route_is_a_client_error() {
    let api = ApiApp::spawn().await;
    let app = &api.app;
    let admin = app.admin().await;
    app.project(&admin, "team", ADMIN_EMAIL).await;
    let (status, projects) = admin.get_text("/projects").await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_token(&projects).expect("a CSRF token");
    let token = api.token_of(ADMIN_EMAIL).await;
    let anonymous = app.visitor();
    let mut answers = Vec::new();

    for pattern in page_routes() {
        for path in nul_paths(&pattern) {
            let get = admin.get(&path).await.status();
            answers.push((format!("GET {path}"), get));
            let post = admin
                .client
                .post(admin.url(&path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(nul_form(&csrf))
                .send()
                .await
                .unwrap()
                .status();
            answers.push((format!("POST {path}"), post));
        }
        // The form alone carries the NUL, on the path as it is.
        let plain = fill(&pattern, "team");
        let post = admin
            .client
            .post(admin.url(&plain))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(nul_form(&csrf))
            .send()
            .await
            .unwrap()
            .status();
        answers.push((format!("POST {plain} (form)"), post));
    }
    // Signed out, as the review found it.
    let login = anonymous
        .client
        .post(anonymous.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email={NUL}%40example.org&password=x"))
        .send()
        .await
        .unwrap()
        .status();
    answers.push(("POST /login (signed out)".into(), login));

    // The API: every path and method of its OpenAPI document, with a valid token.
    let document: Value = admin
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().expect("the API's paths");
    assert!(paths.len() >= 8, "{paths:?}");
    for (pattern, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            for path in nul_paths(pattern) {
                let (status, text) = api
                    .call(
                        Some(&token),
                        method.clone(),
                        &path,
                        Some(&json!({"name": "a\u{0}b"})),
                    )
                    .await;
                assert!(
                    !status.is_client_error() || serde_json::from_str::<Value>(&text).is_ok(),
                    "{method} {path}: the API answers JSON: {text}"
                );
                answers.push((format!("{method} /api/v1{path}"), status));
            }
            let plain = fill(pattern, "team");
            let body = json!({"name": "a\u{0}b", "description": "x", "kind": "a\u{0}b"});
            let (status, _) = api
                .call(Some(&token), method.clone(), &plain, Some(&body))
                .await;
            answers.push((format!("{method} /api/v1{plain} (JSON)"), status));
        }
    }

    let wrong: Vec<_> = answers
        .iter()
        .filter(|(_, status)| !status.is_client_error())
        .collect();
    assert!(wrong.is_empty(), "answered other than 4xx: {wrong:#?}");
    assert!(answers.len() > 150, "{} requests", answers.len());
    // The portal still works afterwards.
    assert_eq!(admin.get("/projects/team").await.status(), StatusCode::OK);
}
