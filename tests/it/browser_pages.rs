//! Every page, as each role sees it, at a laptop's width (1366 px) and a phone's (390 px): no
//! horizontal scrolling, every visible button inside the screen, and no serious or critical
//! finding of axe-core (from npm, `tests/browser`). A screenshot of each page at each width goes
//! to `target/screenshots/pages/`.

use fantoccini::Locator;
use reqwest::StatusCode;

use crate::{
    browser::{Browser, screenshot_dir},
    credentials::credential_ids,
    helpers::{TestApp, Visitor, attrs, location, password_link},
    page_checks::{WIDTHS, axe_source, check_page, set_width, walk},
};

/// A long unbroken value, as a Swift account URL is: it must wrap, not widen the page.
const SWIFT_URL: &str =
    "https://swift.th-sr-1.example.org/v1/AUTH_0123456789abcdef0123456789abcdef0123456789abcdef";

/// The project every role looks at, with something on every page.
struct Team {
    app: TestApp,
    s3: String,
    openstack: String,
    api: String,
    /// The owner's first key on the S3 service, and the member's.
    owner_key: String,
    member_key: String,
    app_id: String,
    set_password: String,
    /// An endpoint of the S3 service, for its edit page.
    s3_endpoint: String,
}

async fn member(app: &TestApp, admin: &Visitor, email: &str, name: &str, role: &str) {
    app.insert_user(email, name, false).await;
    let response = admin
        .submit(
            "/projects/team/members",
            "/projects/team/members",
            &[("email", email), ("role", role)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email} joins");
}

async fn add_key(who: &Visitor, service: &str, fields: &[(&str, &str)]) -> String {
    let page = format!("/projects/team/credentials?service={service}");
    let mut all = vec![("service_id", service)];
    all.extend_from_slice(fields);
    let response = who.submit(&page, "/projects/team/credentials", &all).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{fields:?}");
    let shown = location(&response);
    let id = shown
        .split("shown=")
        .nth(1)
        .and_then(|rest| rest.split(['&', '#']).next())
        .expect("Add leads to the new key");
    id.to_string()
}

async fn team() -> Team {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    app.project(&admin, "empty", "").await;
    member(&app, &admin, "member@example.org", "Mo Member", "member").await;
    member(&app, &admin, "viewer@example.org", "Vi Viewer", "viewer").await;

    let s3 = app.service(&admin, "s3", "Object storage", "team").await;
    app.endpoint(
        &admin,
        &s3,
        [
            "Si Racha, Thailand",
            "th-sr-1",
            "public",
            "https://s3.th-sr-1.example.org",
        ],
    )
    .await;
    app.endpoint(
        &admin,
        &s3,
        [
            "Chonburi, Thailand",
            "th-cb-1",
            "public",
            "https://s3.th-cb-1.example.org",
        ],
    )
    .await;
    let openstack = app.service(&admin, "openstack", "Cloud", "team").await;
    app.endpoint(
        &admin,
        &openstack,
        [
            "Si Racha, Thailand",
            "th-sr-1",
            "auth",
            "https://keystone.th-sr-1.example.org/v3",
        ],
    )
    .await;
    app.endpoint(
        &admin,
        &openstack,
        ["Si Racha, Thailand", "th-sr-1", "public", SWIFT_URL],
    )
    .await;
    let api = app.service(&admin, "api", "Billing API", "team").await;
    let id_of = |path: &str| path.rsplit('/').next().unwrap().to_string();
    let (s3, openstack, api) = (id_of(&s3), id_of(&openstack), id_of(&api));

    let response = admin
        .submit(
            "/projects/team/apps",
            "/projects/team/apps",
            &[("name", "ci"), ("description", "the nightly pipeline")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let owners = attrs(
        &admin
            .get_text(&format!("/projects/team/credentials?service={s3}"))
            .await
            .1,
        "#owner option",
        "value",
    );
    let app_owner = owners
        .iter()
        .find(|o| o.starts_with("app:"))
        .unwrap()
        .clone();
    let app_id = app_owner["app:".len()..].to_string();

    // The owner holds the two keys the S3 service allows (so the page says so), one made up by
    // Keyport with a long description; an app key; keys of each other kind.
    let owner_key = add_key(
        &admin,
        &s3,
        &[
            ("name", "laptop"),
            ("mode", "import"),
            ("access_key", "AKIAIOSFODNN7EXAMPLE"),
            ("secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            ("expires", "2099-12-31"),
        ],
    )
    .await;
    add_key(
        &admin,
        &s3,
        &[
            ("name", "backup job with a rather long name for a phone"),
            (
                "description",
                "Copies the nightly database dump to the bucket backups-th-sr-1-0123456789abcdef",
            ),
        ],
    )
    .await;
    add_key(&admin, &s3, &[("name", "pipeline"), ("owner", &app_owner)]).await;
    add_key(&admin, &openstack, &[("name", "cli")]).await;
    add_key(&admin, &openstack, &[("name", "s3 tools"), ("kind", "ec2")]).await;
    add_key(&admin, &api, &[("name", "billing export")]).await;
    let member_visitor = app
        .sign_in("member@example.org", crate::helpers::PASSWORD)
        .await;
    let member_key = add_key(&member_visitor, &s3, &[("name", "member laptop")]).await;
    assert_eq!(
        credential_ids(
            &member_visitor
                .get_text(&format!("/projects/team/credentials?service={s3}"))
                .await
                .1
        )
        .len(),
        2,
        "the member's own key and the app key"
    );

    // A rotation policy, and a key past it, for the health page's chart and flags.
    sqlx::query(
        "update services set max_key_age_days = 30, rotation_warning_days = 7 where id = $1",
    )
    .bind(&s3)
    .execute(app.db.pool())
    .await
    .unwrap();
    sqlx::query("update credentials set rotated_at = created_at - 3456000 where id = $1")
        .bind(&owner_key)
        .execute(app.db.pool())
        .await
        .unwrap();

    // A user whose one-time link is open, for the set-password page.
    let response = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", "new@example.org"), ("name", "Nell New")],
        )
        .await;
    let set_password = password_link(&response.text().await.unwrap());

    let s3_endpoint = sqlx::query_scalar("select id from endpoints where service_id = $1 limit 1")
        .bind(&s3)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    Team {
        app,
        s3,
        openstack,
        api,
        owner_key,
        member_key,
        app_id,
        set_password,
        s3_endpoint,
    }
}

/// Pages that show themselves: HTTP 200, no error page.
fn shown(pages: Vec<(&'static str, String)>) -> Vec<(&'static str, String, u16)> {
    pages
        .into_iter()
        .map(|(name, path)| (name, path, 200))
        .collect()
}

fn owner_pages(t: &Team) -> Vec<(&'static str, String, u16)> {
    let (s3, os, api) = (&t.s3, &t.openstack, &t.api);
    let key = &t.owner_key;
    let mut pages = shown(vec![
        ("projects", "/projects".into()),
        ("project", "/projects/team".into()),
        (
            "credentials-s3",
            format!("/projects/team/credentials?service={s3}"),
        ),
        (
            "credentials-s3-configure",
            format!("/projects/team/credentials?service={s3}&configure={key}"),
        ),
        (
            "credentials-openstack",
            format!("/projects/team/credentials?service={os}"),
        ),
        (
            "credentials-api",
            format!("/projects/team/credentials?service={api}"),
        ),
        ("credentials-none", "/projects/empty/credentials".into()),
        (
            "credentials-search",
            "/projects/team/credentials?q=nothing-matches".into(),
        ),
        (
            "regenerate",
            format!("/projects/team/credentials/{key}/regenerate"),
        ),
        ("delete", format!("/projects/team/credentials/{key}/delete")),
        ("edit", format!("/projects/team/credentials/{key}/edit")),
        ("services", "/projects/team/services".into()),
        ("service-s3", format!("/projects/team/services/{s3}")),
        (
            "endpoint-edit",
            format!(
                "/projects/team/services/{s3}/endpoints/{}/edit",
                t.s3_endpoint
            ),
        ),
        ("service-openstack", format!("/projects/team/services/{os}")),
        (
            "service-backend",
            format!("/projects/team/services/{os}/backend"),
        ),
        (
            "service-delete",
            format!("/projects/team/services/{api}/delete"),
        ),
        (
            "reconcile",
            format!("/projects/team/services/{s3}/reconcile"),
        ),
        ("endpoints", "/projects/team/endpoints".into()),
        ("apps", "/projects/team/apps".into()),
        ("app", format!("/projects/team/apps/{}", t.app_id)),
        ("members", "/projects/team/members".into()),
        ("audit", "/projects/team/audit".into()),
        ("health", "/projects/team/health".into()),
        (
            "health-filtered",
            format!("/projects/team/health?flag=never-used&service={s3}&sort=key"),
        ),
        ("account", "/account".into()),
        ("api-access", "/account/api-access".into()),
        ("admin-users", "/admin/users".into()),
        ("admin-health", "/admin/health".into()),
        ("api", "/api".into()),
    ]);
    pages.push(("not-found", "/projects/team/no-such-page".into(), 404));
    pages
}

fn member_pages(t: &Team) -> Vec<(&'static str, String, u16)> {
    let s3 = &t.s3;
    let key = &t.member_key;
    shown(vec![
        ("projects", "/projects".into()),
        ("project", "/projects/team".into()),
        (
            "credentials-s3",
            format!("/projects/team/credentials?service={s3}"),
        ),
        (
            "credentials-s3-configure",
            format!("/projects/team/credentials?service={s3}&configure={key}"),
        ),
        (
            "credentials-openstack",
            format!("/projects/team/credentials?service={}", t.openstack),
        ),
        (
            "regenerate",
            format!("/projects/team/credentials/{key}/regenerate"),
        ),
        ("edit", format!("/projects/team/credentials/{key}/edit")),
        ("services", "/projects/team/services".into()),
        ("service-s3", format!("/projects/team/services/{s3}")),
        ("endpoints", "/projects/team/endpoints".into()),
        ("apps", "/projects/team/apps".into()),
        ("members", "/projects/team/members".into()),
        ("health", "/projects/team/health".into()),
        ("account", "/account".into()),
        ("api-access", "/account/api-access".into()),
    ])
}

fn viewer_pages(t: &Team) -> Vec<(&'static str, String, u16)> {
    let s3 = &t.s3;
    shown(vec![
        ("projects", "/projects".into()),
        ("project", "/projects/team".into()),
        (
            "credentials-s3",
            format!("/projects/team/credentials?service={s3}"),
        ),
        (
            "credentials-s3-configure",
            format!(
                "/projects/team/credentials?service={s3}&configure={}",
                t.member_key
            ),
        ),
        ("services", "/projects/team/services".into()),
        ("endpoints", "/projects/team/endpoints".into()),
        ("members", "/projects/team/members".into()),
        ("health", "/projects/team/health".into()),
        ("account", "/account".into()),
    ])
}

#[tokio::test]
async fn every_page_of_an_owner_fits_a_laptop_and_a_phone() {
    let t = team().await;
    let browser = Browser::start("pages-owner").await;
    browser.sign_in(&t.app, crate::helpers::ADMIN_EMAIL).await;
    walk(&browser, &t.app, "owner", &owner_pages(&t)).await;
    // The shared dialog fits a phone (the walk ends at 390 px), its buttons too.
    browser
        .client
        .goto(&format!(
            "{}/projects/team/credentials?service={}",
            t.app.url, t.s3
        ))
        .await
        .unwrap();
    browser
        .client
        .find(Locator::Css(
            "article.credential p.actions a[href$='/regenerate']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let fits = browser
        .client
        .execute(
            "const d = document.querySelector('dialog[open]'); if (!d) return 'no dialog';
             const parts = [d, ...d.querySelectorAll('button, input')].map((e) => e.getBoundingClientRect());
             return parts.every((r) => r.left >= 0 && r.right <= window.innerWidth) ? 'fits' : 'cut off';",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, "fits", "the Regenerate dialog at 390 px");
    let png = browser.client.screenshot().await.unwrap();
    std::fs::write(
        screenshot_dir().join("pages/owner-390-regenerate-dialog.png"),
        png,
    )
    .unwrap();
    // A page that answers a form: the one-time password link, at both widths.
    let axe = axe_source();
    let mut problems = Vec::new();
    for width in WIDTHS {
        set_width(&browser, width).await;
        browser
            .client
            .goto(&format!("{}/admin/users", t.app.url))
            .await
            .unwrap();
        browser
            .fill("email", &format!("link-{width}@example.org"))
            .await;
        browser.fill("name", "Lin Link").await;
        browser.press("button.primary").await;
        assert!(
            browser
                .client
                .find(Locator::Css("input#password-link"))
                .await
                .is_ok()
        );
        let at = format!("owner password link at {width} px");
        let file = format!("owner-{width}-password-link");
        problems.extend(check_page(&browser, &axe, &at, &file).await);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    browser.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn every_page_of_a_member_and_a_viewer_fits_a_laptop_and_a_phone() {
    let t = team().await;
    let browser = Browser::start("pages-member").await;
    browser.sign_in(&t.app, "member@example.org").await;
    walk(&browser, &t.app, "member", &member_pages(&t)).await;
    browser.client.clone().close().await.unwrap();

    let browser = Browser::start("pages-viewer").await;
    browser.sign_in(&t.app, "viewer@example.org").await;
    walk(&browser, &t.app, "viewer", &viewer_pages(&t)).await;
    // And the pages of someone signed out.
    browser
        .client
        .goto(&format!("{}/account", t.app.url))
        .await
        .unwrap();
    browser.press("header button.link").await;
    let signed_out = [
        ("login", "/login".to_string(), 200),
        ("set-password", t.set_password.clone(), 200),
        ("not-found", "/no-such-page".to_string(), 404),
    ];
    walk(&browser, &t.app, "signed-out", &signed_out).await;
    browser.client.clone().close().await.unwrap();
}
