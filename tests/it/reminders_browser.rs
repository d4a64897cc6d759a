//! The settings page's Reminders section in a browser: at a laptop's width and a phone's it fits
//! and passes axe-core with a test message's answers and a failed delivery on it (screenshots
//! in `target/screenshots/pages/`), and the test message works without JavaScript.

use std::time::{Duration, Instant};

use fantoccini::Locator;

use crate::{
    browser::Browser,
    helpers::{ADMIN_EMAIL, PASSWORD, TestApp},
    page_checks::{WIDTHS, axe_source, check_page, set_width},
    reminders::{Certificates, Receiver, Smtp, arrange, configure, run, settings},
};

async fn wait_for(b: &Browser, css: &str) {
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

async fn send_test_message(b: &Browser, app: &TestApp) {
    b.client
        .goto(&format!("{}/admin/settings", app.url))
        .await
        .unwrap();
    b.client
        .find(Locator::Css("#reminders-test button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(b, ".test-answers p.notice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reminders_section_fits_a_laptop_and_a_phone_and_works_without_javascript() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = Certificates::make(dir.path());
    let smtp = Smtp::start(Some(&certificates)).await;
    let receiver = Receiver::start().await;
    let app =
        TestApp::spawn_with(|config| configure(config, &smtp, &certificates, &receiver)).await;
    arrange(&app).await;
    // Messages in the list: sent ones, and one whose webhook failed and waits.
    let plain = Smtp::start(None).await;
    receiver.fail_next(1);
    let said = run(app.test_db(), &settings(&plain, &receiver)).await;
    assert!(said.contains("5 messages delivered, 1 failed"), "{said}");

    let browser = Browser::start("reminders").await;
    browser.sign_in(&app, ADMIN_EMAIL).await;
    let axe = axe_source();
    let mut problems = Vec::new();
    for width in WIDTHS {
        set_width(&browser, width).await;
        send_test_message(&browser, &app).await;
        let at = format!("admin settings, reminders, at {width} px");
        let file = format!("admin-{width}-settings-reminders");
        problems.extend(check_page(&browser, &axe, &at, &file).await);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    browser.client.clone().close().await.unwrap();

    let browser = Browser::start_without_javascript("reminders-nojs").await;
    let b = &browser;
    b.client.goto(&format!("{}/login", app.url)).await.unwrap();
    for (id, value) in [("email", ADMIN_EMAIL), ("password", PASSWORD)] {
        let field = b.client.find(Locator::Id(id)).await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    b.client
        .find(Locator::Css("button.primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(b, "form[action='/logout']").await;
    send_test_message(b, &app).await;
    let said = b.text().await;
    assert!(
        said.contains("Email to ada@example.org: delivered."),
        "{said}"
    );
    browser.client.clone().close().await.unwrap();
    // Two test messages from the browser with scripts, one without.
    assert_eq!(smtp.messages().len(), 3);
}
