//! Keyport API keys on the pages: the API access page and an app's page create a key (shown once),
//! enable, disable and delete it; the key is exchanged at /identity/token and the token used on
//! /api/v1, and each change to the key is felt by the API at once.

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

use crate::helpers::{
    ADMIN_EMAIL, TestApp, Visitor, attrs, csrf_token, location, notice, page_text, raw_text, text,
    texts,
};

const PAGE: &str = "/account/api-access";
const GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// `who` creates a key named `name` on `page` (posting to `action`); returns the answer's page
/// and the key it shows.
async fn create_key(who: &Visitor, page: &str, action: &str, name: &str) -> (String, String) {
    let response = who
        .submit(
            page,
            action,
            &[
                ("name", name),
                ("description", "nightly job"),
                ("expires", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{name} is created");
    let html = response.text().await.unwrap();
    let key = raw_text(&html, "textarea#new-api-key").expect("the answer shows the new key");
    assert!(key.starts_with("kp_"), "{key}");
    (html, key)
}

/// The id of the key named `name` in a page's key list.
fn key_id(html: &str, name: &str) -> String {
    let ids = attrs(html, "table.api-keys tr[id^=key-]", "id");
    let names = texts(html, "table.api-keys tr[id^=key-] td:first-child");
    let at = names
        .iter()
        .position(|n| n.starts_with(name))
        .unwrap_or_else(|| panic!("{name} is listed: {names:?}"));
    ids[at]["key-".len()..].to_string()
}

/// The token endpoint's answer to `key`.
async fn exchange(app: &TestApp, key: &str) -> Response {
    Client::new()
        .post(format!("{}/identity/token", app.url))
        .form(&[("grant_type", GRANT), ("apikey", key)])
        .send()
        .await
        .unwrap()
}

/// The access token `key` is exchanged for.
async fn access_token(app: &TestApp, key: &str) -> String {
    let response = exchange(app, key).await;
    assert_eq!(response.status(), StatusCode::OK, "the key is exchanged");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["token_type"], "Bearer");
    let token = answer["access_token"].as_str().unwrap().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    token
}

/// Whether the exchange of `key` is refused as IAM refuses it.
async fn assert_exchange_refused(app: &TestApp, key: &str) {
    let response = exchange(app, key).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let answer: Value = response.json().await.unwrap();
    assert!(answer["errorCode"].is_string(), "{answer}");
}

async fn api_projects(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let response = Client::new()
        .get(format!("{}/api/v1/projects", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `who` presses a key's button `action` (`enable`, `disable`, `delete`) on `page`.
async fn press(who: &Visitor, page: &str, keys: &str, id: &str, action: &str) -> Response {
    let fields: &[(&str, &str)] = if action == "delete" {
        &[("confirm", "yes")]
    } else {
        &[]
    };
    who.submit(page, &format!("{keys}/{id}/{action}"), fields)
        .await
}

/// The pages `who` can open after a key was made, each of which must not show it.
async fn assert_nowhere(who: &Visitor, pages: &[String], key: &str) {
    for page in pages {
        let (status, html) = who.get_text(page).await;
        assert!(status.is_success(), "{page}: {status}");
        assert!(!html.contains(key), "{page} shows the key again");
        assert!(!html.contains(&key[12..]), "{page} shows part of the key");
    }
}

#[tokio::test]
async fn the_page_shows_where_to_reach_keyport_and_the_members_projects() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let project_id: String = sqlx::query_scalar("select id from projects where slug = 'team'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();

    let (status, html) = admin.get_text(PAGE).await;

    assert_eq!(status, StatusCode::OK);
    let url = |id: &str| attrs(&html, &format!("input#{id}"), "value").pop().unwrap();
    let public = url("url-public");
    assert_eq!(url("url-token"), format!("{public}/identity/token"));
    assert_eq!(url("url-jwks"), format!("{public}/identity/keys"));
    assert_eq!(url("url-api"), format!("{public}/api/v1"));
    assert_eq!(url("url-openapi"), format!("{public}/api/v1/openapi.json"));
    let cells = texts(&html, "table.projects tbody td");
    assert_eq!(
        cells,
        ["Project team", "team", &project_id, "owner"],
        "name, short name, id and role"
    );
    // The example, pasted into a shell with a key in KEYPORT_API_KEY, lists the projects.
    let example = raw_text(&html, "pre#curl-example").unwrap();
    assert!(
        example.contains(&format!("{public}/identity/token")),
        "{example}"
    );
    let (_, key) = create_key(&admin, PAGE, "/account/api-access/keys", "pasted").await;
    // The test portal listens on a port chosen when it starts, after its public URL was set.
    let example = example.replace(&public, &app.url);
    let pasted = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .args(["-c", &example])
            .env("KEYPORT_API_KEY", key)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let listed = String::from_utf8_lossy(&pasted.stdout);
    assert!(
        pasted.status.success(),
        "{listed} {}",
        String::from_utf8_lossy(&pasted.stderr)
    );
    let projects: Value = serde_json::from_str(&listed).expect("the example's answer is JSON");
    assert_eq!(projects[0]["slug"], "team", "{listed}");
    assert!(page_text(&html).contains("No API keys yet."));
    assert!(
        attrs(&admin.get_text("/account").await.1, "a", "href")
            .iter()
            .any(|href| href == PAGE),
        "the account pages link to it"
    );
    assert_eq!(
        Visitor::new(&app.url).get(PAGE).await.status(),
        StatusCode::SEE_OTHER,
        "signed-out visitors are sent to sign in"
    );
}

#[tokio::test]
async fn a_personal_key_is_shown_once_exchanged_and_its_last_use_shown() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;

    let (html, key) = create_key(&admin, PAGE, "/account/api-access/keys", "ci-deploy").await;

    assert!(page_text(&html).contains("this is the only time it is shown"));
    let id = key_id(&html, "ci-deploy");
    let row = text(&html, &format!("tr#key-{id}")).unwrap();
    assert!(
        row.contains(&format!("{}…", &key[..11])),
        "the prefix: {row}"
    );
    assert!(row.contains("nightly job"), "{row}");
    assert!(
        row.contains(&format!("by Ada Admin <{ADMIN_EMAIL}>")),
        "{row}"
    );
    assert!(row.contains("never"), "not used, no expiry: {row}");
    assert!(row.contains("enabled"), "{row}");
    let stored: String = sqlx::query_scalar("select key_hash from api_keys where id = $1")
        .bind(&id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_ne!(stored, key, "only a hash is kept");

    let token = access_token(&app, &key).await;
    let (status, projects) = api_projects(&app, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(projects[0]["slug"], "team");
    assert_eq!(projects[0]["role"], "owner");

    // The use is recorded beside the exchange, not in its way: it shows within moments.
    let mut used = String::new();
    for _ in 0..100 {
        let (_, html) = admin.get_text(PAGE).await;
        used = text(&html, &format!("tr#key-{id} td.last-used")).unwrap();
        if used != "never" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        used.contains("UTC") && used.ends_with("from 127.0.0.1"),
        "{used}"
    );

    let pages = [
        PAGE.to_string(),
        format!("{PAGE}/keys/{id}/delete"),
        "/account".into(),
        "/projects".into(),
        "/projects/team".into(),
        "/projects/team/apps".into(),
        "/projects/team/audit".into(),
    ];
    assert_nowhere(&admin, &pages, &key).await;
}

#[tokio::test]
async fn the_key_downloads_as_an_env_file_from_the_answer_that_shows_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (html, key) = create_key(&admin, PAGE, "/account/api-access/keys", "laptop").await;
    let action = attrs(&html, "form:has(textarea#new-api-key)", "action")
        .pop()
        .unwrap();
    let token = csrf_token(&html).unwrap();

    let response = admin
        .post(&action, &[("csrf_token", &token), ("apikey", &key)])
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert_eq!(disposition, "attachment; filename=\"keyport.env\"");
    let file = response.text().await.unwrap();
    let lines: Vec<&str> = file.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 2, "{file}");
    assert!(lines[0].starts_with("KEYPORT_URL=http"), "{file}");
    assert_eq!(lines[1], format!("KEYPORT_API_KEY={key}"));

    let forged = admin
        .post(
            &action,
            &[("csrf_token", &token), ("apikey", "kp_x\nKEYPORT_URL=evil")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let without_token = admin.post(&action, &[("apikey", &key)]).await;
    assert_eq!(without_token.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_form_shows_each_problem_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let cases = [
        ("", "2099-01-01", "Name the key, e.g. ci-deploy."),
        ("job", "2001-01-01", "Choose a day in the future"),
        ("job", "next week", "Enter a date such as 2027-06-30"),
    ];
    for (name, expires, message) in cases {
        let response = admin
            .submit(
                PAGE,
                "/account/api-access/keys",
                &[
                    ("name", name),
                    ("description", "kept"),
                    ("expires", expires),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = response.text().await.unwrap();
        assert!(
            texts(&html, "p.field-error")
                .iter()
                .any(|e| e.contains(message)),
            "{message}"
        );
        assert_eq!(attrs(&html, "input#key-description", "value"), ["kept"]);
        assert_eq!(attrs(&html, "input#key-expires", "value"), [expires]);
        assert!(raw_text(&html, "textarea#new-api-key").is_none());
    }
    let count: i64 = sqlx::query_scalar("select count(*) from api_keys")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn disabling_refuses_the_key_and_its_tokens_at_once_enabling_restores_delete_ends_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let keys = "/account/api-access/keys";
    let (html, key) = create_key(&admin, PAGE, keys, "ci-deploy").await;
    let id = key_id(&html, "ci-deploy");
    let token = access_token(&app, &key).await;

    let disabled = press(&admin, PAGE, keys, &id, "disable").await;

    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&disabled), PAGE);
    let (_, html) = admin.get_text(PAGE).await;
    assert!(notice(&html).contains("API key ci-deploy disabled"));
    assert!(
        text(&html, &format!("tr#key-{id}"))
            .unwrap()
            .contains("disabled")
    );
    assert_eq!(
        api_projects(&app, &token).await.0,
        StatusCode::UNAUTHORIZED,
        "the token of a disabled key is refused at once"
    );
    assert_exchange_refused(&app, &key).await;

    let enabled = press(&admin, PAGE, keys, &id, "enable").await;

    assert_eq!(enabled.status(), StatusCode::SEE_OTHER);
    let token = access_token(&app, &key).await;
    assert_eq!(api_projects(&app, &token).await.0, StatusCode::OK);

    let unconfirmed = admin
        .submit(PAGE, &format!("{keys}/{id}/delete"), &[])
        .await;
    assert_eq!(unconfirmed.status(), StatusCode::SEE_OTHER);
    let confirmation = location(&unconfirmed);
    assert_eq!(confirmation, format!("{keys}/{id}/delete"));
    let (status, html) = admin.get_text(&confirmation).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page_text(&html).contains("stop working at once"));
    assert_eq!(
        api_projects(&app, &token).await.0,
        StatusCode::OK,
        "nothing was deleted yet"
    );

    let deleted = admin
        .submit(&confirmation, &confirmation, &[("confirm", "yes")])
        .await;

    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.get_text(PAGE).await;
    assert!(notice(&html).contains("API key ci-deploy deleted"));
    assert!(page_text(&html).contains("No API keys yet."));
    assert_eq!(api_projects(&app, &token).await.0, StatusCode::UNAUTHORIZED);
    assert_exchange_refused(&app, &key).await;
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_events where action like 'api_key.%' order by id",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "api_key.create",
            "api_key.disable",
            "api_key.enable",
            "api_key.delete"
        ]
    );
}

#[tokio::test]
async fn another_user_can_neither_see_nor_change_a_personal_key() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let keys = "/account/api-access/keys";
    let (html, key) = create_key(&admin, PAGE, keys, "release-bot").await;
    let id = key_id(&html, "release-bot");
    let bob = app.user("bob@example.org", "Bob").await;

    let (status, html) = bob.get_text(PAGE).await;

    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("release-bot"));
    assert!(!html.contains(&id));
    for action in ["disable", "enable", "delete"] {
        let response = press(&bob, PAGE, keys, &id, action).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
    }
    assert_eq!(
        bob.get(&format!("{keys}/{id}/delete")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_nowhere(&bob, &[PAGE.to_string()], &key).await;
    access_token(&app, &key).await;
}

#[tokio::test]
async fn app_keys_are_managed_by_admins_and_reach_only_the_apps_project() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    app.project(&admin, "other", "").await;
    let member = app.user("carol@example.org", "Carol").await;
    admin
        .submit(
            "/projects/team/members",
            "/projects/team/members",
            &[("email", "carol@example.org"), ("role", "member")],
        )
        .await;
    admin
        .submit(
            "/projects/team/apps",
            "/projects/team/apps",
            &[("name", "backup")],
        )
        .await;
    let (_, apps) = admin.get_text("/projects/team/apps").await;
    let page = attrs(&apps, "table.list a[href^='/projects/team/apps/']", "href")
        .pop()
        .expect("the apps list links each app");
    let keys = format!("{page}/keys");

    let (html, key) = create_key(&admin, &page, &keys, "nightly").await;

    let id = key_id(&html, "nightly");
    let token = access_token(&app, &key).await;
    let (status, projects) = api_projects(&app, &token).await;
    assert_eq!(status, StatusCode::OK);
    let slugs: Vec<&str> = projects
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["team"], "an app's key reaches its project only");
    let (_, html) = admin.get_text(&page).await;
    let used = text(&html, &format!("tr#key-{id} td.last-used")).unwrap();
    assert!(used.contains("from 127.0.0.1"), "{used}");
    assert_nowhere(
        &admin,
        &[page.clone(), "/projects/team/apps".into(), PAGE.into()],
        &key,
    )
    .await;

    // A member sees the app, not its keys, and changes nothing.
    let (status, html) = member.get_text(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text(&html, "h1").unwrap(), "backup");
    assert!(!html.contains("nightly"));
    assert!(
        attrs(&html, "form", "action")
            .iter()
            .all(|a| a == "/logout")
    );
    let token_field = csrf_token(&html).unwrap();
    let create = member
        .post(&keys, &[("csrf_token", &token_field), ("name", "mine")])
        .await;
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    for action in ["disable", "enable", "delete"] {
        let response = member
            .post(
                &format!("{keys}/{id}/{action}"),
                &[("csrf_token", &token_field), ("confirm", "yes")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(
        member.get(&format!("{keys}/{id}/delete")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(api_projects(&app, &token).await.0, StatusCode::OK);

    // Another project's page does not reach this app's keys.
    let elsewhere = page.replace("/projects/team/", "/projects/other/");
    assert_eq!(admin.get(&elsewhere).await.status(), StatusCode::NOT_FOUND);
    let disable_elsewhere = admin
        .submit(&page, &format!("{elsewhere}/keys/{id}/disable"), &[])
        .await;
    assert_eq!(disable_elsewhere.status(), StatusCode::NOT_FOUND);

    let disabled = press(&admin, &page, &keys, &id, "disable").await;
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&disabled), page);
    assert_eq!(api_projects(&app, &token).await.0, StatusCode::UNAUTHORIZED);
    assert_exchange_refused(&app, &key).await;

    let deleted = press(&admin, &page, &keys, &id, "delete").await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.get_text(&page).await;
    assert!(notice(&html).contains("API key nightly deleted"));
    assert!(page_text(&html).contains("No API keys yet."));
    assert_exchange_refused(&app, &key).await;
    let audited: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "select action, target, project_id from audit_events where action like 'api_key.%'
         order by id",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let actions: Vec<&str> = audited.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["api_key.create", "api_key.disable", "api_key.delete"]
    );
    assert!(
        audited
            .iter()
            .all(|(_, target, project)| target == "backup / nightly" && project.is_some()),
        "in the project's log: {audited:?}"
    );
}

/// An app acts in the role the admin who made it chose (a member's, when none is chosen): a
/// viewer app's key lists the project as a viewer and may not reveal a key, an admin app's
/// reveals another member's key.
#[tokio::test]
async fn an_app_acts_in_the_role_chosen_for_it() {
    let app = TestApp::spawn().await;
    let team = crate::credentials::team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let credential: String = sqlx::query_scalar("select id from credentials where name = 'laptop'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let apps = "/projects/team/apps";
    let refused = team
        .owner
        .submit(apps, apps, &[("name", "root"), ("role", "owner")])
        .await;
    assert_eq!(
        refused.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no owner apps"
    );
    let mut answers = Vec::new();
    for (name, role) in [("reader", "viewer"), ("keeper", "admin"), ("plain", "")] {
        let response = team
            .owner
            .submit(apps, apps, &[("name", name), ("role", role)])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name}");
        let app_id: String = sqlx::query_scalar("select id from apps where name = $1")
            .bind(name)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        let page = format!("{apps}/{app_id}");
        let (_, key) = create_key(&team.owner, &page, &format!("{page}/keys"), "k").await;
        let token = access_token(&app, &key).await;
        // Whatever its role, an app changes no membership.
        let added = Client::new()
            .post(format!("{}/api/v1/projects/team/members", app.url))
            .bearer_auth(&token)
            .json(&serde_json::json!({"email": ADMIN_EMAIL, "role": "viewer"}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(added, StatusCode::FORBIDDEN, "{name}");
        let (_, projects) = api_projects(&app, &token).await;
        let reveal = Client::new()
            .post(format!(
                "{}/api/v1/projects/team/credentials/{credential}/reveal",
                app.url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        answers.push((
            name,
            projects[0]["role"].as_str().unwrap_or_default().to_string(),
            reveal,
        ));
    }
    assert_eq!(
        answers,
        vec![
            ("reader", "viewer".to_string(), StatusCode::FORBIDDEN),
            ("keeper", "admin".to_string(), StatusCode::OK),
            ("plain", "member".to_string(), StatusCode::NOT_FOUND),
        ],
        "a viewer app sees the key but may not reveal it, a member app does not see another's \
         key, an admin app reveals it"
    );
}
