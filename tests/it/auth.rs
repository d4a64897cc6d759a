//! Signing in and out, sessions, password changes and set-password links.

use reqwest::StatusCode;

use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, location, password_link};

const WRONG: &str = "The email or the password is wrong.";

#[tokio::test]
async fn sign_in_cycles_the_session_id_and_sets_safe_cookies() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let visitor = app.visitor();
    let login_page = visitor.get("/login").await;
    let cookie = login_page
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.starts_with("keyport_form="),
        "the form's cookie, no session: {cookie}"
    );
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http: no Secure flag: {cookie}"
    );
    // A session id planted before sign-in (session fixation) is not the one signed in.
    let before = "planted-session-id-0000000000000";
    visitor.jar.add_cookie_str(
        &format!("keyport_session={before}"),
        &app.url.parse().unwrap(),
    );

    let response = visitor
        .submit(
            "/login",
            "/login",
            &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/projects");
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("keyport_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(
        cookie.contains("Max-Age=7200"),
        "idle timeout of 120 minutes: {cookie}"
    );
    let after = visitor.session_cookie().unwrap();
    assert_ne!(before, after, "the session id changes at sign-in");
    let stored: Vec<String> = sqlx::query_scalar("select id from sessions")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert!(
        !stored.contains(&after),
        "the database never holds a usable session id"
    );
    assert!(stored.contains(&keyport::db::sessions::key(&after)));
    assert_eq!(visitor.get("/projects").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn secure_cookies_when_the_public_url_is_https() {
    let app = TestApp::spawn_with(|c| c.public_url = Some("https://keys.example.org".into())).await;
    let response = app.visitor().get("/setup").await;
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_answer_alike() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let mut answers = Vec::new();
    for (email, password) in [
        (ADMIN_EMAIL, "not the password"),
        ("nobody@example.org", PASSWORD),
        ("", ""),
        ("x".repeat(300).as_str(), "y"),
    ] {
        let visitor = app.visitor();
        let response = visitor
            .submit(
                "/login",
                "/login",
                &[("email", email), ("password", password)],
            )
            .await;
        let status = response.status();
        let html = response.text().await.unwrap();
        assert!(html.contains(WRONG), "{email}");
        assert!(
            !html.contains(password) || password.is_empty() || password == "y",
            "the password is not echoed"
        );
        answers.push(status);
        assert_eq!(
            visitor.get("/projects").await.status(),
            StatusCode::SEE_OTHER,
            "still signed out"
        );
    }
    assert!(
        answers.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{answers:?}"
    );
}

#[tokio::test]
async fn sign_out_destroys_the_server_side_session() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let cookie = admin.session_cookie().unwrap();
    let response = admin.submit("/account", "/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");

    // Replaying the old cookie from another client does not sign anyone in.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = replay
        .get(admin.url("/projects"))
        .header("cookie", format!("keyport_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
}

#[tokio::test]
async fn an_idle_session_expires() {
    const IDLE_MINUTES: u32 = 7;
    let app = TestApp::spawn_with(|config| config.session_idle_minutes = IDLE_MINUTES).await;
    let admin = app.admin().await;
    let before = keyport::db::now();
    assert_eq!(admin.get("/projects").await.status(), StatusCode::OK);
    let after = keyport::db::now();
    // The server keeps the session for the configured idle window from the last request.
    let key = keyport::db::sessions::key(&admin.session_cookie().unwrap());
    let expiry: i64 = sqlx::query_scalar("select expiry_date from sessions where id = $1")
        .bind(&key)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let window = i64::from(IDLE_MINUTES) * 60;
    assert!(
        (before + window - 1..=after + window + 1).contains(&expiry),
        "expires {} s after the request, not {window} s",
        expiry - before
    );

    // Idle for longer than the window: the server refuses the session, though the browser
    // still sends its cookie.
    sqlx::query("update sessions set expiry_date = $1 where id = $2")
        .bind(keyport::db::now() - 1)
        .bind(&key)
        .execute(app.db.pool())
        .await
        .unwrap();
    assert!(admin.session_cookie().is_some(), "the cookie is still sent");
    let response = admin.get("/projects").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
}

#[tokio::test]
async fn changing_the_password_needs_the_old_one_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let laptop = app.sign_in(ADMIN_EMAIL, PASSWORD).await;
    let new_password = "a brand new long password";

    let response = admin
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", "wrong"),
                ("new_password", new_password),
                ("new_password_confirm", new_password),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This is not your current password.")
    );
    assert_eq!(
        laptop.get("/projects").await.status(),
        StatusCode::OK,
        "nothing changed yet"
    );

    let response = admin
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "short"),
                ("new_password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let response = admin
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new_password),
                ("new_password_confirm", new_password),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, html) = admin.get_text("/account").await;
    assert_eq!(status, StatusCode::OK, "this session goes on");
    assert!(html.contains("You were signed out everywhere else."));
    assert_eq!(
        location(&laptop.get("/projects").await),
        "/login",
        "the other session ended"
    );

    let old = app.visitor();
    let response = old
        .submit(
            "/login",
            "/login",
            &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the old password no longer works"
    );
    app.sign_in(ADMIN_EMAIL, new_password).await;
}

