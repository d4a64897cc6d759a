//! Step-up before secrets: with a stale proof of identity, Show, Copy, Download, Regenerate and
//! Delete lead to `/confirm-identity` and do nothing; the password (throttled, audited when
//! wrong) allows them again; the way back never leaves the site; the JSON API is not affected.

use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::{
    credentials::{Team, credential_ids, revealed_secret, team},
    helpers::{PASSWORD, TestApp, Visitor, csrf_token, input_value, location, notice},
};

/// An app where every guarded action asks for the password (`KEYPORT_STEP_UP_MINUTES=0`).
async fn always_ask() -> TestApp {
    TestApp::spawn_with(|config| config.step_up_minutes = 0).await
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select action from audit_events order by id")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

/// Posts `fields` (with the page's CSRF token) to the guarded `action` of credential `id`.
async fn press(
    who: &Visitor,
    team: &Team,
    id: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let token = csrf_token(&who.get_text(&team.page).await.1).unwrap();
    let mut with_token = vec![("csrf_token", token.as_str())];
    with_token.extend_from_slice(fields);
    let response = who
        .post(
            &format!("/projects/team/credentials/{id}/{action}"),
            &with_token,
        )
        .await;
    // Show leads back to the page, which shows the secret once: the page is Show's answer.
    let shown = action == "reveal"
        && response.status() == reqwest::StatusCode::SEE_OTHER
        && !location(&response).starts_with("/confirm-identity");
    if shown {
        return who.get(&location(&response)).await;
    }
    response
}

/// Confirms identity with `password` on the page `confirm` (a `/confirm-identity?...` path).
async fn confirm_identity(who: &Visitor, confirm: &str, password: &str) -> reqwest::Response {
    let html = who.get_text(confirm).await.1;
    let next = input_value(&html, "next").unwrap();
    who.submit(
        confirm,
        "/confirm-identity",
        &[("next", &next), ("password", password)],
    )
    .await
}

#[tokio::test]
async fn a_stale_proof_is_asked_for_before_every_guarded_action() {
    let app = always_ask().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let id = credential_ids(&team.member.get_text(&team.page).await.1)[0].clone();
    let before = audit_actions(&app).await;

    let to_credentials = "/confirm-identity?next=%2Fprojects%2Fteam%2Fcredentials";
    let response = press(&team.member, &team, &id, "reveal", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "Show");
    assert_eq!(location(&response), to_credentials);
    for purpose in ["copy", "download"] {
        let response = press(
            &team.member,
            &team,
            &id,
            "config",
            &[("snippet", "aws-credentials"), ("purpose", purpose)],
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{purpose}");
        assert_eq!(location(&response), to_credentials);
    }
    for action in ["regenerate", "delete"] {
        let response = press(&team.member, &team, &id, action, &[("confirm", "yes")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{action}");
        assert_eq!(
            location(&response),
            format!("/confirm-identity?next=%2Fprojects%2Fteam%2Fcredentials%2F{id}%2F{action}"),
            "back to the confirmation page of {action}"
        );
    }
    assert_eq!(
        audit_actions(&app).await,
        before,
        "nothing was revealed or changed"
    );
    assert_eq!(
        credential_ids(&team.member.get_text(&team.page).await.1),
        vec![id.clone()]
    );

    // The password, then the button again: one action.
    let response = confirm_identity(&team.member, to_credentials, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/projects/team/credentials");
    let html = team.member.get_text("/projects/team/credentials").await.1;
    assert!(
        notice(&html).contains("press the button again"),
        "{}",
        notice(&html)
    );
    let response = press(&team.member, &team, &id, "reveal", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(revealed_secret(&html, &id).is_some(), "the secret is shown");
    // With a window of zero, the next one asks again.
    let response = press(&team.member, &team, &id, "reveal", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // Delete after its own step-up.
    let back = format!("/confirm-identity?next=%2Fprojects%2Fteam%2Fcredentials%2F{id}%2Fdelete");
    let response = confirm_identity(&team.member, &back, PASSWORD).await;
    assert_eq!(
        location(&response),
        format!("/projects/team/credentials/{id}/delete")
    );
    let response = press(&team.member, &team, &id, "delete", &[("confirm", "yes")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(!location(&response).starts_with("/confirm-identity"));
    assert!(credential_ids(&team.member.get_text(&team.page).await.1).is_empty());
}

#[tokio::test]
async fn a_fresh_proof_is_not_asked_for() {
    let app = TestApp::spawn_with(|config| config.step_up_minutes = 600).await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let id = credential_ids(&team.member.get_text(&team.page).await.1)[0].clone();
    let response = press(&team.member, &team, &id, "reveal", &[]).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "just signed in: no question"
    );
    let response = press(
        &team.member,
        &team,
        &id,
        "regenerate",
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/projects/team/credentials?service="));
    assert!(
        audit_actions(&app)
            .await
            .contains(&"credential.regenerate".to_string())
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_audited_and_throttled() {
    let app = always_ask().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let id = credential_ids(&team.member.get_text(&team.page).await.1)[0].clone();
    let confirm = "/confirm-identity?next=%2Fprojects%2Fteam%2Fcredentials";
    let response = confirm_identity(&team.member, confirm, "not my password").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("This is not your password"));
    assert_eq!(
        input_value(&html, "next").unwrap(),
        "/projects/team/credentials"
    );
    assert!(
        audit_actions(&app)
            .await
            .contains(&"step_up.failed".to_string())
    );
    // Still not allowed.
    let response = press(&team.member, &team, &id, "reveal", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let token = csrf_token(&team.member.get_text(confirm).await.1).unwrap();
    let mut throttled = false;
    for _ in 0..30 {
        let response = team
            .member
            .post(
                "/confirm-identity",
                &[
                    ("csrf_token", token.as_str()),
                    ("next", "/projects"),
                    ("password", "guess"),
                ],
            )
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert!(throttled, "guessing the password is throttled like sign-in");
}

#[tokio::test]
async fn the_way_back_never_leaves_the_site() {
    let app = always_ask().await;
    let _admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    for outside in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "evil.example",
        "/\r\nLocation: https://evil.example",
        "/\tevil",
    ] {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", outside)
            .finish();
        let page = format!("/confirm-identity?{query}");
        let (status, html) = bob.get_text(&page).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            input_value(&html, "next").unwrap(),
            "/projects",
            "{outside:?}"
        );
        // Posted directly, with the right password.
        let response = bob
            .submit(
                &page,
                "/confirm-identity",
                &[("next", outside), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/projects", "{outside:?}");
    }
}

#[tokio::test]
async fn the_json_api_is_not_asked() {
    let app = always_ask().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let id = credential_ids(&team.member.get_text(&team.page).await.1)[0].clone();
    // Making the key is a way in: it asks for the password, as in the browser.
    confirm_identity(
        &team.member,
        "/confirm-identity?next=%2Faccount%2Fapi-access",
        PASSWORD,
    )
    .await;
    let response = team
        .member
        .submit(
            "/account/api-access",
            "/account/api-access/keys",
            &[("name", "ci"), ("description", ""), ("expires", "")],
        )
        .await;
    let html = response.text().await.unwrap();
    let key = crate::helpers::raw_text(&html, "textarea#new-api-key").unwrap();
    let answer: Value = Client::new()
        .post(format!("{}/identity/token", app.url))
        .form(&[("grant_type", "apikey"), ("apikey", key.trim())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().unwrap();
    let response = Client::new()
        .post(format!(
            "{}/api/v1/projects/team/credentials/{id}/reveal",
            app.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// In the browser: Show asks who you are first, the password leads back, and Show again shows
/// the secret (nothing is replayed, and nothing was shown before the proof).
#[tokio::test]
async fn show_after_the_password_in_the_browser() {
    let app = always_ask().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let service = app.service(&admin, "s3", "Object storage", "team").await;
    let service_id = service.rsplit('/').next().unwrap().to_string();
    let page = format!("/projects/team/credentials?service={service_id}");
    let response = admin
        .submit(
            &page,
            "/projects/team/credentials",
            &[("service_id", &service_id), ("name", "laptop")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let browser = crate::browser::Browser::start("step-up").await;
    let b = &browser;
    b.sign_in(&app, crate::helpers::ADMIN_EMAIL).await;
    b.client.goto(&format!("{}{page}", app.url)).await.unwrap();
    let show = "article.credential:first-of-type button[formaction$='/reveal']";
    b.press(show).await;
    assert_eq!(b.path().await, "/confirm-identity", "asked who you are");
    b.screenshot("01-confirm-identity").await;
    b.fill("password", PASSWORD).await;
    b.press("button.primary").await;
    assert_eq!(b.path().await, "/projects/team/credentials");
    assert!(b.text().await.contains("press the button again"));
    let reveals: i64 =
        sqlx::query_scalar("select count(*) from audit_events where action = 'credential.reveal'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(
        reveals, 0,
        "nothing shown before the button is pressed again"
    );
    b.press(show).await;
    let secret = b
        .client
        .find(fantoccini::Locator::Css("input[id^=secret-]"))
        .await
        .expect("the secret is shown");
    let value = secret.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(value.len(), 40, "the secret is shown");
    b.screenshot("02-shown").await;
}

/// A new API key reveals, through the API, every credential its holder may see; a new
/// authenticator is a way in. Each asks for a recent proof as Show does, and is made only after
/// it.
#[tokio::test]
async fn minting_a_way_in_asks_for_a_recent_proof() {
    let app = always_ask().await;
    let team = team(&app, "s3").await;
    let apps = "/projects/team/apps";
    let response = team
        .owner
        .submit(apps, apps, &[("name", "ci"), ("description", "")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the app is made");
    let app_id: String = sqlx::query_scalar("select id from apps where name = 'ci'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let app_page = format!("{apps}/{app_id}");
    let keys_before = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from api_keys")
            .fetch_one(app.db.pool())
            .await
            .unwrap()
    };
    let cases = [
        (
            "/account/api-access",
            "/account/api-access/keys",
            vec![("name", "laptop")],
            "/confirm-identity?next=%2Faccount%2Fapi-access",
        ),
        (
            app_page.as_str(),
            &*format!("{app_page}/keys"),
            vec![("name", "deploy")],
            &*format!("/confirm-identity?next=%2Fprojects%2Fteam%2Fapps%2F{app_id}"),
        ),
        (
            "/account",
            "/account/two-factor/start",
            vec![],
            "/confirm-identity?next=%2Faccount",
        ),
    ];
    for (page, action, fields, asks) in &cases {
        let keys = keys_before().await;
        let response = team.owner.submit(page, action, fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{action}");
        assert_eq!(location(&response), *asks, "{action}");
        assert_eq!(keys_before().await, keys, "{action}: no key was made");
    }
    let factors: i64 = sqlx::query_scalar("select count(*) from totp_factors")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(factors, 0, "no authenticator was started");

    // After the password, the same button makes the key, once.
    let (page, action, fields, asks) = &cases[0];
    confirm_identity(&team.owner, asks, PASSWORD).await;
    let keys = keys_before().await;
    let response = team.owner.submit(page, action, fields).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{action}");
    assert_eq!(keys_before().await, keys + 1);
    let response = team.owner.submit(page, action, fields).await;
    assert_eq!(location(&response), *asks, "the next one asks again");
}

/// With a window of zero, one proof allows one action, however many are sent at once: the
/// grant is used up by a delete that only one request wins.
#[tokio::test]
async fn one_proof_allows_one_of_several_parallel_downloads() {
    let app = always_ask().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let id = credential_ids(&team.member.get_text(&team.page).await.1)[0].clone();
    confirm_identity(
        &team.member,
        "/confirm-identity?next=%2Fprojects%2Fteam%2Fcredentials",
        PASSWORD,
    )
    .await;
    let token = csrf_token(&team.member.get_text(&team.page).await.1).unwrap();
    let path = format!("/projects/team/credentials/{id}/config");
    let form = [
        ("csrf_token", token.as_str()),
        ("snippet", "aws-credentials"),
        ("purpose", "download"),
    ];
    let downloads = (0..4).map(|_| team.member.post(&path, &form));
    let answers: Vec<StatusCode> = futures::future::join_all(downloads)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let served = answers.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        served, 1,
        "one download, the others asked again: {answers:?}"
    );
    let downloads: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'credential.download'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(downloads, 1);
}

#[tokio::test]
async fn disabling_a_user_and_revoking_their_keys_asks_for_a_recent_proof() {
    let app = always_ask().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "member key", &[]).await;
    let member = app.user_id("member@example.org").await;
    let disable = format!("/admin/users/{member}/disable");
    let disabled = async || -> bool {
        sqlx::query_scalar::<_, i64>("select count(*) from users where id = $1 and disabled = 1")
            .bind(&member)
            .fetch_one(app.db.pool())
            .await
            .unwrap()
            == 1
    };

    // Revoking their keys deletes them at their backends: the proof is asked for first, and
    // nothing changes until it is given.
    let answer = team
        .owner
        .submit(
            "/admin/users",
            &disable,
            &[("confirm", "yes"), ("revoke", "now")],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let confirm = location(&answer);
    assert!(confirm.starts_with("/confirm-identity"), "{confirm}");
    assert!(!disabled().await, "not disabled without the proof");
    assert_eq!(
        credential_ids(&team.member.get_text(&team.page).await.1).len(),
        1,
        "the key is kept"
    );
    let answer = confirm_identity(&team.owner, &confirm, PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let answer = team
        .owner
        .submit(
            "/admin/users",
            &disable,
            &[("confirm", "yes"), ("revoke", "now")],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert!(!location(&answer).starts_with("/confirm-identity"));
    assert!(disabled().await);
    let (_, page) = team.owner.get_text("/admin/users").await;
    assert!(
        notice(&page).contains("1 of their keys revoked"),
        "{}",
        notice(&page)
    );

    // Leaving their keys deletes nothing: no proof is asked for.
    app.user("other@example.org", "member").await;
    let other = app.user_id("other@example.org").await;
    let answer = team
        .owner
        .submit(
            "/admin/users",
            &format!("/admin/users/{other}/disable"),
            &[("confirm", "yes"), ("revoke", "leave")],
        )
        .await;
    assert!(!location(&answer).starts_with("/confirm-identity"));
}
