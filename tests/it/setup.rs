//! `/setup`: every page leads there until the first admin exists, then it is gone for good.

use reqwest::StatusCode;

use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, csrf_token, location};

#[tokio::test]
async fn every_page_leads_to_setup_on_a_new_instance() {
    let app = TestApp::spawn().await;
    let visitor = app.visitor();
    for path in [
        "/",
        "/login",
        "/projects",
        "/admin/users",
        "/projects/x/members",
        "/account",
        "/no-such-page",
    ] {
        let response = visitor.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/setup", "{path}");
    }
    let (status, html) = visitor.get_text("/setup").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Set up Keyport"));
}

#[tokio::test]
async fn setup_shows_what_is_wrong_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let visitor = app.visitor();
    let response = visitor
        .submit(
            "/setup",
            "/setup",
            &[
                ("email", "not-an-email"),
                ("name", "Ada Admin"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter an email address such as name@example.org."));
    assert!(html.contains("A password has at least 12 characters."));
    assert!(html.contains("value=\"not-an-email\""), "the email is kept");
    assert!(html.contains("value=\"Ada Admin\""), "the name is kept");
    assert!(
        !html.contains("value=\"short\""),
        "the password is not sent back"
    );

    let response = visitor
        .submit(
            "/setup",
            "/setup",
            &[
                ("email", ADMIN_EMAIL),
                ("name", ""),
                ("password", PASSWORD),
                ("password_confirm", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter a name."));
    assert!(html.contains("The two passwords differ."));

    assert_eq!(
        keyport::db::users::count(&app.db).await.unwrap(),
        0,
        "nothing was written"
    );
    assert_eq!(location(&visitor.get("/login").await), "/setup");
}

#[tokio::test]
async fn setup_creates_the_admin_and_closes_for_good() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let (status, html) = admin.get_text("/admin/users").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new admin is signed in and is an instance admin"
    );
    assert!(html.contains(ADMIN_EMAIL));

    for visitor in [&admin, &app.visitor()] {
        assert_eq!(visitor.get("/setup").await.status(), StatusCode::NOT_FOUND);
    }
    // A second setup posted with a valid token is refused and creates nobody.
    let other = app.visitor();
    let token = csrf_token(&other.get_text("/login").await.1).unwrap();
    let response = other
        .post(
            "/setup",
            &[
                ("csrf_token", &token),
                ("email", "mallory@example.org"),
                ("name", "M"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(keyport::db::users::count(&app.db).await.unwrap(), 1);
    assert_eq!(
        app.visitor().get("/login").await.status(),
        StatusCode::OK,
        "pages no longer lead to setup"
    );
}

#[tokio::test]
async fn concurrent_setups_create_one_admin() {
    let app = TestApp::spawn().await;
    let mut visitors = Vec::new();
    for _ in 0..4 {
        let visitor = app.visitor();
        let token = csrf_token(&visitor.get_text("/setup").await.1).unwrap();
        visitors.push((visitor, token));
    }
    let posts = visitors
        .iter()
        .enumerate()
        .map(|(i, (visitor, token))| async move {
            let email = format!("admin{i}@example.org");
            visitor
                .post(
                    "/setup",
                    &[
                        ("csrf_token", token),
                        ("email", &email),
                        ("name", "Admin"),
                        ("password", PASSWORD),
                        ("password_confirm", PASSWORD),
                    ],
                )
                .await
                .status()
        });
    let statuses = futures::future::join_all(posts).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(keyport::db::users::count(&app.db).await.unwrap(), 1);
}
