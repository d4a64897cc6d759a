//! What the browser tests check on a page: that it is the page asked for (no redirect, no error
//! page unless expected); at the current width, no horizontal scrolling and every visible button
//! inside the window; axe-core (from npm, `tests/browser`) finds nothing
//! serious or critical. Each page checked leaves a screenshot in `target/screenshots/pages/`.

use std::path::PathBuf;

use crate::{
    browser::{Browser, screenshot_dir},
    helpers::TestApp,
};

/// A laptop's width and a phone's.
pub const WIDTHS: [u32; 2] = [1366, 390];

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

pub fn axe_source() -> String {
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
pub async fn set_width(browser: &Browser, width: u32) {
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
pub async fn check_page(browser: &Browser, axe: &str, at: &str, file: &str) -> Vec<String> {
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

/// What the browser landed on: its address, the HTTP status of the page's own answer, the
/// page's title, and the status its error page (if it is one) names.
const LANDED: &str = r#"
const navigation = performance.getEntriesByType("navigation")[0];
const error = document.querySelector("main p.status-code");
return {
  url: location.href,
  status: navigation ? navigation.responseStatus : null,
  title: document.title,
  error: error ? error.textContent.trim() : null,
};
"#;

/// Checks that the browser, sent to `url`, stayed there (no redirect, to `/login` or elsewhere)
/// and shows what the walk expects there: the page itself for `status` 200, else the error page
/// of that status. Returns what is wrong.
pub async fn check_landing(browser: &Browser, at: &str, url: &str, status: u16) -> Vec<String> {
    let landed = browser.client.execute(LANDED, vec![]).await.unwrap();
    let mut problems = Vec::new();
    if landed["url"].as_str() != Some(url) {
        problems.push(format!("{at}: the browser landed on {}", landed["url"]));
    }
    if landed["status"].as_u64() != Some(u64::from(status)) {
        problems.push(format!(
            "{at}: answered HTTP {}, not {status} (title {})",
            landed["status"], landed["title"]
        ));
    }
    let error = landed["error"].as_str();
    let expected = (status != 200).then(|| format!("Error {status}"));
    if error != expected.as_deref() {
        problems.push(format!(
            "{at}: the error page says {error:?}, expected {expected:?} (title {})",
            landed["title"]
        ));
    }
    problems
}

/// Looks at every page of `pages` (name, path, the HTTP status it answers: 200, or an error
/// page's) at both widths; fails with all that is wrong.
pub async fn walk(browser: &Browser, app: &TestApp, role: &str, pages: &[(&str, String, u16)]) {
    let axe = axe_source();
    let mut problems = Vec::new();
    for width in WIDTHS {
        set_width(browser, width).await;
        for (name, path, status) in pages {
            let url = format!("{}{path}", app.url);
            browser.client.goto(&url).await.unwrap();
            let at = format!("{role} {name} ({path}) at {width} px");
            problems.extend(check_landing(browser, &at, &url, *status).await);
            let file = format!("{role}-{width}-{name}");
            problems.extend(check_page(browser, &axe, &at, &file).await);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
