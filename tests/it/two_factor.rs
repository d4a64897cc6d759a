//! Two-factor sign-in with TOTP, its codes computed by an independent implementation
//! (`oathtool`, Debian package `oathtool`): enrolment, the code step of sign-in, codes used once,
//! recovery codes, turning it off, the instance's policy, and step-up with a code. The same walk
//! in a real browser is in `two_factor_browser`.

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
};

use reqwest::{Client, StatusCode, cookie::Jar, redirect::Policy};

use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, TestApp, Visitor, attrs, csrf_token, input_value, location, notice,
    texts,
};

/// The code of `secret` (base32) for the time step `step`, as oathtool computes it.
pub fn oathtool(secret: &str, step: i64) -> String {
    let output = Command::new("oathtool")
        .args(["--totp", "-b", "-N", &format!("@{}", step * 30), secret])
        .output()
        .expect("oathtool runs (Debian package oathtool)");
    assert!(output.status.success(), "oathtool: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The current time step (30 seconds).
pub fn current_step() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() / 30
}

/// `who` starts enrolment; returns the secret the page shows.
async fn start_enrolment(who: &Visitor) -> String {
    let response = who
        .submit("/account/two-factor", "/account/two-factor/start", &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/account/two-factor");
    let (status, html) = who.get_text("/account/two-factor").await;
    assert_eq!(status, StatusCode::OK);
    let qr = attrs(&html, "img#totp-qr", "src").pop().expect("a QR code");
    assert!(qr.starts_with("data:image/svg+xml;base64,"), "{qr}");
    input_value(&html, "totp-secret")
        .or_else(|| attrs(&html, "input#totp-secret", "value").pop())
        .expect("the secret as text")
}

/// `who` confirms enrolment with the code of `step`; returns the recovery codes.
async fn confirm_enrolment(who: &Visitor, secret: &str, step: i64) -> Vec<String> {
    let response = who
        .submit(
            "/account/two-factor",
            "/account/two-factor/confirm",
            &[("code", &oathtool(secret, step))],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the first code turns it on"
    );
    texts(&response.text().await.unwrap(), "ul.recovery-codes li")
}

/// A new visitor from an address of its own (127.0.0.x): the password forms are throttled per
/// address, and this walk posts more of them than one address may in a minute.
pub fn visitor_of_its_own(app: &TestApp) -> Visitor {
    static NEXT: AtomicU8 = AtomicU8::new(10);
    let host = NEXT.fetch_add(1, Ordering::Relaxed);
    let jar = Arc::new(Jar::default());
    let client = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, host]))
        .build()
        .unwrap();
    Visitor {
        base: app.url.clone(),
        client,
        jar,
    }
}

