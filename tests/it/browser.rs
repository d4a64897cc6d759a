//! A real headless Chromium (Debian's `chromium` + `chromium-driver`) walks through the portal:
//! setup, sign in, create a project, add a member, and a credential's Show, Copy, Regenerate and
//! Delete. Screenshots go to `target/screenshots/`. [`Browser`] is shared with the page checks
//! (`browser_pages`) and the flows without JavaScript (`browser_nojs`).

use std::{
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, wd::WebDriverCompatibleCommand};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    name: &'static str,
}

impl Drop for Browser {
    /// Stops chromedriver and the Chromium it started: they share the process group made for
    /// chromedriver, and only that group is signalled.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver's "Set Permission" command (W3C Permissions), for the current page's origin:
/// the permission and its new state (`granted`, `denied`).
#[derive(Debug)]
struct SetPermission(&'static str, &'static str);

impl WebDriverCompatibleCommand for SetPermission {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/permissions",
            session_id.expect("a session")
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({"descriptor": {"name": self.0}, "state": self.1});
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

impl Browser {
    /// Lets the current page read and write the clipboard.
    async fn grant_clipboard(&self) {
        for permission in ["clipboard-read", "clipboard-write"] {
            self.client
                .issue_cmd(SetPermission(permission, "granted"))
                .await
                .unwrap_or_else(|e| panic!("chromedriver grants {permission}: {e}"));
        }
    }

    /// Takes the clipboard from the current page, as a browser does on a plain-HTTP address.
    async fn deny_clipboard(&self) {
        for permission in ["clipboard-read", "clipboard-write"] {
            self.client
                .issue_cmd(SetPermission(permission, "denied"))
                .await
                .unwrap_or_else(|e| panic!("chromedriver denies {permission}: {e}"));
        }
    }

    /// What the clipboard holds, as the page reads it back.
    async fn clipboard(&self) -> String {
        let script = "const done = arguments[arguments.length - 1];
            navigator.clipboard.readText().then(done, (e) => done('clipboard error: ' + e));";
        match self.client.execute_async(script, vec![]).await.unwrap() {
            serde_json::Value::String(text) => text,
            other => panic!("the clipboard read answered {other}"),
        }
    }

    /// Waits (at most 5 seconds) until `holds` accepts the clipboard's text; returns it.
    async fn wait_for_clipboard(&self, what: &str, holds: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.clipboard().await;
            if holds(&text) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{what}: the clipboard holds {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn start(name: &'static str) -> Browser {
        Self::start_with(name, true).await
    }

    /// A browser whose pages run no script at all (Chromium's JavaScript content setting off).
    pub async fn start_without_javascript(name: &'static str) -> Browser {
        Self::start_with(name, false).await
    }

    async fn start_with(name: &'static str, javascript: bool) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver =
            Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver runs (Debian package chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 }
                }
            }
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("chromium did not start: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
            name,
        }
    }

    pub async fn screenshot(&self, step: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(
            screenshot_dir().join(format!("{}-{step}.png", self.name)),
            png,
        )
        .unwrap();
    }

