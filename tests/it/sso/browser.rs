//! Single sign-on in a real headless Chromium: the sign-in page's button, the provider's form,
//! and back signed in; the sign-in page with the button passes axe-core at both widths.

use super::{
    GRACE,
    provider::{Provider, portal},
};
use crate::{
    browser::Browser,
    page_checks::{WIDTHS, axe_source, check_page, set_width},
};

#[tokio::test]
async fn browser_signs_in_with_the_provider() {
    let provider = Provider::start().await;
    let app = portal(&provider, |_| {}).await;
    app.admin().await;
    let browser = Browser::start("sso").await;
    browser
        .client
        .goto(&format!("{}/login", app.url))
        .await
        .unwrap();
    let axe = axe_source();
    let mut problems = Vec::new();
    for width in WIDTHS {
        set_width(&browser, width).await;
        problems.extend(
            check_page(
                &browser,
                &axe,
                &format!("/login at {width}"),
                &format!("sso-login-{width}"),
            )
            .await,
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");

    browser.press("a[href='/login/sso']").await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&provider.issuer),
        "the browser is at the provider"
    );
    browser.fill("login", GRACE.0).await;
    browser.fill("password", GRACE.1).await;
    browser.screenshot("provider-form").await;
    browser.press("button[type=submit]").await;
    assert_eq!(
        browser.path().await,
        "/projects",
        "signed in through the provider"
    );
    assert!(
        browser.text().await.contains("Projects"),
        "{}",
        browser.text().await
    );
    browser.screenshot("signed-in").await;
}

/// The confirmations of a departure (removing a member, disabling a user) fit a phone and pass
/// axe-core, with keys listed.
#[tokio::test]
async fn browser_departure_confirmations_fit_and_pass_axe() {
    let app = crate::helpers::TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let bob = app.user("bob@example.org", "Bob").await;
    admin
        .submit(
            "/projects/team/members",
            "/projects/team/members",
            &[("email", "bob@example.org"), ("role", "member")],
        )
        .await;
    let service = app.service(&admin, "s3", "Object storage", "").await;
    let service = service.rsplit('/').next().unwrap().to_string();
    let page = format!("/projects/team/credentials?service={service}");
    bob.submit(
        &page,
        "/projects/team/credentials",
        &[
            ("service_id", service.as_str()),
            ("name", "a rather long key name for a phone"),
        ],
    )
    .await;
    let bob_id = app.user_id("bob@example.org").await;

    let browser = Browser::start("departures").await;
    browser.sign_in(&app, crate::helpers::ADMIN_EMAIL).await;
    let axe = axe_source();
    let mut problems = Vec::new();
    for (at, button) in [
        (
            "/projects/team/members",
            format!("form[action$='/members/{bob_id}/remove'] button"),
        ),
        (
            "/admin/users",
            format!("form[action$='/users/{bob_id}/disable'] button"),
        ),
    ] {
        for width in WIDTHS {
            browser
                .client
                .goto(&format!("{}{at}", app.url))
                .await
                .unwrap();
            set_width(&browser, width).await;
            browser.press(&button).await;
            assert!(browser.text().await.contains("Keys they hold"), "{at}");
            let file = format!("departure{}-{width}", at.replace('/', "-"));
            problems.extend(
                check_page(
                    &browser,
                    &axe,
                    &format!("{at} confirmation at {width}"),
                    &file,
                )
                .await,
            );
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
