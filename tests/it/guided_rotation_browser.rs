//! A guided rotation in headless Chromium against moto's IAM: each step's page at 1366 and
//! 390 px, checked (no horizontal scrolling, buttons inside the window, axe-core clean) and
//! saved as a screenshot (`target/screenshots/pages/rotation-WIDTH-STEP.png`), and the Regenerate
//! dialog offering the guided rotation.

use fantoccini::Locator;

use crate::{
    backends::Moto,
    browser::Browser,
    driven::{aws_s3_ls, iam_portal, works},
    helpers::ADMIN_EMAIL,
    page_checks::{WIDTHS, axe_source, check_page, set_width},
};

/// Checks the page at `path` at both widths and saves it as `rotation-WIDTH-name`; collects
/// what is wrong into `problems`. Leaves the window 1366 px wide.
async fn shoot(b: &Browser, base: &str, path: &str, name: &str, problems: &mut Vec<String>) {
    let axe = axe_source();
    for width in WIDTHS {
        set_width(b, width).await;
        b.client.goto(&format!("{base}{path}")).await.unwrap();
        let at = format!("{name} ({path}) at {width} px");
        problems.extend(check_page(b, &axe, &at, &format!("rotation-{width}-{name}")).await);
    }
    // The whole page at the laptop's width, for the README.
    set_width(b, WIDTHS[0]).await;
    b.client.set_window_size(WIDTHS[0], 1500).await.unwrap();
    b.client.goto(&format!("{base}{path}")).await.unwrap();
    b.screenshot(name).await;
    set_width(b, WIDTHS[0]).await;
}

#[tokio::test]
async fn guided_rotation_steps_in_the_browser_at_both_widths() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;
    portal.add("backup job", "key").await;
    let old = portal.key("backup job").await;
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &old)),
        "used once, for the evidence"
    );
    let (old_id, _) = portal.credential("backup job").await.unwrap();
    let base = portal.app.url.clone();
    let rotation = format!("/projects/team/credentials/{old_id}/rotation");
    let mut problems = Vec::new();

    let browser = Browser::start("rotation").await;
    let b = &browser;
    b.sign_in(&portal.app, ADMIN_EMAIL).await;

    // View Credentials: the key offers the guided rotation, and so does Regenerate's dialog.
    b.client
        .goto(&format!("{base}{}", portal.page))
        .await
        .unwrap();
    b.client
        .find(Locator::Css(&format!(
            "a[href='credentials/{old_id}/regenerate']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let offered = b
        .client
        .find(Locator::Css("#regenerate-dialog a[data-rotation-link]"))
        .await
        .unwrap();
    let href = offered.attr("href").await.unwrap().unwrap_or_default();
    assert!(href.ends_with(&rotation), "{href}");
    b.screenshot("00-regenerate-dialog").await;
    offered.click().await.unwrap();
    assert_eq!(
        b.path().await,
        rotation,
        "the dialog leads to the guided rotation"
    );

    // Step 1, before and after.
    shoot(b, &base, &rotation, "1-start", &mut problems).await;
    b.press("form[action$='/rotation'] button.primary").await;
    assert!(b.text().await.contains("Step 1 done"), "{}", b.text().await);

    // Step 2: both keys; the new one used once with the AWS CLI, so IAM has evidence for both.
    let new = {
        let (_, new_id): (String, String) =
            sqlx::query_as("select step, new_credential_id from rotations")
                .fetch_one(portal.app.db.pool())
                .await
                .unwrap();
        crate::backends::S3Key {
            access_key: portal.credential("backup job (new)").await.unwrap().1,
            secret: crate::driven::reveal(&portal.admin, &portal.page, &new_id).await,
        }
    };
    assert!(works(&aws_s3_ls(&moto.url, "us-east-1", &new)));
    shoot(b, &base, &rotation, "2-both-keys", &mut problems).await;
    let text = b.text().await;
    assert!(
        text.contains("by s3 in us-east-1") && text.contains("Deactivate anyway"),
        "{text}"
    );

    // Step 3: deactivated at IAM.
    b.press("form[action$='/deactivate'] button").await;
    assert!(b.text().await.contains("deactivated at IAM"));
    shoot(b, &base, &rotation, "3-old-inactive", &mut problems).await;
    assert!(!works(&aws_s3_ls(&moto.url, "us-east-1", &old)));

    // Step 4: the old key deleted; View Credentials shows the second key under the name.
    b.press("form[action$='/delete-old'] button").await;
    assert!(b.text().await.contains("Rotation finished"));
    b.screenshot("04-finished").await;
    shoot(b, &base, &portal.page, "4-finished", &mut problems).await;
    assert!(!b.text().await.contains("backup job (new)"));

    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
