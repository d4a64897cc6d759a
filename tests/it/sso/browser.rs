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
