//! Single sign-on against a real OpenID provider (npm `oidc-provider`, `tests/oidc/provider.mjs`)
//! on loopback: the sign-in and its refusals over HTTP, accounts created and linked, the
//! provider's groups as roles, offboarding (an account disabled at the provider, back-channel
//! logout), step-up at the provider, and the sign-in in a real browser.

mod browser;
mod checks;
mod offboarding;
mod provider;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, Visitor, location, notice, page_text, text};
use provider::{Provider, come_back, portal, round_trip, sso_sign_in};

const GRACE: (&str, &str) = ("grace", "provider password 1");
const ALAN: (&str, &str) = ("alan", "provider password 2");
const MALLORY: (&str, &str) = ("mallory", "provider password 3");

/// The instance's audit events `action` with their target and detail.
async fn instance_events(app: &TestApp, action: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "select target, detail from audit_events where project_id is null and action = $1 order by id",
    )
    .bind(action)
    .fetch_all(app.db.pool())
    .await
    .unwrap()
}

async fn role_in(app: &TestApp, slug: &str, email: &str) -> Option<String> {
    sqlx::query_scalar(
        "select m.role from memberships m join projects p on p.id = m.project_id
         join users u on u.id = m.user_id where p.slug = $1 and u.email = $2",
    )
    .bind(slug)
    .bind(email)
    .fetch_optional(app.db.pool())
    .await
    .unwrap()
}

async fn is_admin(app: &TestApp, email: &str) -> bool {
    keyport::db::users::find_by_email(&app.db, email)
        .await
        .unwrap()
        .unwrap()
        .is_admin
}

#[tokio::test]
async fn sso_sign_in_creates_the_account_and_the_groups_give_roles_changed_at_the_next_sign_in() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| {
        config.sso.admin_groups = vec!["keyport-admins".into()];
        config.sso.project_roles = vec![
            keyport::config::parse_project_role("keyport-users=team:viewer").unwrap(),
            keyport::config::parse_project_role("team-leads=team:admin").unwrap(),
        ];
    })
    .await;
    let admin = app.admin().await;
    app.project(&admin, "team", ADMIN_EMAIL).await;

    let (status, login) = app.visitor().get_text("/login").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        text(&login, "a[href='/login/sso']").as_deref(),
        Some("Sign in with Test provider")
    );

    let grace = sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    let (status, projects) = grace.get_text("/projects").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page_text(&projects).contains("Project team"), "{projects}");
    let user = keyport::db::users::find_by_email(&app.db, "grace@example.org")
        .await
        .unwrap()
        .expect("the first sign-in created the account");
    assert_eq!(user.name, "Grace Hopper");
    assert!(!user.has_password && !user.is_admin);
    assert_eq!(
        role_in(&app, "team", "grace@example.org").await.as_deref(),
        Some("viewer")
    );
    let created = instance_events(&app, "user.create").await;
    assert!(
        created.contains(&(
            "grace@example.org".into(),
            "at the first single sign-on".into()
        )),
        "{created:?}"
    );

    // The provider's groups change: the next sign-in applies them.
    provider
        .change_account(
            GRACE.0,
            json!({"groups": ["keyport-users", "team-leads", "keyport-admins"]}),
        )
        .await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    assert_eq!(
        role_in(&app, "team", "grace@example.org").await.as_deref(),
        Some("admin")
    );
    assert!(is_admin(&app, "grace@example.org").await);
    provider
        .change_account(GRACE.0, json!({"groups": []}))
        .await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    assert_eq!(role_in(&app, "team", "grace@example.org").await, None);
    assert!(!is_admin(&app, "grace@example.org").await);
    let roles: Vec<(String, String)> = sqlx::query_as(
        "select action, detail from audit_events where project_id is not null and target = $1 order by id",
    )
    .bind("grace@example.org")
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let actions: Vec<&str> = roles.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["member.add", "member.role", "member.remove"],
        "{roles:?}"
    );
}