    pub async fn fill(&self, id: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|_| panic!("field #{id}"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Clicks a button that submits a form, and waits for the next page to have loaded.
    pub async fn press(&self, css: &str) {
        self.client
            .execute("window.keyportOldPage = true", vec![])
            .await
            .unwrap();
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("button {css}"))
            .click()
            .await
            .unwrap();
        self.wait_for_new_page().await;
    }

    async fn wait_for_new_page(&self) {
        let started = Instant::now();
        loop {
            let loaded = self
                .client
                .execute("return window.keyportOldPage === undefined && document.readyState === 'complete'", vec![])
                .await;
            if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the next page did not load"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn sign_in_as_admin(&self, app: &TestApp) {
        self.sign_in(app, crate::helpers::ADMIN_EMAIL).await;
    }

    /// Signs in through the form (with scripts on).
    pub async fn sign_in(&self, app: &TestApp, email: &str) {
        self.client
            .goto(&format!("{}/login", app.url))
            .await
            .unwrap();
        self.fill("email", email).await;
        self.fill("password", PASSWORD).await;
        self.press("button.primary").await;
        assert_eq!(self.path().await, "/projects", "{email} signed in");
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn setup_sign_in_create_a_project_and_add_a_member() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("foundation").await;
    let b = &browser;

    // Setup: every page leads there.
    b.client
        .goto(&format!("{}/projects", app.url))
        .await
        .unwrap();
    assert_eq!(b.path().await, "/setup");
    b.fill("email", "ada@example.org").await;
    b.fill("name", "Ada Admin").await;
    b.fill("password", "short").await;
    b.fill("password_confirm", "short").await;
    b.press("button.primary").await;
    assert!(
        b.text()
            .await
            .contains("A password has at least 12 characters.")
    );
    b.screenshot("01-setup-error").await;
    b.fill("password", PASSWORD).await;
    b.fill("password_confirm", PASSWORD).await;
    b.press("button.primary").await;
    assert_eq!(b.path().await, "/projects");
    b.screenshot("02-projects-empty").await;

    // Sign out and back in, with a wrong password first.
    b.press("header button.link").await;
    assert_eq!(b.path().await, "/login");
    b.fill("email", "ada@example.org").await;
    b.fill("password", "not my password").await;
    b.press("button.primary").await;
    assert!(
        b.text()
            .await
            .contains("The email or the password is wrong.")
    );
    b.screenshot("03-login-refused").await;
    b.fill("password", PASSWORD).await;
    b.press("button.primary").await;
    assert_eq!(b.path().await, "/projects");

    // Create a project.
    b.fill("name", "Object storage").await;
    b.fill("slug", "object-storage").await;
    b.press("button.primary").await;
    assert_eq!(b.path().await, "/projects/object-storage");
    assert!(b.text().await.contains("Project Object storage created."));
    b.screenshot("04-project").await;

    // Create a user, who gets a one-time link.
    b.client
        .goto(&format!("{}/admin/users", app.url))
        .await
        .unwrap();
    b.fill("email", "bob@example.org").await;
    b.fill("name", "Bob Builder").await;
    b.press("button.primary").await;
    assert!(b.text().await.contains("User created"));
    b.screenshot("05-user-created").await;

    // Add them as a member.
    b.client
        .goto(&format!("{}/projects/object-storage/members", app.url))
        .await
        .unwrap();
    b.fill("email", "bob@example.org").await;
    b.client
        .find(Locator::Css("#role option[value=viewer]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.press("button.primary").await;
    let text = b.text().await;
    assert!(text.contains("bob@example.org joined as viewer."), "{text}");
    b.screenshot("06-members").await;

    // Removing asks first on a page that lists the keys they hold and saw; Cancel keeps the
    // member.
    let bob_id = app.user_id("bob@example.org").await;
    let remove = format!("form[action$='/members/{bob_id}/remove'] button");
    b.press(&remove).await;
    assert!(
        b.text().await.contains("Keys they hold"),
        "{}",
        b.text().await
    );
    b.press("main a[href='/projects/object-storage/members']")
        .await;
    assert!(b.text().await.contains("bob@example.org"));
    b.press(&remove).await;
    b.press("main form button.danger").await;
    assert!(
        b.text()
            .await
            .contains("bob@example.org was removed from the project."),
        "{}",
        b.text().await
    );
    let rows = b
        .client
        .find_all(Locator::Css("table tbody tr"))
        .await
        .unwrap();
    for row in rows {
        assert!(!row.text().await.unwrap().contains("bob@example.org"));
    }
    b.screenshot("07-member-removed").await;

    browser.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn show_copy_regenerate_and_delete_a_credential() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let service = app.service(&admin, "s3", "Object storage", "team").await;
    app.endpoint(
        &admin,
        &service,
        [
            "Si Racha, Thailand",
            "th-sr-1",
            "public",
            "https://s3.example.org",
        ],
    )
    .await;
    let page = format!(
        "/projects/team/credentials?service={}",
        service.rsplit('/').next().unwrap()
    );
    let service_id = service.rsplit('/').next().unwrap().to_string();
    for name in ["laptop", "backup job"] {
        admin
            .submit(
                &page,
                "/projects/team/credentials",
                &[
                    ("service_id", &service_id),
                    ("name", name),
                    ("expires", "2099-12-31"),
                ],
            )
            .await;
    }

    let browser = Browser::start("credentials").await;
    let b = &browser;
    b.sign_in_as_admin(&app).await;
    b.client.goto(&format!("{}{page}", app.url)).await.unwrap();
    assert!(b.text().await.contains("My keys"));
    b.screenshot("01-masked").await;

    // Without the clipboard (a plain-HTTP address), Copy selects the text and says so.
    b.deny_clipboard().await;
    let copy_access = b
        .client
        .find(Locator::Css(
            "article.credential:first-of-type p.key label + button[data-copy]",
        ))
        .await
        .unwrap();
    copy_access.click().await.unwrap();
    // The access key's field is focused with all of it selected (the button says so for a
    // moment).
    let started = Instant::now();
    loop {
        let selected = b
            .client
            .execute(
                "const f = document.activeElement;
                 return f && f.value !== undefined ? f.value.substring(f.selectionStart, f.selectionEnd) : '';",
                vec![],
            )
            .await
            .unwrap();
        if selected.as_str().map(str::len) == Some(20) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the access key is not selected: {selected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.screenshot("01-copy-without-clipboard").await;

    // Show leads back to the page with the secret shown once; then Copy.
    let card = "article.credential:first-of-type";
    b.press(&format!("{card} button[formaction$='/reveal']"))
        .await;
    let secret = b
        .client
        .find(Locator::Css("input[id^=secret-]"))
        .await
        .unwrap();
    let value = secret.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(value.len(), 40, "the secret is shown");
    b.grant_clipboard().await;
    let copy = b
        .client
        .find(Locator::Css(
            "label:has(input[id^=secret-]) + button[data-copy]",
        ))
        .await
        .unwrap();
    copy.click().await.unwrap();
    // "Copied" shows whether or not the write worked: the clipboard itself is read back.
    b.wait_for_clipboard("Copy of the secret", |text| text == value)
        .await;
    b.screenshot("02-revealed").await;
    // A reload shows the page masked, and audits nothing more.
    b.client.refresh().await.unwrap();
    assert!(
        b.client
            .find(Locator::Css("input[id^=secret-]"))
            .await
            .is_err(),
        "shown once"
    );
    let reveals: i64 =
        sqlx::query_scalar("select count(*) from audit_events where action = 'credential.reveal'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(reveals, 1, "one Show, one reveal audited");

    // Regenerate opens the page's dialog, which says what happens to this key; Cancel closes it
    // and changes nothing.
    let regenerate =
        Locator::Css("article.credential:first-of-type p.actions a[href$='/regenerate']");
    let before = b.client.current_url().await.unwrap();
    b.client
        .find(regenerate)
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let dialog = b
        .client
        .find(Locator::Css("dialog[open]"))
        .await
        .expect("a dialog opens");
    let said = dialog.text().await.unwrap();
    assert!(
        said.contains("No provider is called") && !said.contains("‹key›"),
        "{said}"
    );
    b.screenshot("03-regenerate-dialog").await;
    dialog
        .find(Locator::Css("button[data-close]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        b.client.find(Locator::Css("dialog[open]")).await.is_err(),
        "the dialog closed"
    );
    assert_eq!(
        b.client.current_url().await.unwrap(),
        before,
        "nothing was submitted"
    );

    // The new key from the provider is typed in.
    b.client
        .find(regenerate)
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(Locator::Css(
            "dialog[open] input[name=secret]:not([disabled])",
        ))
        .await
        .unwrap()
        .send_keys("the-new-secret-from-the-provider")
        .await
        .unwrap();
    b.press("dialog[open] button[type=submit]").await;
    let text = b.text().await;
    assert!(
        text.contains("now holds the new key you entered. Nothing was changed at your provider"),
        "{text}"
    );
    b.screenshot("04-regenerated").await;

    // Delete asks in the dialog too.
    b.client
        .find(Locator::Css(
            "article.credential:first-of-type p.actions a[href$='/delete']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let dialog = b
        .client
        .find(Locator::Css("dialog[open]"))
        .await
        .expect("a dialog opens");
    assert!(
        dialog
            .text()
            .await
            .unwrap()
            .contains("Nothing is changed at your provider")
    );
    b.screenshot("05-delete-dialog").await;
    b.press("dialog[open] button[type=submit]").await;
    let text = b.text().await;
    assert!(text.contains("was deleted from Keyport."), "{text}");
    assert_eq!(
        b.client
            .find_all(Locator::Css("article.credential"))
            .await
            .unwrap()
            .len(),
        1
    );
    b.screenshot("06-deleted").await;

    browser.client.clone().close().await.unwrap();
}

/// "Configure your client" for each kind of service: the panel opens, its Copy fetches the
/// snippet (an audited copy) and says so; a screenshot of each panel.
#[tokio::test]
async fn the_client_configuration_panel_of_each_kind_of_service() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let mut pages = Vec::new();
    for (kind, name, interface, url) in [
        (
            "s3",
            "Object storage",
            "public",
            "https://s3.th.example.org",
        ),
        (
            "openstack",
            "Cloud",
            "auth",
            "https://keystone.th.example.org/v3",
        ),
        (
            "api",
            "Billing API",
            "public",
            "https://billing.example.org/v1",
        ),
    ] {
        let service = app.service(&admin, kind, name, "team").await;
        app.endpoint(
            &admin,
            &service,
            ["Si Racha, Thailand", "th-sr-1", interface, url],
        )
        .await;
        let service_id = service.rsplit('/').next().unwrap().to_string();
        let page = format!("/projects/team/credentials?service={service_id}");
        admin
            .submit(
                &page,
                "/projects/team/credentials",
                &[("service_id", &service_id), ("name", "laptop")],
            )
            .await;
        // The secret, as Show reveals it, to compare with what Copy puts on the clipboard.
        let id = crate::credentials::credential_ids(&admin.get_text(&page).await.1)
            .pop()
            .expect("the credential is listed");
        let show = admin
            .submit(
                &page,
                &format!("/projects/team/credentials/{id}/reveal"),
                &[],
            )
            .await;
        let shown = admin.get_text(&crate::helpers::location(&show)).await.1;
        let secret = crate::credentials::revealed_secret(&shown, &id).expect("Show reveals it");
        pages.push((kind, page, secret));
    }

    let browser = Browser::start("client-config").await;
    let b = &browser;
    b.sign_in_as_admin(&app).await;
    for (kind, page, secret) in &pages {
        b.client.goto(&format!("{}{page}", app.url)).await.unwrap();
        b.press("button[form=cfg][name=configure]").await;
        let copy = b
            .client
            .find(Locator::Css("details.snippet[open] button[data-copy-post]"))
            .await
            .unwrap();
        // The panel shows a placeholder; Copy puts the snippet with the real secret on the
        // clipboard: the same text, with the secret where the placeholder is.
        let shown = b
            .client
            .find(Locator::Css("details.snippet[open] pre"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(shown.contains("press Show"), "{kind}: {shown}");
        b.grant_clipboard().await;
        copy.click().await.unwrap();
        let copied = b
            .wait_for_clipboard(&format!("Copy in the {kind} panel"), |text| {
                text.contains(secret.as_str())
            })
            .await;
        let others = |text: &str, hidden: &str| -> Vec<String> {
            text.lines()
                .filter(|line| !line.contains(hidden))
                .map(|line| line.trim_end().to_string())
                .collect()
        };
        assert_eq!(
            others(&copied, secret),
            others(&shown, "press Show"),
            "{kind}: the copied snippet is the one shown"
        );
        b.screenshot(&format!("panel-{kind}")).await;
    }
    // Without the clipboard (a plain-HTTP address), the snippet's Copy puts the text, secret
    // filled in, into a field below, selected (the button says so for a moment).
    let (_, page, secret) = &pages[0];
    b.client.goto(&format!("{}{page}", app.url)).await.unwrap();
    b.press("button[form=cfg][name=configure]").await;
    b.deny_clipboard().await;
    let copy = b
        .client
        .find(Locator::Css("details.snippet[open] button[data-copy-post]"))
        .await
        .unwrap();
    copy.click().await.unwrap();
    let fallback = b
        .client
        .wait()
        .for_element(Locator::Css("details.snippet[open] textarea.copy-fallback"))
        .await
        .expect("the text is put where it can be copied");
    let text = fallback.prop("value").await.unwrap().unwrap_or_default();
    assert!(text.contains(secret.as_str()), "{text}");
    b.screenshot("panel-copy-without-clipboard").await;
    let copies: i64 =
        sqlx::query_scalar("select count(*) from audit_events where action = 'credential.copy'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(
        copies, 4,
        "each copy of a snippet with the secret is audited"
    );
}