/// Signs in with the password; returns the visitor and where the answer leads.
pub async fn password(app: &TestApp, email: &str) -> (Visitor, String) {
    let visitor = visitor_of_its_own(app);
    let response = visitor
        .submit(
            "/login",
            "/login",
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    (visitor, to)
}

pub async fn code(visitor: &Visitor, code: &str) -> reqwest::Response {
    visitor
        .submit("/login/code", "/login/code", &[("code", code)])
        .await
}

async fn signed_in(visitor: &Visitor) -> bool {
    visitor.get("/projects").await.status() == StatusCode::OK
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select action from audit_events order by id")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn enrol_sign_in_with_codes_once_each_then_turn_it_off() {
    let app = TestApp::spawn().await;
    let _admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    let secret = start_enrolment(&bob).await;
    assert!(secret.len() >= 32, "160 bits in base32: {secret}");

    // A wrong first code keeps the enrolment open.
    let response = bob
        .submit(
            "/account/two-factor",
            "/account/two-factor/confirm",
            &[("code", "000000x")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let enrolled = current_step();
    let recovery = confirm_enrolment(&bob, &secret, enrolled).await;
    assert_eq!(recovery.len(), 10);
    let mut distinct = recovery.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);

    // Stored sealed: neither the secret nor a recovery code is in the database.
    let (sealed,): (Vec<u8>,) = sqlx::query_as("select secret from totp_factors")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        sealed.len(),
        1 + 12 + 20 + 16,
        "version, nonce, 160 bits, tag"
    );
    let hashes: Vec<String> = sqlx::query_scalar("select code_hash from recovery_codes")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert_eq!(hashes.len(), 10);
    for code in &recovery {
        assert!(!hashes.contains(code));
    }
    let html = bob.get_text("/account").await.1;
    assert!(html.contains("10 of your recovery codes are left"));

    // The password alone no longer signs in.
    let (visitor, to) = password(&app, "bob@example.org").await;
    assert_eq!(to, "/login/code");
    assert!(!signed_in(&visitor).await);
    // The code used to enrol does not work again.
    let response = code(&visitor, &oathtool(&secret, enrolled)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!signed_in(&visitor).await);
    // The next one does, once.
    let next = oathtool(&secret, enrolled + 1);
    let response = code(&visitor, &next).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/projects");
    assert!(signed_in(&visitor).await);
    let (again, _) = password(&app, "bob@example.org").await;
    let response = code(&again, &next).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a code works once"
    );
    assert!(!signed_in(&again).await);

    // A recovery code works once, typed in any case and with spaces.
    let typed = format!(" {} ", recovery[0].to_uppercase());
    let response = code(&again, &typed).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(signed_in(&again).await);
    let (third, _) = password(&app, "bob@example.org").await;
    let response = code(&third, &recovery[0]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = again.get_text("/account").await.1;
    assert!(html.contains("9 of your recovery codes are left"));

    // Step-up accepts a recovery code instead of the password.
    let page = "/confirm-identity?next=%2Faccount";
    let html = again.get_text(page).await.1;
    assert!(
        html.contains("name=\"code\""),
        "enrolled users may type a code"
    );
    let response = again
        .submit(
            page,
            "/confirm-identity",
            &[("next", "/account"), ("code", &recovery[1])],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/account");
    let response = again
        .submit(
            page,
            "/confirm-identity",
            &[("next", "/account"), ("code", &recovery[1])],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Off, with the password only.
    let response = again
        .submit(
            "/account",
            "/account/two-factor/disable",
            &[("password", "wrong password")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = again
        .submit(
            "/account",
            "/account/two-factor/disable",
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, to) = password(&app, "bob@example.org").await;
    assert_eq!(to, "/projects", "the password alone signs in again");
    let count: i64 = sqlx::query_scalar("select count(*) from recovery_codes")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);

    let actions = audit_actions(&app).await;
    for action in [
        "two_factor.enable",
        "two_factor.recovery_code",
        "two_factor.disable",
        "sign_in.failed",
    ] {
        assert!(
            actions.contains(&action.to_string()),
            "{action}: {actions:?}"
        );
    }
}

/// How long the password step stays good for the code step (`PENDING_SECONDS` in
/// `src/web/auth.rs`).
const PENDING_SECONDS: i64 = 300;

/// Makes the sign-in waiting for its code in `visitor`'s session `seconds` old, by rewriting the
/// time of its password step in the stored session.
async fn age_pending_sign_in(app: &TestApp, visitor: &Visitor, seconds: i64) {
    let id = keyport::db::sessions::key(&visitor.session_cookie().expect("a session cookie"));
    let data: String = sqlx::query_scalar("select data from sessions where id = $1")
        .bind(&id)
        .fetch_one(app.db.pool())
        .await
        .expect("the session is stored");
    let mut data: serde_json::Value = serde_json::from_str(&data).unwrap();
    let pending = &mut data["pending_sign_in"];
    assert!(pending["since"].is_i64(), "a sign-in waits: {data}");
    pending["since"] = (keyport::db::now() - seconds).into();
    let updated = sqlx::query("update sessions set data = $1 where id = $2")
        .bind(data.to_string())
        .bind(&id)
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 1);
}

#[tokio::test]
async fn the_code_step_needs_a_fresh_password_step_and_ends_after_five_wrong_codes() {
    let app = TestApp::spawn().await;
    let _admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    let secret = start_enrolment(&bob).await;
    confirm_enrolment(&bob, &secret, current_step()).await;

    let stranger = app.visitor();
    let response = stranger.get("/login/code").await;
    assert_eq!(
        location(&response),
        "/login",
        "no password step, no code step"
    );

    // A password step as old as the limit: even the right code is too late.
    let (late, to) = password(&app, "bob@example.org").await;
    assert_eq!(to, "/login/code");
    let token = csrf_token(&late.get_text("/login/code").await.1).expect("the code step is open");
    age_pending_sign_in(&app, &late, PENDING_SECONDS).await;
    let right_code = oathtool(&secret, current_step() + 1);
    let response = late
        .post(
            "/login/code",
            &[("csrf_token", token.as_str()), ("code", &right_code)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login", "back to the password");
    let html = late.get_text("/login").await.1;
    assert!(
        notice(&html).contains("not typed in time"),
        "{}",
        notice(&html)
    );
    assert!(!signed_in(&late).await, "the late code signed nobody in");
    assert_eq!(
        location(&late.get("/login/code").await),
        "/login",
        "the stale step is gone"
    );

    let (visitor, _) = password(&app, "bob@example.org").await;
    let token = csrf_token(&visitor.get_text("/login/code").await.1).unwrap();
    for _ in 0..4 {
        let response = visitor
            .post(
                "/login/code",
                &[("csrf_token", token.as_str()), ("code", "123456")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = visitor
        .post(
            "/login/code",
            &[("csrf_token", token.as_str()), ("code", "123456")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
    let html = visitor.get_text("/login").await.1;
    assert!(notice(&html).contains("sign in again"), "{}", notice(&html));
    assert_eq!(
        visitor.get("/login/code").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn instance_admins_require_it_and_users_are_sent_to_enrol() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.insert_user("bob@example.org", "Bob", false).await;
    let set = |policy: &'static str| {
        let admin = &admin;
        async move {
            let response = admin
                .submit(
                    "/admin/settings",
                    "/admin/settings/two-factor",
                    &[("policy", policy)],
                )
                .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
        }
    };
    let html = admin.get_text("/admin/settings").await.1;
    assert!(html.contains("value=\"optional\" checked"));

    set("everyone").await;
    let (bob, to) = password(&app, "bob@example.org").await;
    assert_eq!(to, "/account/two-factor");
    let html = bob.get_text("/account/two-factor").await.1;
    assert!(html.contains("requires two-factor sign-in"));

    set("admins").await;
    let (_, to) = password(&app, "bob@example.org").await;
    assert_eq!(to, "/projects");
    let (_, to) = password(&app, ADMIN_EMAIL).await;
    assert_eq!(to, "/account/two-factor");

    // Once enrolled, the requirement is met.
    let secret = start_enrolment(&bob).await;
    confirm_enrolment(&bob, &secret, current_step()).await;
    set("everyone").await;
    let (visitor, to) = password(&app, "bob@example.org").await;
    assert_eq!(to, "/login/code");
    let response = code(&visitor, &oathtool(&secret, current_step() + 1)).await;
    assert_eq!(location(&response), "/projects");

    let changes: Vec<String> = sqlx::query_scalar(
        "select detail from audit_events where action = 'settings.change' order by id",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(
        changes,
        vec![
            "optional -> everyone",
            "everyone -> admins",
            "admins -> everyone"
        ]
    );
}

#[tokio::test]
async fn master_key_rotation_reseals_the_two_factor_secrets() {
    use keyport::{
        App,
        crypto::{
            envelope,
            master_key::{self, MasterKey},
        },
        db,
    };
    let test_db = crate::helpers::TestDb::new().await;
    let app = App::build(test_db.config()).await.unwrap();
    let old = master_key::read_file(&test_db.key_file).unwrap();
    let user = db::users::create(
        app.db().pool(),
        db::users::NewUser {
            email: "o@example.org",
            name: "O",
            password_hash: None,
            is_admin: false,
        },
    )
    .await
    .unwrap();
    let secret = b"twenty bytes secret!";
    let sealed = envelope::seal_totp_secret(&old, &user.id, secret);
    assert!(
        db::two_factor::start(app.db(), &user.id, &sealed, "")
            .await
            .unwrap()
    );

    let new = MasterKey::generate();
    keyport::ops::rotate_master_key(app.db(), &old, &new, None)
        .await
        .unwrap();
    let stored = db::two_factor::find(app.db(), &user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        envelope::open_totp_secret(&new, &user.id, &stored.sealed)
            .unwrap()
            .as_slice(),
        secret
    );
    assert!(envelope::open_totp_secret(&old, &user.id, &stored.sealed).is_err());
}

#[tokio::test]
async fn step_up_takes_a_code_of_the_app_once() {
    let app = TestApp::spawn_with(|config| config.step_up_minutes = 0).await;
    let _admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    let page = "/confirm-identity?next=%2Faccount";
    // A new authenticator is a way in: with a window of zero it asks for the password first.
    let response = bob
        .submit(
            page,
            "/confirm-identity",
            &[("next", "/account"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let secret = start_enrolment(&bob).await;
    let enrolled = current_step();
    confirm_enrolment(&bob, &secret, enrolled).await;
    let fresh = oathtool(&secret, enrolled + 1);
    for (code, expected) in [
        (
            oathtool(&secret, enrolled),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (fresh.clone(), StatusCode::SEE_OTHER),
        (fresh, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let response = bob
            .submit(
                page,
                "/confirm-identity",
                &[("next", "/account"), ("code", &code)],
            )
            .await;
        assert_eq!(response.status(), expected, "code of step {code}");
    }
}

#[tokio::test]
async fn a_password_change_voids_a_sign_in_waiting_for_its_code() {
    let app = TestApp::spawn().await;
    let _admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    let secret = start_enrolment(&bob).await;
    let enrolled = current_step();
    confirm_enrolment(&bob, &secret, enrolled).await;

    let (waiting, to) = password(&app, "bob@example.org").await;
    assert_eq!(to, "/login/code");
    let new_password = "a brand new long password";
    let response = bob
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
    let response = code(&waiting, &oathtool(&secret, enrolled + 1)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!signed_in(&waiting).await);
}

/// An enrolment belongs to the session that started it: a session of the same user that began
/// later (or one that outlived it) is not shown its secret and cannot turn it on.
#[tokio::test]
async fn a_pending_enrolment_belongs_to_the_session_that_started_it() {
    let app = TestApp::spawn().await;
    let _admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    let secret = start_enrolment(&bob).await;
    // Bob signs in elsewhere: a second session of the same user.
    let elsewhere = Visitor::new(&app.url);
    let response = elsewhere
        .submit(
            "/login",
            "/login",
            &[("email", "bob@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = elsewhere.get_text("/account/two-factor").await;
    assert!(
        !html.contains(&secret) && attrs(&html, "img#totp-qr", "src").is_empty(),
        "the other session is not shown the pending secret"
    );
    let code = oathtool(&secret, current_step());
    let response = elsewhere
        .submit(
            "/account/two-factor",
            "/account/two-factor/confirm",
            &[("code", &code)],
        )
        .await;
    assert_ne!(response.status(), StatusCode::OK);
    let enrolled: i64 =
        sqlx::query_scalar("select count(*) from totp_factors where confirmed_at is not null")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(enrolled, 0, "the other session did not turn it on");
    // The session that started it still can.
    confirm_enrolment(&bob, &secret, current_step()).await;
}
