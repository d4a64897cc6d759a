//! The console's main flow in a browser that runs no script, and its pages at a laptop's and a
//! phone's width checked by axe-core, with screenshots (`target/screenshots/`); a row's Delete
//! with scripts.

use crate::{
    backends::Moto,
    browser::Browser,
    browser_nojs::{click_until, fill, notice, wait_for},
    helpers::{ADMIN_EMAIL, PASSWORD, TestApp},
    page_checks::walk,
};

use super::{file_of, moto::moto_console, put_many};

#[tokio::test]
async fn the_buckets_console_works_without_javascript_at_both_widths() {
    let (moto, key) = Moto::start().await;
    let app = TestApp::spawn().await;
    let console = moto_console(&app, &moto, &key).await;
    console.create("reports-2026").await;
    put_many(&moto.url, "us-east-1", &key, "reports-2026", "monthly/", 3);

    let browser = Browser::start_without_javascript("buckets").await;
    let b = &browser;
    b.client.goto(&format!("{}/login", app.url)).await.unwrap();
    fill(b, "#email", ADMIN_EMAIL).await;
    fill(b, "#password", PASSWORD).await;
    click_until(b, "button.primary", "form[action='/logout']").await;

    // From View Credentials, by the link named Buckets.
    let credentials = format!(
        "{}/projects/team/credentials?service={}",
        app.url, console.service
    );
    b.client.goto(&credentials).await.unwrap();
    click_until(b, "a[href$='/buckets']", "form.acting").await;

    fill(b, "#name", "team-photos").await;
    click_until(b, "form[action$='/buckets'] button.primary", "p.notice").await;
    notice(b, "Bucket team-photos created").await;
    b.screenshot("01-created").await;

    click_until(b, "a[href*='/buckets/team-photos?']", "form.upload").await;
    let file = tempfile::Builder::new()
        .prefix("holiday ")
        .suffix(".jpg")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), file_of(120 * 1024)).unwrap();
    b.client
        .find(fantoccini::Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(file.path().to_str().unwrap())
        .await
        .unwrap();
    click_until(b, "form.upload button.primary", "p.notice").await;
    notice(b, "uploaded").await;
    wait_for(b, "input[name=object]").await;
    b.screenshot("02-uploaded").await;

    // Delete asks on a page of its own.
    click_until(b, "button[form=delete-one]", "input[name=confirm]").await;
    b.screenshot("03-confirm-delete").await;
    click_until(b, "button.danger", "p.notice").await;
    notice(b, "deleted").await;

    // The pages at both widths, checked by axe-core (which needs scripts to run).
    let browser = Browser::start("buckets-pages").await;
    let b = &browser;
    b.sign_in(&app, ADMIN_EMAIL).await;
    let base = format!("/projects/team/services/{}/buckets", console.service);
    let acting = format!("credential={}", console.credential);
    walk(
        b,
        &app,
        "owner",
        &[
            ("buckets", format!("{base}?{acting}"), 200),
            ("bucket", format!("{base}/reports-2026?{acting}"), 200),
            (
                "folder",
                format!("{base}/reports-2026?{acting}&prefix=monthly%2F"),
                200,
            ),
        ],
    )
    .await;

    // With scripts, a row's Delete asks its own question (the rows share one form) and deletes
    // without the confirmation page.
    b.client
        .goto(&format!(
            "{}{base}/reports-2026?{acting}&prefix=monthly%2F",
            app.url
        ))
        .await
        .unwrap();
    wait_for(b, "button[form=delete-one]").await;
    b.client
        .execute(
            "window.confirm = (q) => { sessionStorage.setItem('asked', q); return true; }",
            vec![],
        )
        .await
        .unwrap();
    click_until(b, "button[form=delete-one]", "p.notice").await;
    notice(b, "monthly/00000 deleted").await;
    let asked = b
        .client
        .execute("return sessionStorage.getItem('asked')", vec![])
        .await
        .unwrap();
    assert_eq!(asked, "Delete 00000?", "the row's own question");
}
