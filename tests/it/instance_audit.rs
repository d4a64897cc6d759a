//! The instance audit log at `/admin/audit`: accounts, sign-ins, settings, personal API keys and
//! refresh-token reuse, for instance admins only; and an instance admin's action on a member
//! written to the member's projects' logs too.

use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, TestApp, Visitor, create_project, csrf_token, location, texts,
};

/// The actions listed on an audit page, top (newest) first.
fn actions(html: &str) -> Vec<String> {
    texts(html, "table.audit tbody td:nth-child(3)")
}

/// The rows of an audit page as "action target actor".
fn rows(html: &str) -> Vec<String> {
    texts(html, "table.audit tbody tr")
}

/// The admin creates the user `email` on `/admin/users`; returns their id.
async fn create_user(app: &TestApp, admin: &Visitor, email: &str) -> String {
    let response = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", email), ("name", "Bob Builder")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{email} is created");
    app.user_id(email).await
}

/// An admin's action on a user, confirmed (disabling asks first).
async fn admin_post(admin: &Visitor, action: &str) -> reqwest::Response {
    admin
        .submit("/admin/users", action, &[("confirm", "yes")])
        .await
}

#[tokio::test]
async fn each_kind_of_instance_event_is_listed_and_filtered() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    // Accounts.
    let bob = create_user(&app, &admin, "bob@example.org").await;
    for change in [
        "password-link",
        "disable",
        "enable",
        "make-admin",
        "revoke-admin",
    ] {
        let response = admin_post(&admin, &format!("/admin/users/{bob}/{change}")).await;
        assert!(
            response.status().is_success() || response.status().is_redirection(),
            "{change}: {}",
            response.status()
        );
    }

    // A setting.
    let response = admin
        .submit(
            "/admin/settings",
            "/admin/settings/two-factor",
            &[("policy", "admins")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // A personal API key, and a refresh token presented twice.
    let response = admin
        .submit(
            "/account/api-access",
            "/account/api-access/keys",
            &[("name", "ci"), ("description", ""), ("expires", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let html = response.text().await.unwrap();
    let key = crate::helpers::raw_text(&html, "textarea#new-api-key").unwrap();
    let token_url = format!("{}/identity/token", app.url);
    let answer: Value = Client::new()
        .post(&token_url)
        .form(&[("grant_type", "apikey"), ("apikey", key.trim())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = answer["refresh_token"].as_str().unwrap().to_string();
    for expected in [StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let status = Client::new()
            .post(&token_url)
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, expected);
    }

    // A wrong password, then so many that the throttle answers.
    let stranger = app.visitor();
    let response = stranger
        .submit(
            "/login",
            "/login",
            &[
                ("email", "bob@example.org"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let token = csrf_token(&stranger.get_text("/login").await.1).unwrap();
    let mut throttled = false;
    for _ in 0..30 {
        let response = stranger
            .post(
                "/login",
                &[
                    ("csrf_token", token.as_str()),
                    ("email", "bob@example.org"),
                    ("password", "still wrong"),
                ],
            )
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "the sign-in throttle answered 429");
    for _ in 0..5 {
        let response = stranger
            .post(
                "/login",
                &[
                    ("csrf_token", token.as_str()),
                    ("email", "x@example.org"),
                    ("password", "x"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let recorded: i64 =
        sqlx::query_scalar("select count(*) from audit_events where action = 'sign_in.throttled'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(
        recorded, 1,
        "one record a minute per address, however many refusals"
    );

    // Project events, the newest of all: a member added, a service, a key added and shown.
    create_project(&admin, "team", "").await;
    app.insert_user("mia@example.org", "Mia Member", false)
        .await;
    let response = admin
        .submit(
            "/projects/team/members",
            "/projects/team/members",
            &[("email", "mia@example.org"), ("role", "member")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "mia joins");
    let service = app.service(&admin, "s3", "Object storage", "team").await;
    let service_id = service.rsplit('/').next().unwrap();
    let page = format!("/projects/team/credentials?service={service_id}");
    let response = admin
        .submit(
            &page,
            "/projects/team/credentials",
            &[("service_id", service_id), ("name", "laptop")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "a key is added");
    let key: String = sqlx::query_scalar("select id from credentials")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let response = admin
        .submit(
            &page,
            &format!("/projects/team/credentials/{key}/reveal"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the key is shown");
    let (status, html) = admin.get_text(&location(&response)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        crate::credentials::revealed_secret(&html, &key).is_some(),
        "the page shows the secret"
    );
    let project_events = [
        "member.add",
        "service.create",
        "credential.create",
        "credential.reveal",
    ];
    let (status, html) = admin.get_text("/projects/team/audit").await;
    assert_eq!(status, StatusCode::OK);
    let in_project = actions(&html);
    for action in project_events {
        assert!(
            in_project.contains(&action.to_string()),
            "{action} is in the project's log: {in_project:?}"
        );
    }

    let (status, html) = admin.get_text("/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    let listed = actions(&html);
    for action in [
        "user.create",
        "user.password_link",
        "user.disable",
        "user.enable",
        "user.promote",
        "user.demote",
        "settings.change",
        "api_key.create",
        "token.refresh_reused",
        "sign_in.failed",
        "sign_in.throttled",
    ] {
        assert!(
            listed.contains(&action.to_string()),
            "{action} in {listed:?}"
        );
    }
    let failed = rows(&html)
        .into_iter()
        .find(|r| r.contains("sign_in.failed"))
        .unwrap();
    assert!(failed.contains("bob@example.org"), "{failed}");
    let disabled = rows(&html)
        .into_iter()
        .find(|r| r.contains("user.disable"))
        .unwrap();
    assert!(
        disabled.contains(ADMIN_EMAIL) && disabled.contains("bob@example.org"),
        "who disabled whom: {disabled}"
    );
    assert!(
        html.contains("href=\"/admin/audit\""),
        "the admin navigation links the log"
    );

    // Filters: by action, by actor, by day.
    let html = admin.get_text("/admin/audit?action=user.disable").await.1;
    assert_eq!(actions(&html), vec!["user.disable"]);
    let html = admin.get_text("/admin/audit?actor=anonymous").await.1;
    let by_anonymous = actions(&html);
    assert!(!by_anonymous.is_empty());
    assert!(
        by_anonymous.iter().all(|a| a.starts_with("sign_in.")),
        "{by_anonymous:?}"
    );
    let today = time::OffsetDateTime::now_utc().date();
    let day = |d: time::Date| {
        d.format(time::macros::format_description!("[year]-[month]-[day]"))
            .unwrap()
    };
    let html = admin
        .get_text(&format!(
            "/admin/audit?from={}&to={}",
            day(today),
            day(today)
        ))
        .await
        .1;
    assert!(actions(&html).len() >= 11);
    let tomorrow = today.next_day().unwrap();
    let html = admin
        .get_text(&format!("/admin/audit?from={}", day(tomorrow)))
        .await
        .1;
    assert!(actions(&html).is_empty(), "nothing recorded tomorrow yet");
    let yesterday = today.previous_day().unwrap();
    let html = admin
        .get_text(&format!("/admin/audit?to={}", day(yesterday)))
        .await
        .1;
    assert!(actions(&html).is_empty(), "nothing recorded before today");
    let (status, html) = admin.get_text("/admin/audit?from=someday").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Enter days such as"));

    // Project events stay in their projects: not on the instance log's newest page, not found
    // by its filter.
    for action in project_events {
        assert!(
            !listed.contains(&action.to_string()),
            "{action} is not in the instance log: {listed:?}"
        );
        let html = admin
            .get_text(&format!("/admin/audit?action={action}"))
            .await
            .1;
        assert!(actions(&html).is_empty(), "{action}: {:?}", rows(&html));
    }
}

#[tokio::test]
async fn the_instance_log_is_paged() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // 60 settings changes: more than a page.
    let token = csrf_token(&admin.get_text("/admin/settings").await.1).unwrap();
    for i in 0..60 {
        let policy = if i % 2 == 0 { "admins" } else { "optional" };
        let response = admin
            .post(
                "/admin/settings/two-factor",
                &[("csrf_token", token.as_str()), ("policy", policy)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let html = admin
        .get_text("/admin/audit?action=settings.change")
        .await
        .1;
    assert_eq!(actions(&html).len(), 50);
    let older = crate::helpers::hrefs(&html)
        .into_iter()
        .find(|h| h.starts_with("/admin/audit?") && h.contains("before="))
        .expect("a link to older events");
    let older = older.replace("&amp;", "&");
    let html = admin.get_text(&older).await.1;
    assert_eq!(actions(&html).len(), 10);
}

#[tokio::test]
async fn only_instance_admins_read_the_log_and_change_settings() {
    let app = TestApp::spawn().await;
    let _admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    assert_eq!(
        bob.get("/admin/audit").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        bob.get("/admin/settings").await.status(),
        StatusCode::FORBIDDEN
    );
    let token = csrf_token(&bob.get_text("/projects").await.1).unwrap();
    let response = bob
        .post(
            "/admin/settings/two-factor",
            &[("csrf_token", token.as_str()), ("policy", "optional")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = bob.get_text("/projects").await.1;
    assert!(!html.contains("/admin/audit"), "no link for non-admins");

    let anonymous = app.visitor();
    let response = anonymous.get("/admin/audit").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
}

#[tokio::test]
async fn an_admins_action_on_a_member_is_in_the_members_projects_logs() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.insert_user("olga@example.org", "Olga Owner", false)
        .await;
    app.insert_user("mia@example.org", "Mia Member", false)
        .await;
    create_project(&admin, "team", "olga@example.org").await;
    let olga = app.sign_in("olga@example.org", PASSWORD).await;
    olga.submit(
        "/projects/team/members",
        "/projects/team/members",
        &[("email", "mia@example.org"), ("role", "member")],
    )
    .await;
    // The admin is no member of "team".
    assert_eq!(
        admin.get("/projects/team/audit").await.status(),
        StatusCode::NOT_FOUND
    );
    let olga_id = app.user_id("olga@example.org").await;
    let mia_id = app.user_id("mia@example.org").await;
    let response = admin_post(&admin, &format!("/admin/users/{olga_id}/password-link")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = admin_post(&admin, &format!("/admin/users/{mia_id}/disable")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let (status, html) = olga.get_text("/projects/team/audit").await;
    assert_eq!(status, StatusCode::OK);
    let rows = rows(&html);
    let link = rows
        .iter()
        .find(|r| r.contains("user.password_link"))
        .unwrap_or_else(|| panic!("the link is in the project's log: {rows:?}"));
    assert!(
        link.contains(ADMIN_EMAIL) && link.contains("olga@example.org"),
        "{link}"
    );
    assert!(link.contains("by an instance administrator"), "{link}");
    let disabled = rows
        .iter()
        .find(|r| r.contains("user.disable"))
        .unwrap_or_else(|| panic!("the disabling is in the project's log: {rows:?}"));
    assert!(disabled.contains("mia@example.org"), "{disabled}");
}