#[tokio::test]
async fn a_set_password_link_works_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let response = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", "Bob@Example.org"), ("name", "Bob")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let path = password_link(&html);

    let bob = app.visitor();
    let response = bob
        .submit(
            &path,
            &path,
            &[("password", "short"), ("password_confirm", "short")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = bob
        .submit(
            &path,
            &path,
            &[("password", PASSWORD), ("password_confirm", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        crate::helpers::notice(&bob.get_text(&location(&response)).await.1),
        "Your password is set. Sign in with your email and the new password."
    );
    app.sign_in("bob@example.org", PASSWORD).await;

    let (status, html) = app.visitor().get_text(&path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "used once, the link is gone");
    assert!(html.contains("already used"));
}

#[tokio::test]
async fn an_expired_set_password_link_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let html = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", "carol@example.org"), ("name", "Carol")],
        )
        .await
        .text()
        .await
        .unwrap();
    let path = password_link(&html);
    sqlx::query("update password_links set expires_at = $1")
        .bind(keyport::db::now() - 1)
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        app.visitor().get(&path).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.visitor()
            .get("/set-password/made-up-token")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_and_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    let bob_id = app.user_id("bob@example.org").await;
    assert_eq!(bob.get("/projects").await.status(), StatusCode::OK);

    let response = admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{bob_id}/disable"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&bob.get("/projects").await),
        "/login",
        "signed out at once"
    );
    let response = app
        .visitor()
        .submit(
            "/login",
            "/login",
            &[("email", "bob@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.text().await.unwrap().contains(WRONG),
        "same answer as a wrong password"
    );

    admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{bob_id}/enable"),
            &[],
        )
        .await;
    app.sign_in("bob@example.org", PASSWORD).await;
}

#[tokio::test]
async fn repeated_sign_in_attempts_are_throttled() {
    let app = TestApp::spawn().await;
    app.admin().await;
    let visitor = app.visitor();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = visitor
            .submit(
                "/login",
                "/login",
                &[("email", ADMIN_EMAIL), ("password", "guess")],
            )
            .await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            assert!(response.text().await.unwrap().contains("Too many attempts"));
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        statuses.len() >= 9,
        "a few honest mistakes are allowed: {statuses:?}"
    );
    // Other pages still answer.
    assert_eq!(visitor.get("/login").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_request_in_flight_does_not_bring_a_signed_out_session_back() {
    use keyport::db::sessions::DbSessionStore;
    use tower_sessions::SessionStore;
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let store = DbSessionStore::new(app.db.clone());
    let cookie = admin.session_cookie().unwrap();
    let id: tower_sessions::session::Id = cookie.parse().unwrap();
    // A request loaded the session before sign-out ...
    let loaded = store.load(&id).await.unwrap().expect("the session exists");
    admin.submit("/account", "/logout", &[]).await;
    // ... and saves it after.
    store.save(&loaded).await.unwrap();
    assert!(
        store.load(&id).await.unwrap().is_none(),
        "the session stays deleted"
    );
}

#[tokio::test]
async fn disabling_a_user_voids_their_set_password_link() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let html = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", "erin@example.org"), ("name", "Erin")],
        )
        .await
        .text()
        .await
        .unwrap();
    let path = password_link(&html);
    let erin = app.user_id("erin@example.org").await;
    admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{erin}/disable"),
            &[("confirm", "yes")],
        )
        .await;
    admin
        .submit("/admin/users", &format!("/admin/users/{erin}/enable"), &[])
        .await;
    assert_eq!(
        app.visitor().get(&path).await.status(),
        StatusCode::FORBIDDEN
    );
}

/// A new user `email` created by the admin; returns the set-password link's path.
async fn new_user_link(admin: &crate::helpers::Visitor, email: &str) -> String {
    let response = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", email), ("name", "New")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{email} created");
    password_link(&response.text().await.unwrap())
}