/// Each answer that must not sign anyone in: refused with its reason on the sign-in page.
async fn refused(visitor: &Visitor, callback: &str, reason: &str) {
    let answer = come_back(visitor, callback).await;
    let status = answer.status();
    let html = answer.text().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{reason}: {html}");
    let alert = text(&html, "[role=alert]").unwrap_or_default();
    assert!(alert.contains(reason), "{reason}: {alert}");
    assert_eq!(
        location(&visitor.get("/projects").await),
        "/login",
        "{reason}: nobody is signed in"
    );
}

#[tokio::test]
async fn sso_refuses_a_wrong_state_a_replayed_code_and_each_bad_id_token() {
    let provider = Provider::start().await;
    let app = portal(&provider, |_| {}).await;
    app.admin().await;

    // The state of another sign-in.
    let visitor = app.visitor();
    let callback = round_trip(&provider, &visitor, GRACE.0, GRACE.1).await;
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    refused(
        &visitor,
        &callback.replace(&state, "another-state"),
        "(state)",
    )
    .await;
    // No sign-in under way any more: the right answer is refused too.
    refused(&visitor, &callback, "not started in this browser").await;

    // A code used once, then presented again with a new sign-in's own state.
    let first = app.visitor();
    let used = round_trip(&provider, &first, GRACE.0, GRACE.1).await;
    assert_eq!(
        come_back(&first, &used).await.status(),
        StatusCode::SEE_OTHER
    );
    let replay = app.visitor();
    let fresh = round_trip(&provider, &replay, GRACE.0, GRACE.1).await;
    let code = |url: &str| {
        url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .to_string()
    };
    refused(
        &replay,
        &fresh.replace(&code(&fresh), &code(&used)),
        "invalid_grant",
    )
    .await;

    // ID tokens the provider's token endpoint answers with, each wrong in one way.
    for (mode, reason) in [
        ("wrong-nonce", "(nonce)"),
        ("foreign-key", "not signed by a key the provider publishes"),
        ("expired", "(exp)"),
        ("other-audience", "(aud)"),
    ] {
        let visitor = app.visitor();
        let callback = round_trip(&provider, &visitor, GRACE.0, GRACE.1).await;
        provider.forge_next_id_token(mode).await;
        refused(&visitor, &callback, reason).await;
    }
    let failed = instance_events(&app, "sign_in.failed").await;
    assert_eq!(failed.len(), 7, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|(_, d)| d.starts_with("single sign-on: ")),
        "{failed:?}"
    );
}

#[tokio::test]
async fn sso_links_an_existing_account_by_verified_email_only_and_keeps_to_the_allowed_domains() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| {
        config.sso.link_by_email = true;
        config.sso.allowed_email_domains = vec!["example.org".into()];
    })
    .await;
    app.admin().await;
    app.insert_user("grace@example.org", "Grace", false).await;
    app.insert_user("alan@example.org", "Alan", false).await;

    // Alan's email is not verified at the provider: never linked.
    let visitor = app.visitor();
    let callback = round_trip(&provider, &visitor, ALAN.0, ALAN.1).await;
    refused(&visitor, &callback, "has not verified your email").await;
    // Mallory's domain is not allowed.
    let visitor = app.visitor();
    let callback = round_trip(&provider, &visitor, MALLORY.0, MALLORY.1).await;
    refused(
        &visitor,
        &callback,
        "Accounts of elsewhere.example may not sign in",
    )
    .await;
    assert!(
        keyport::db::users::find_by_email(&app.db, "mallory@elsewhere.example")
            .await
            .unwrap()
            .is_none()
    );

    // Grace's is: her existing account is the one signed in.
    let grace_id = app.user_id("grace@example.org").await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    let linked = keyport::db::sso::find(&app.db, &grace_id)
        .await
        .unwrap()
        .expect("linked");
    assert_eq!(linked.subject, "grace");
    assert_eq!(instance_events(&app, "sso.link").await.len(), 1);
    // She still signs in with her password too.
    app.sign_in("grace@example.org", PASSWORD).await;
}

