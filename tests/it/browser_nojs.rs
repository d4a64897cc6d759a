//! The main flows in a browser that runs no script: every destructive action asks on a page of
//! its own, Show and Add show the secret once after a redirect, and nothing needs a script.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use reqwest::StatusCode;

use crate::{
    browser::Browser,
    helpers::{ADMIN_EMAIL, PASSWORD, TestApp},
};

/// Clicks `css` and waits (at most 30 s) until the page holds an element matching `until`.
pub async fn click_until(b: &Browser, css: &str, until: &str) {
    let at = b.client.current_url().await.unwrap();
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on {at}"))
        .click()
        .await
        .unwrap();
    wait_for(b, until).await;
}

pub async fn wait_for(b: &Browser, css: &str) {
    let started = Instant::now();
    while b.client.find(Locator::Css(css)).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{css} never appeared; the page says: {}",
            b.text().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the notice says `words`.
pub async fn notice(b: &Browser, words: &str) {
    wait_for(b, "p.notice").await;
    let started = Instant::now();
    loop {
        let said = b
            .client
            .find(Locator::Css("p.notice"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if said.contains(words) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the notice says {said:?}, not {words:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn fill(b: &Browser, css: &str, value: &str) {
    let field = b.client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn count(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_events where action = $1")
        .bind(action)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_main_flows_work_without_javascript() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    app.insert_user("member@example.org", "Mo Member", false)
        .await;
    let response = admin
        .submit(
            "/projects/team/members",
            "/projects/team/members",
            &[("email", "member@example.org"), ("role", "member")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let service = app.service(&admin, "s3", "Object storage", "team").await;
    app.endpoint(
        &admin,
        &service,
        [
            "Si Racha, Thailand",
            "th-sr-1",
            "public",
            "https://s3.th-sr-1.example.org",
        ],
    )
    .await;
    let response = admin
        .submit(
            "/projects/team/apps",
            "/projects/team/apps",
            &[("name", "ci")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let service_id = service.rsplit('/').next().unwrap().to_string();

    let browser = Browser::start_without_javascript("nojs").await;
    let b = &browser;
    b.client.goto(&format!("{}/login", app.url)).await.unwrap();
    fill(b, "#email", ADMIN_EMAIL).await;
    fill(b, "#password", PASSWORD).await;
    click_until(b, "button.primary", "form[action='/logout']").await;
    let page = format!("{}/projects/team/credentials?service={service_id}", app.url);
    b.client.goto(&page).await.unwrap();
    wait_for(b, "details#add").await;

    // Add: the provider's key is recorded and shown once.
    click_until(b, "details#add > summary", "details#add[open]").await;
    fill(b, "#name", "laptop").await;
    fill(b, "#access_key", "AKIAIOSFODNN7EXAMPLE").await;
    fill(b, "#secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").await;
    click_until(b, "details#add button[type=submit]", "input[id^=secret-]").await;
    notice(b, "laptop recorded").await;
    b.screenshot("01-added-shown-once").await;
    for copy in b
        .client
        .find_all(Locator::Css("button[data-copy]"))
        .await
        .unwrap()
    {
        assert!(
            !copy.is_displayed().await.unwrap(),
            "no Copy button that would do nothing"
        );
    }
    b.client.refresh().await.unwrap();
    wait_for(b, "article.credential").await;
    assert!(
        b.client
            .find(Locator::Css("input[id^=secret-]"))
            .await
            .is_err(),
        "hidden on reload"
    );
    assert_eq!(count(&app, "credential.reveal").await, 1);

    // Show: the secret once, the reveal audited once, reload and Back ask nothing.
    click_until(b, "button[formaction$='/reveal']", "input[id^=secret-]").await;
    assert_eq!(count(&app, "credential.reveal").await, 2);
    b.client.refresh().await.unwrap();
    wait_for(b, "article.credential").await;
    assert!(
        b.client
            .find(Locator::Css("input[id^=secret-]"))
            .await
            .is_err()
    );
    assert_eq!(
        count(&app, "credential.reveal").await,
        2,
        "a reload reveals nothing"
    );

    // Regenerate asks on a page, with the field for the provider's new key.
    click_until(
        b,
        "p.actions a[href$='/regenerate']",
        "form input[name=confirm]",
    )
    .await;
    assert!(b.text().await.contains("No provider is called"));
    fill(b, "#secret", "the-new-secret-from-the-provider").await;
    click_until(b, "button.danger", "article.credential").await;
    notice(b, "laptop now holds the new key you entered").await;

    // Delete asks on a page.
    click_until(
        b,
        "p.actions a[href$='/delete']",
        "form input[name=confirm]",
    )
    .await;
    b.screenshot("02-delete-confirmation").await;
    click_until(b, "button.danger", "p.notice").await;
    notice(b, "laptop was deleted from Keyport").await;
    assert_eq!(count(&app, "credential.delete").await, 1);

    // Removing an endpoint, a member, an app and disabling a user each ask on a page first.
    let member_id = app.user_id("member@example.org").await;
    let remove_member = format!("form[action$='/members/{member_id}/remove'] button");
    let disable_member = format!("form[action$='/users/{member_id}/disable'] button");
    let asks = [
        (
            format!("{}{service}", app.url),
            "form[action*='/endpoints/'] button.danger",
            "endpoint http",
            "Endpoint removed.",
            "endpoint.delete",
        ),
        (
            format!("{}/projects/team/members", app.url),
            remove_member.as_str(),
            "<member@example.org> from Project team?",
            "was removed from the project.",
            "member.remove",
        ),
        (
            format!("{}/projects/team/apps", app.url),
            "form[action$='/delete'] button",
            "Delete the app ci?",
            "App ci deleted.",
            "app.delete",
        ),
        (
            format!("{}/admin/users", app.url),
            disable_member.as_str(),
            "<member@example.org>?",
            "is disabled",
            "user.disable",
        ),
    ];
    for (at, button, question, done, action) in asks {
        b.client.goto(&at).await.unwrap();
        let before = audit_actions(&app).await;
        click_until(b, button, "form input[name=confirm]").await;
        let text = b.text().await;
        assert!(text.contains(question), "{question}: {text}");
        assert_eq!(
            audit_actions(&app).await,
            before,
            "{action}: the button that asks changed nothing yet"
        );
        click_until(b, "main form button.danger", "p.notice").await;
        notice(b, done).await;
        let after = audit_actions(&app).await;
        assert_eq!(
            after[before.len()..],
            [action.to_string()],
            "confirming did the one thing asked: {after:?}"
        );
    }
    b.screenshot("03-after-confirmations").await;
    browser.client.clone().close().await.unwrap();
}

/// Every audit event's action, oldest first.
async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select action from audit_events order by id")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}