/// Opens the set-password page of `path` (so that its form and token are in hand), lets
/// `meanwhile` happen, then submits the form; returns the answer.
async fn set_password_after(
    app: &TestApp,
    path: &str,
    meanwhile: impl AsyncFnOnce(),
) -> (StatusCode, String) {
    let visitor = app.visitor();
    let (status, html) = visitor.get_text(path).await;
    assert_eq!(status, StatusCode::OK, "the link works when opened");
    let token = crate::helpers::csrf_token(&html).unwrap();
    meanwhile().await;
    let response = visitor
        .post(
            path,
            &[
                ("csrf_token", &token),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// The user's password hash, as stored.
async fn stored_password(app: &TestApp, email: &str) -> Option<String> {
    sqlx::query_scalar("select password_hash from users where email = $1")
        .bind(email)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

const LINK_GONE: &str = "This link is not valid";

#[tokio::test]
async fn a_set_password_link_that_expires_while_open_is_refused_on_submit() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let path = new_user_link(&admin, "fay@example.org").await;
    let (status, html) = set_password_after(&app, &path, async || {
        sqlx::query("update password_links set expires_at = $1")
            .bind(keyport::db::now() - 1)
            .execute(app.db.pool())
            .await
            .unwrap();
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        crate::helpers::page_text(&html).contains(LINK_GONE),
        "{html}"
    );
    assert_eq!(stored_password(&app, "fay@example.org").await, None);
}

#[tokio::test]
async fn a_set_password_link_used_replaced_or_voided_while_open_is_refused_on_submit() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    // Used in another tab first.
    let path = new_user_link(&admin, "gus@example.org").await;
    let (status, _) = set_password_after(&app, &path, async || {
        let (status, _) = set_password_after(&app, &path, async || {}).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "the first use works");
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a used link");
    let first_hash = stored_password(&app, "gus@example.org").await;
    assert!(first_hash.is_some());

    // Replaced by a newer link.
    let path = new_user_link(&admin, "hal@example.org").await;
    let hal = app.user_id("hal@example.org").await;
    let (status, _) = set_password_after(&app, &path, async || {
        let response = admin
            .submit(
                "/admin/users",
                &format!("/admin/users/{hal}/password-link"),
                &[],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a replaced link");
    assert_eq!(stored_password(&app, "hal@example.org").await, None);

    // Voided by disabling (and enabling) the user.
    let path = new_user_link(&admin, "ida@example.org").await;
    let ida = app.user_id("ida@example.org").await;
    let (status, _) = set_password_after(&app, &path, async || {
        for change in ["disable", "enable"] {
            admin
                .submit(
                    "/admin/users",
                    &format!("/admin/users/{ida}/{change}"),
                    &[("confirm", "yes")],
                )
                .await;
        }
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a voided link");
    assert_eq!(stored_password(&app, "ida@example.org").await, None);
}

#[tokio::test]
async fn a_user_disabled_since_the_link_was_opened_cannot_set_a_password() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let path = new_user_link(&admin, "jo@example.org").await;
    // Disabled without touching the link, so that only the submit's own check can refuse.
    let (status, _) = set_password_after(&app, &path, async || {
        sqlx::query("update users set disabled = 1 where email = 'jo@example.org'")
            .execute(app.db.pool())
            .await
            .unwrap();
    })
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(stored_password(&app, "jo@example.org").await, None);
    let links: i64 = sqlx::query_scalar("select count(*) from password_links")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(links, 1, "the link stays as it was");
}

#[tokio::test]
async fn two_submits_of_one_set_password_link_at_once_set_one_password() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let path = new_user_link(&admin, "kim@example.org").await;
    let mut forms = Vec::new();
    for password in ["first password of kim", "second password of kim"] {
        let visitor = app.visitor();
        let token = crate::helpers::csrf_token(&visitor.get_text(&path).await.1).unwrap();
        forms.push((visitor, token, password));
    }
    let path = path.as_str();
    let submits = forms.iter().map(|(visitor, token, password)| async move {
        visitor
            .post(
                path,
                &[
                    ("csrf_token", token.as_str()),
                    ("password", password),
                    ("password_confirm", password),
                ],
            )
            .await
    });
    let answers = futures::future::join_all(submits).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
    let won: Vec<&str> = statuses
        .iter()
        .zip(&forms)
        .filter(|(s, _)| **s == StatusCode::SEE_OTHER)
        .map(|(_, (_, _, password))| *password)
        .collect();
    assert_eq!(won.len(), 1, "exactly one submit wins: {statuses:?}");
    assert!(
        statuses.contains(&StatusCode::FORBIDDEN),
        "the other is refused: {statuses:?}"
    );
    // The winner's password is the one that works.
    app.sign_in("kim@example.org", won[0]).await;
    let lost = forms.iter().find(|f| f.2 != won[0]).unwrap().2;
    let response = app
        .visitor()
        .submit(
            "/login",
            "/login",
            &[("email", "kim@example.org"), ("password", lost)],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the other password does not"
    );
}
