//! Every page, as each role sees it, at a laptop's width (1366 px) and a phone's (390 px): no
//! horizontal scrolling, every visible button inside the screen, and no serious or critical
//! finding of axe-core (from npm, `tests/browser`). A screenshot of each page at each width goes
//! to `target/screenshots/pages/`.

use std::path::PathBuf;

use fantoccini::Locator;
use reqwest::StatusCode;

use crate::{
    browser::{Browser, screenshot_dir},
    credentials::credential_ids,
    helpers::{TestApp, Visitor, attrs, location, password_link},
};

const WIDTHS: [u32; 2] = [1366, 390];

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

    // A user whose one-time link is open, for the set-password page.
    let response = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", "new@example.org"), ("name", "Nell New")],
        )
        .await;
    let set_password = password_link(&response.text().await.unwrap());

    Team {
        app,
        s3,
        openstack,
        api,
        owner_key,
        member_key,
        app_id,
        set_password,
    }
}

/// What a page's layout does at the current width: the width of the document and of the
/// window, the widest elements past the window's edge, and the visible buttons outside it.
const LAYOUT: &str = r##"
const width = window.innerWidth;
const outside = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && (r.left < -0.5 || r.right > width + 0.5); };
const visible = (e) => { const s = getComputedStyle(e); return s.visibility !== "hidden" && s.display !== "none" && !e.closest("dialog:not([open]), [hidden]"); };
const describe = (e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}.${e.className} ${e.textContent.trim().slice(0, 40)} (${Math.round(e.getBoundingClientRect().left)}..${Math.round(e.getBoundingClientRect().right)})`;
const wide = document.documentElement.scrollWidth > width
  ? [...document.body.querySelectorAll("*")].filter(outside).slice(-5).map(describe) : [];
const buttons = [...document.querySelectorAll("button, a.button, input[type=submit]")]
  .filter((b) => visible(b) && outside(b)).map(describe);
return { scrollWidth: document.documentElement.scrollWidth, innerWidth: width, wide, buttons };
"##;

/// Runs axe-core on the page; answers its serious and critical findings, one line each.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] }).then(
  (r) => done(r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`)),
  (e) => done([`axe failed: ${e}`]));
"#;

fn axe_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is installed by scripts/install-test-deps.sh ({}): {e}",
            path.display()
        )
    })
}

/// Makes the page `width` px wide (the window's frame, if any, taken off).
async fn set_width(browser: &Browser, width: u32) {
    browser.client.set_window_size(width, 900).await.unwrap();
    let inner = browser
        .client
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap() as u32;
    if inner != width {
        browser
            .client
            .set_window_size(2 * width - inner, 900)
            .await
            .unwrap();
    }
}

/// Checks the page the browser shows, `at` naming it; saves its screenshot as `file`. Returns
/// what is wrong with it.
async fn check_page(browser: &Browser, axe: &str, at: &str, file: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let layout = browser.client.execute(LAYOUT, vec![]).await.unwrap();
    if layout["scrollWidth"].as_u64() > layout["innerWidth"].as_u64() {
        problems.push(format!(
            "{at}: {} px wide in a window of {}; past the edge: {}",
            layout["scrollWidth"], layout["innerWidth"], layout["wide"]
        ));
    }
    if layout["buttons"].as_array().is_some_and(|b| !b.is_empty()) {
        problems.push(format!("{at}: buttons off-screen: {}", layout["buttons"]));
    }
    browser
        .client
        .execute(&format!("{axe}\nreturn true;"), vec![])
        .await
        .unwrap();
    let found = browser.client.execute_async(AXE_RUN, vec![]).await.unwrap();
    for finding in found.as_array().into_iter().flatten() {
        problems.push(format!("{at}: axe: {}", finding.as_str().unwrap_or("?")));
    }
    let dir = screenshot_dir().join("pages");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{file}.png")), png).unwrap();
    problems
}

/// Looks at every page of `pages` (name, path) at both widths; fails with all that is wrong.
async fn walk(browser: &Browser, app: &TestApp, role: &str, pages: &[(&str, String)]) {
    let axe = axe_source();
    let mut problems = Vec::new();
    for width in WIDTHS {
        set_width(browser, width).await;
        for (name, path) in pages {
            browser
                .client
                .goto(&format!("{}{path}", app.url))
                .await
                .unwrap();
            let at = format!("{role} {name} ({path}) at {width} px");
            let file = format!("{role}-{width}-{name}");
            problems.extend(check_page(browser, &axe, &at, &file).await);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn owner_pages(t: &Team) -> Vec<(&'static str, String)> {
    let (s3, os, api) = (&t.s3, &t.openstack, &t.api);
    let key = &t.owner_key;
    vec![
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
        ("account", "/account".into()),
        ("api-access", "/account/api-access".into()),
        ("admin-users", "/admin/users".into()),
        ("api", "/api".into()),
        ("not-found", "/projects/team/no-such-page".into()),
    ]
}

fn member_pages(t: &Team) -> Vec<(&'static str, String)> {
    let s3 = &t.s3;
    let key = &t.member_key;
    vec![
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
        ("account", "/account".into()),
        ("api-access", "/account/api-access".into()),
    ]
}

fn viewer_pages(t: &Team) -> Vec<(&'static str, String)> {
    let s3 = &t.s3;
    vec![
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
        ("account", "/account".into()),
    ]
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
        ("login", "/login".to_string()),
        ("set-password", t.set_password.clone()),
        ("not-found", "/no-such-page".to_string()),
    ];
    walk(&browser, &t.app, "signed-out", &signed_out).await;
    browser.client.clone().close().await.unwrap();
}
