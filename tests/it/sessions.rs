//! What a page view costs the session store: nothing for a visitor who is not signed in, and
//! for a signed-in user a write at most once a minute, to push the session's expiry back.

use reqwest::{StatusCode, cookie::CookieStore, header};

use crate::{
    csrf::assert_form_expired,
    helpers::{ADMIN_EMAIL, PASSWORD, TestApp, csrf_token},
};

async fn session_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from sessions")
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// The signed-in user's session row: its data and expiry.
async fn session_row(app: &TestApp) -> (String, i64) {
    sqlx::query_as("select data, expiry_date from sessions where user_id is not null")
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn looking_at_the_sign_in_page_stores_no_session() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    drop(admin);
    let before = session_rows(&app).await;
    let visitor = app.visitor();
    for path in [
        "/login",
        "/login",
        "/",
        "/projects",
        "/set-password/not-a-token",
    ] {
        visitor.get(path).await;
    }
    for _ in 0..20 {
        app.visitor().get("/login").await;
    }
    assert_eq!(session_rows(&app).await, before, "no row for visitors");

    // The sign-in form still carries a working token, bound to the visitor's cookie.
    let response = visitor
        .submit(
            "/login",
            "/login",
            &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed in");
    assert_eq!(
        session_rows(&app).await,
        before + 1,
        "a session from sign-in on"
    );
}

#[tokio::test]
async fn a_visitor_form_token_is_good_only_with_its_own_cookie() {
    let app = TestApp::spawn().await;
    drop(app.admin().await);
    let (one, other) = (app.visitor(), app.visitor());
    let token = csrf_token(&one.get_text("/login").await.1).expect("a token");
    other.get("/login").await;
    let fields = [
        ("csrf_token", token.as_str()),
        ("email", ADMIN_EMAIL),
        ("password", PASSWORD),
    ];
    let response = other.post("/login", &fields).await;
    assert_form_expired(response, "another visitor's token").await;
    let response = app.visitor().post("/login", &fields).await;
    assert_form_expired(response, "a token without its cookie").await;
    let forged = format!("{}.AAAA", token.split('.').next().unwrap());
    let response = one
        .post(
            "/login",
            &[
                ("csrf_token", forged.as_str()),
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_form_expired(response, "a forged token").await;
    let response = one.post("/login", &fields).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the right pair signs in"
    );
}

#[tokio::test]
async fn a_signed_in_page_view_writes_nothing_until_a_minute_has_passed() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    admin.get("/projects").await;
    // An expiry no write would set (each sets it to now + the idle time): a write shows.
    sqlx::query("update sessions set expiry_date = expiry_date - 10 where user_id is not null")
        .execute(app.db.pool())
        .await
        .unwrap();
    let before = session_row(&app).await;
    for path in ["/projects", "/account", "/projects", "/account/api-access"] {
        let (status, _) = admin.get_text(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    assert_eq!(session_row(&app).await, before, "page views wrote nothing");

    // A minute later (the session's last write moved back), the next view pushes the expiry on.
    let (data, expiry) = before;
    let mut data: serde_json::Value = serde_json::from_str(&data).unwrap();
    let touched = data["touched_at"]
        .as_i64()
        .expect("the session says when it was written");
    data["touched_at"] = (touched - 120).into();
    sqlx::query("update sessions set data = $1, expiry_date = $2 where user_id is not null")
        .bind(data.to_string())
        .bind(expiry - 120)
        .execute(app.db.pool())
        .await
        .unwrap();
    admin.get("/projects").await;
    let (data, new_expiry) = session_row(&app).await;
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert!(
        new_expiry >= expiry,
        "expiry pushed back: {new_expiry} >= {expiry}"
    );
    assert!(data["touched_at"].as_i64().unwrap() >= touched);
}

/// A signed-in page view sets no cookie: the session is not saved (so not re-sent), and no
/// visitor's form cookie is made for a page whose forms carry the session's own token.
#[tokio::test]
async fn a_signed_in_page_view_sets_no_cookie() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // The first page after setup shows (and removes) its notice: that view writes the session.
    admin.get("/projects").await;
    let url = reqwest::Url::parse(&format!("{}/projects", admin.base)).unwrap();
    let cookies = admin.jar.cookies(&url).expect("signed in");
    let session_only = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find(|c| c.starts_with("keyport_session="))
        .expect("a session cookie")
        .to_string();
    let plain = reqwest::Client::new();
    for path in ["/projects", "/account", "/account/api-access"] {
        let response = plain
            .get(format!("{}{path}", admin.base))
            .header(header::COOKIE, &session_only)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let set: Vec<_> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .collect();
        assert!(set.is_empty(), "{path} set cookies: {set:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Sign out"), "{path} is the signed-in page");
    }
    // Without a session, the sign-in page gives the visitor a form cookie for its token.
    let response = plain
        .get(format!("{}/login", admin.base))
        .send()
        .await
        .unwrap();
    let set: Vec<_> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .collect();
    assert!(
        set.iter()
            .any(|c| c.to_str().unwrap().starts_with("keyport_form=")),
        "the sign-in page sets the form cookie: {set:?}"
    );
}
