//! Two-factor sign-in in a real headless Chromium: enrol from the QR page, sign out, sign in
//! with a code computed by `oathtool`, a reused code refused, a recovery code, turning it off.
//! Screenshots go to `target/screenshots/two-factor-*.png`.

use fantoccini::Locator;
use reqwest::StatusCode;

use crate::{
    browser::Browser,
    helpers::{PASSWORD, TestApp, complete_setup},
    two_factor::{code, current_step, oathtool, password, visitor_of_its_own},
};

const BOB: &str = "bob@example.org";

impl Browser {
    async fn sign_in_with_password(&self, app: &TestApp) {
        self.client
            .goto(&format!("{}/login", app.url))
            .await
            .unwrap();
        self.fill("email", BOB).await;
        self.fill("password", PASSWORD).await;
        self.press("button.primary").await;
    }

    async fn value(&self, id: &str) -> String {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|_| panic!("#{id}"))
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// A new browser session: no cookie, as after closing the browser.
    async fn forget_cookies(&self) {
        self.client.delete_all_cookies().await.unwrap();
    }
}

#[tokio::test]
async fn enrol_then_sign_in_with_a_code_in_the_browser() {
    let app = TestApp::spawn().await;
    // Setup from an address of its own: the browser's address posts as many password forms as
    // the throttle allows.
    complete_setup(&visitor_of_its_own(&app)).await;
    app.insert_user(BOB, "Bob Builder", false).await;
    let browser = Browser::start("two-factor").await;
    let b = &browser;

    // Enrol: the QR code shows, the key is there as text, the first code turns it on.
    b.sign_in_with_password(&app).await;
    assert_eq!(b.path().await, "/projects");
    b.client
        .goto(&format!("{}/account", app.url))
        .await
        .unwrap();
    b.client
        .find(Locator::LinkText("Set up two-factor sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.press("button.primary").await;
    assert_eq!(b.path().await, "/account/two-factor");
    let drawn = b
        .client
        .execute(
            "const img = document.getElementById('totp-qr'); return img.complete && img.naturalWidth > 0;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(drawn, serde_json::Value::Bool(true), "the QR code is drawn");
    b.screenshot("01-enrol").await;
    let secret = b.value("totp-secret").await;
    let enrolled = current_step();
    b.fill("code", &oathtool(&secret, enrolled)).await;
    b.press("button.primary").await;
    let text = b.text().await;
    assert!(text.contains("Two-factor sign-in is on"), "{text}");
    let recovery: Vec<String> = {
        let mut codes = Vec::new();
        for item in b
            .client
            .find_all(Locator::Css("ul.recovery-codes li"))
            .await
            .unwrap()
        {
            codes.push(item.text().await.unwrap());
        }
        codes
    };
    assert_eq!(recovery.len(), 10);
    b.screenshot("02-recovery-codes").await;

    // Sign out; the password leads to the code step, the next code signs in.
    b.press("header button.link").await;
    assert_eq!(b.path().await, "/login");
    b.sign_in_with_password(&app).await;
    assert_eq!(b.path().await, "/login/code");
    b.screenshot("03-code-step").await;
    let next = oathtool(&secret, enrolled + 1);
    b.fill("code", &next).await;
    b.press("button.primary").await;
    assert_eq!(b.path().await, "/projects");

    // The same code again is refused.
    b.forget_cookies().await;
    b.sign_in_with_password(&app).await;
    assert_eq!(b.path().await, "/login/code");
    b.fill("code", &next).await;
    b.press("button.primary").await;
    assert_eq!(b.path().await, "/login/code");
    assert!(b.text().await.contains("already used"));
    b.screenshot("04-code-reused").await;

    // A recovery code signs in, once.
    b.fill("code", &recovery[0]).await;
    b.press("button.primary").await;
    assert_eq!(b.path().await, "/projects");
    let (elsewhere, _) = password(&app, BOB).await;
    let response = code(&elsewhere, &recovery[0]).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );

    // Off, with the password; the password alone signs in again.
    b.client
        .goto(&format!("{}/account", app.url))
        .await
        .unwrap();
    assert!(b.text().await.contains("9 of your recovery codes are left"));
    b.fill("disable_password", PASSWORD).await;
    b.press("button.danger").await;
    assert!(b.text().await.contains("Two-factor sign-in is off"));
    b.screenshot("05-off").await;
    let (_, to) = password(&app, BOB).await;
    assert_eq!(to, "/projects");
}