#[tokio::test]
async fn sso_without_linking_an_existing_email_is_refused() {
    let provider = Provider::start().await;
    let app = portal(&provider, |_| {}).await;
    app.admin().await;
    app.insert_user("grace@example.org", "Grace", false).await;
    let visitor = app.visitor();
    let callback = round_trip(&provider, &visitor, GRACE.0, GRACE.1).await;
    refused(
        &visitor,
        &callback,
        "is not linked to your provider account",
    )
    .await;
}

#[tokio::test]
async fn sso_password_sign_in_can_be_kept_for_instance_administrators() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| {
        config.sso.password_sign_in = "admins".into()
    })
    .await;
    app.admin().await;
    app.insert_user("bob@example.org", "Bob", false).await;
    let bob = app.visitor();
    let answer = bob
        .submit(
            "/login",
            "/login",
            &[("email", "bob@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let html = answer.text().await.unwrap();
    assert!(
        text(&html, "[role=alert]")
            .unwrap()
            .contains("Sign in with Test provider"),
        "{html}"
    );
    // The break-glass administrator still signs in with the password.
    app.sign_in(ADMIN_EMAIL, PASSWORD).await;
}

/// Waits (at most 30 seconds) until `done` holds.
async fn wait_until<F: AsyncFn() -> bool>(what: &str, done: F) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

async fn exchange(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/identity/token", app.url))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn sso_user_disabled_at_the_provider_loses_sessions_and_api_keys_within_the_recheck_time() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| {
        config.sso.recheck_seconds = 1;
        config.sso.admin_groups = vec!["keyport-admins".into()];
    })
    .await;
    app.admin().await;
    let grace = sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    // Her API key, made just after signing in (the sign-in is her proof of identity).
    let answer = grace
        .submit(
            "/account/api-access",
            "/account/api-access/keys",
            &[("name", "laptop"), ("description", ""), ("expires", "")],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    let html = answer.text().await.unwrap();
    let key = crate::helpers::raw_text(&html, "textarea#new-api-key").unwrap();
    let (status, tokens) = exchange(&app, &[("grant_type", GRANT), ("apikey", &key)]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    // The provider keeps vouching for her: her session goes on across checks.
    let identity = keyport::db::sso::find(&app.db, &app.user_id("grace@example.org").await)
        .await
        .unwrap()
        .unwrap();
    wait_until("the provider vouched again", async || {
        let now = keyport::db::sso::find(&app.db, &identity.user_id)
            .await
            .unwrap()
            .unwrap();
        now.checked_at > identity.checked_at
    })
    .await;
    assert_eq!(grace.get("/projects").await.status(), StatusCode::OK);
    // A change of her groups applies at the next check, without a sign-in.
    assert!(!is_admin(&app, "grace@example.org").await);
    provider
        .change_account(GRACE.0, json!({"groups": ["keyport-admins"]}))
        .await;
    wait_until("the check applied the new groups", async || {
        is_admin(&app, "grace@example.org").await
    })
    .await;
    provider
        .change_account(GRACE.0, json!({"groups": []}))
        .await;
    wait_until("the check took the right away again", async || {
        !is_admin(&app, "grace@example.org").await
    })
    .await;

    provider
        .change_account(GRACE.0, json!({"disabled": true}))
        .await;
    wait_until("the session ends", async || {
        grace.get("/projects").await.status() == StatusCode::SEE_OTHER
    })
    .await;
    let (status, answer) = exchange(&app, &[("grant_type", GRANT), ("apikey", &key)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let (status, answer) = exchange(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert!(status.is_client_error(), "{status} {answer}");
    let disabled = instance_events(&app, "user.disable").await;
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert!(
        disabled[0]
            .1
            .contains("the single sign-on provider refused the account"),
        "{disabled:?}"
    );
    // Enabled again at the provider, she signs in again and her key works again.
    provider
        .change_account(GRACE.0, json!({"disabled": false}))
        .await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    let (status, answer) = exchange(&app, &[("grant_type", GRANT), ("apikey", &key)]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn sso_back_channel_logout_ends_the_session_and_a_forged_one_is_refused() {
    let provider = Provider::start().await;
    let app = portal(&provider, |_| {}).await;
    app.admin().await;
    let grace = sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    assert_eq!(grace.get("/projects").await.status(), StatusCode::OK);

    // A logout token Keyport's provider did not sign.
    let forged = format!(
        "{}.{}.c2lnbmF0dXJl",
        base64_url(r#"{"alg":"RS256","kid":"keyport-test-1"}"#),
        base64_url(&format!(
            r#"{{"iss":"{}","aud":"{}","sub":"grace","iat":{},"events":{{"http://schemas.openid.net/event/backchannel-logout":{{}}}}}}"#,
            provider.issuer,
            provider::CLIENT_ID,
            keyport::domain::time::now()
        ))
    );
    let answer = reqwest::Client::new()
        .post(format!("{}/login/sso/logout", app.url))
        .form(&[("logout_token", forged.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert_eq!(grace.get("/projects").await.status(), StatusCode::OK);

    // She signs out at the provider: it tells Keyport, whose session of hers ends.
    assert_eq!(provider.log_out(GRACE.0).await, 1);
    assert_eq!(location(&grace.get("/projects").await), "/login");
    let logouts = instance_events(&app, "sso.logout").await;
    assert_eq!(logouts.len(), 1, "{logouts:?}");
    assert_eq!(logouts[0].0, "grace@example.org");
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn sso_step_up_asks_the_provider_to_sign_in_again() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| config.step_up_minutes = 0).await;
    app.admin().await;
    let grace = sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;

    // With a window of zero every key asks again; the confirmation offers the provider.
    let answer = grace
        .submit(
            "/account/api-access",
            "/account/api-access/keys",
            &[("name", "laptop"), ("description", ""), ("expires", "")],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let confirm = location(&answer);
    let (_, html) = grace.get_text(&confirm).await;
    let link = crate::helpers::attrs(&html, "a[href^='/confirm-identity/sso']", "href")
        .pop()
        .expect("the confirmation offers the provider");
    assert_eq!(
        text(&html, "a[href^='/confirm-identity/sso']").as_deref(),
        Some("Confirm with Test provider")
    );

    let start = grace.get(&link.replace("&amp;", "&")).await;
    let authorize = location(&start);
    assert!(
        authorize.contains("prompt=login") && authorize.contains("max_age=0"),
        "{authorize}"
    );
    let callback = provider
        .sign_in(&provider.browser(), &authorize, GRACE.0, GRACE.1)
        .await;
    let back = come_back(&grace, &callback).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&back), "/account/api-access");
    let (_, page) = grace.get_text("/account/api-access").await;
    assert!(notice(&page).contains("Identity confirmed"), "{page}");
    let answer = grace
        .submit(
            "/account/api-access",
            "/account/api-access/keys",
            &[("name", "laptop"), ("description", ""), ("expires", "")],
        )
        .await;
    assert_eq!(
        answer.status(),
        StatusCode::CREATED,
        "the grant of the step-up is used"
    );

    // Another provider account cannot confirm Grace's identity.
    let start = grace.get(&link.replace("&amp;", "&")).await;
    let callback = provider
        .sign_in(&provider.browser(), &location(&start), MALLORY.0, MALLORY.1)
        .await;
    let back = come_back(&grace, &callback).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let (_, page) = grace.get_text(&location(&back)).await;
    assert!(notice(&page).contains("(sub)"), "{page}");
}

#[tokio::test]
async fn sso_an_unknown_key_id_fetches_the_keys_again_at_most_once_a_minute() {
    let provider = Provider::start().await;
    let app = portal(&provider, |_| {}).await;
    app.admin().await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    assert_eq!(provider.key_fetches().await, 1);
    // Tokens naming a key nobody published: each refused, the keys not fetched again within
    // the minute.
    for _ in 0..3 {
        let visitor = app.visitor();
        let callback = round_trip(&provider, &visitor, GRACE.0, GRACE.1).await;
        provider.forge_next_id_token("unknown-kid").await;
        refused(
            &visitor,
            &callback,
            "not signed by a key the provider publishes",
        )
        .await;
    }
    assert_eq!(provider.key_fetches().await, 1);
}

#[tokio::test]
async fn sso_a_new_signing_key_of_the_provider_is_fetched_and_accepted() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| config.sso.key_refetch_seconds = 0).await;
    app.admin().await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    assert_eq!(provider.key_fetches().await, 1);
    // The provider rolls over to a new key: its first token fetches the keys again.
    provider.rotate_keys().await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    assert_eq!(provider.key_fetches().await, 2);
}

#[tokio::test]
async fn sso_a_sign_in_begun_on_one_process_finishes_on_another_behind_a_trusted_proxy() {
    let provider = Provider::start().await;
    let db = crate::helpers::TestDb::new().await;
    // Two processes behind one proxy on loopback, at one public address.
    let public = "http://keyport.example.org";
    let mut env = provider.environment();
    env.push(("KEYPORT_PUBLIC_URL", public.into()));
    env.push(("KEYPORT_TRUSTED_PROXIES", "127.0.0.1".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let one = crate::process::Server::start(&db, &env).await;
    let other = crate::process::Server::start(&db, &env).await;
    provider.register(public).await;
    crate::helpers::complete_setup(&one.visitor()).await;

    // One browser (its cookie is the same for both processes, as behind the proxy).
    let browser = one.visitor();
    let callback = round_trip(&provider, &browser, GRACE.0, GRACE.1).await;
    let back = callback.replacen(public, &other.base, 1);
    assert_ne!(
        back, callback,
        "the provider sends the browser to the public address"
    );
    let answer = browser
        .client
        .get(&back)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::SEE_OTHER,
        "{}",
        other.log_text()
    );
    assert_eq!(location(&answer), "/projects");
    assert_eq!(browser.get("/projects").await.status(), StatusCode::OK);
    let ip: String = sqlx::query_scalar(
        "select ip from audit_events where action = 'user.create' and target = 'grace@example.org'",
    )
    .fetch_one(
        &keyport::db::Db::connect(&db.url)
            .await
            .unwrap()
            .pool()
            .clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        ip, "203.0.113.9",
        "the client's address, as the trusted proxy named it"
    );
}

#[tokio::test]
async fn sso_an_account_disabled_by_hand_stays_disabled_whatever_the_provider_says() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| config.sso.recheck_seconds = 1).await;
    let admin = app.admin().await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    let grace = app.user_id("grace@example.org").await;
    let disable = format!("/admin/users/{grace}/disable");
    let answer = admin
        .submit("/admin/users", &disable, &[("confirm", "yes")])
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let visitor = app.visitor();
    let callback = round_trip(&provider, &visitor, GRACE.0, GRACE.1).await;
    refused(&visitor, &callback, "Your Keyport account is disabled").await;
    // The checks leave her alone (the provider still vouches for her): once they went past
    // Alan, signed in after her, they did not touch her account.
    let before = keyport::db::sso::find(&app.db, &grace)
        .await
        .unwrap()
        .unwrap();
    provider
        .change_account(ALAN.0, json!({"email_verified": true}))
        .await;
    sso_sign_in(&app, &provider, ALAN.0, ALAN.1).await;
    let alan = app.user_id("alan@example.org").await;
    let alan_signed_in = keyport::db::sso::find(&app.db, &alan)
        .await
        .unwrap()
        .unwrap();
    wait_until("a check went past Alan", async || {
        let now = keyport::db::sso::find(&app.db, &alan)
            .await
            .unwrap()
            .unwrap();
        now.checked_at > alan_signed_in.checked_at
    })
    .await;
    let after = keyport::db::sso::find(&app.db, &grace)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.checked_at, before.checked_at);
    assert!(
        keyport::db::users::find(&app.db, &grace)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
}
