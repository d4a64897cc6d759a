//! The test harness: a portal spawned on a random port with a fresh database (SQLite in a
//! temporary folder, or a new PostgreSQL database when `KEYPORT_TEST_POSTGRES_URL` names a
//! server), and browser-like clients that keep cookies and do not follow redirects.

use std::{path::PathBuf, sync::Arc};

use keyport::{
    App,
    config::Config,
    crypto::password,
    db::{self, Db, users::NewUser},
};
use reqwest::{Client, Response, StatusCode, cookie::Jar, redirect::Policy};
use scraper::{Html, Selector};
use tempfile::TempDir;
use zeroize::Zeroizing;

pub const ADMIN_EMAIL: &str = "ada@example.org";
pub const PASSWORD: &str = "correct horse battery staple";

/// A database for one test, and where its master key goes.
pub struct TestDb {
    pub url: String,
    pub key_file: PathBuf,
    pub dir: TempDir,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary folder");
        let key_file = dir.path().join("master.key");
        let url = match std::env::var("KEYPORT_TEST_POSTGRES_URL") {
            Ok(server) if !server.is_empty() => fresh_postgres_database(&server).await,
            _ => format!("sqlite://{}", dir.path().join("keyport.db").display()),
        };
        TestDb { url, key_file, dir }
    }

    pub fn config(&self) -> Config {
        let mut config = Config::new(&self.url, &self.key_file);
        config.listen = "127.0.0.1:0".parse().unwrap();
        // The test backends (moto, Keystone, Swift) answer on loopback.
        config.limits.backend_allowed_networks =
            vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        config
    }
}

/// Creates an empty database on the PostgreSQL server and returns its URL.
async fn fresh_postgres_database(server: &str) -> String {
    use sqlx::Connection;
    let name = format!("keyport_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    let (base, _) = server
        .rsplit_once('/')
        .expect("a PostgreSQL URL names a database");
    format!("{base}/{name}")
}

pub struct TestApp {
    pub url: String,
    pub db: Db,
    /// Kept so that the temporary folder outlives the portal.
    _test_db: TestDb,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let test_db = TestDb::new().await;
        let mut config = test_db.config();
        adjust(&mut config);
        let app = App::build(config).await.expect("the portal starts");
        let url = format!("http://{}", app.local_addr());
        let db = app.db().clone();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.serve(async move {
            let _ = stop.await;
        }));
        TestApp {
            url,
            db,
            _test_db: test_db,
            _shutdown: shutdown,
        }
    }

    /// The database of this portal (for commands run as their own processes on it).
    pub fn test_db(&self) -> &TestDb {
        &self._test_db
    }

    /// A new visitor with an empty cookie jar.
    pub fn visitor(&self) -> Visitor {
        Visitor::new(&self.url)
    }

    /// Completes setup and returns the signed-in instance admin.
    pub async fn admin(&self) -> Visitor {
        let admin = self.visitor();
        complete_setup(&admin).await;
        admin
    }

    /// Adds a user straight to the database (for arranging a test) and signs them in.
    pub async fn user(&self, email: &str, name: &str) -> Visitor {
        self.insert_user(email, name, false).await;
        self.sign_in(email, PASSWORD).await
    }

    pub async fn insert_user(&self, email: &str, name: &str, is_admin: bool) -> String {
        let hash = password::hash(Zeroizing::new(PASSWORD.to_string()))
            .await
            .unwrap();
        let new = NewUser {
            email,
            name,
            password_hash: Some(&hash),
            is_admin,
        };
        db::users::create(self.db.pool(), new)
            .await
            .expect("insert user")
            .id
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Visitor {
        let visitor = self.visitor();
        let response = visitor
            .submit(
                "/login",
                "/login",
                &[("email", email), ("password", password)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email} signs in");
        visitor
    }

    /// A project created by the admin, with `owner` as its owner.
    pub async fn project(&self, admin: &Visitor, slug: &str, owner_email: &str) {
        create_project(admin, slug, owner_email).await;
    }

    /// A service of project `team`, added by `admin`; returns its page's path
    /// (`/projects/team/services/ID`). OpenStack services sign in to project `os_project`.
    pub async fn service(
        &self,
        admin: &Visitor,
        kind: &str,
        name: &str,
        os_project: &str,
    ) -> String {
        add_service(admin, kind, name, os_project).await
    }

    /// An endpoint `[site, region, interface, url]` of the service at `service_path`.
    pub async fn endpoint(&self, admin: &Visitor, service_path: &str, fields: [&str; 4]) {
        add_endpoint(admin, service_path, fields).await;
    }

    pub async fn user_id(&self, email: &str) -> String {
        db::users::find_by_email(&self.db, email)
            .await
            .unwrap()
            .expect("user exists")
            .id
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub struct Visitor {
    pub base: String,
    pub client: Client,
    pub jar: Arc<Jar>,
}

impl Visitor {
    /// A visitor of the portal at `base`, with an empty cookie jar.
    pub fn new(base: &str) -> Visitor {
        let jar = Arc::new(Jar::default());
        let client = Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            // Below the portal's keep-alive (30 s): a connection idle that long is closed by the
            // portal, and one taken from the pool just then is reset under the request.
            .pool_idle_timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap();
        Visitor {
            base: base.to_string(),
            client,
            jar,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET answers")
    }

    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// Posts exactly these fields (no CSRF token added).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST answers")
    }

    /// Opens `page` as a user would, then submits `fields` to `action` with the page's CSRF token.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let (status, html) = self.get_text(page).await;
        assert_eq!(status, StatusCode::OK, "{page} shows its form");
        let token = csrf_token(&html).unwrap_or_else(|| panic!("{page} has a CSRF token"));
        let mut with_token = vec![("csrf_token", token.as_str())];
        with_token.extend_from_slice(fields);
        self.post(action, &with_token).await
    }

    pub fn session_cookie(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let header = self.jar.cookies(&self.base.parse().unwrap())?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|c| c.strip_prefix("keyport_session="))
            .map(str::to_string)
    }
}

/// Completes setup as the instance admin, with `visitor` signed in afterwards.
pub async fn complete_setup(visitor: &Visitor) {
    let response = visitor
        .submit(
            "/setup",
            "/setup",
            &[
                ("email", ADMIN_EMAIL),
                ("name", "Ada Admin"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "setup succeeds");
}

/// Signs `visitor` in as the instance admin.
pub async fn sign_in_as_admin(visitor: &Visitor) {
    let response = visitor
        .submit(
            "/login",
            "/login",
            &[("email", ADMIN_EMAIL), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the admin signs in"
    );
}

/// A project created by the admin, with `owner` as its owner.
pub async fn create_project(admin: &Visitor, slug: &str, owner_email: &str) {
    let response = admin
        .submit(
            "/projects",
            "/projects",
            &[
                ("name", &format!("Project {slug}")),
                ("slug", slug),
                ("owner_email", owner_email),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "project {slug} created"
    );
}

/// A service of project `team`, added by `admin`; returns its page's path
/// (`/projects/team/services/ID`). OpenStack services sign in to project `os_project`.
pub async fn add_service(admin: &Visitor, kind: &str, name: &str, os_project: &str) -> String {
    let response = admin
        .submit(
            "/projects/team/services",
            "/projects/team/services",
            &[
                ("kind", kind),
                ("name", name),
                ("max_keys_per_owner", "2"),
                ("os_project_name", os_project),
                ("os_user_domain", "Default"),
                ("os_project_domain", "Default"),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "service {name} added"
    );
    location(&response)
}

/// An endpoint `[site, region, interface, url]` of the service at `service_path`.
pub async fn add_endpoint(admin: &Visitor, service_path: &str, fields: [&str; 4]) {
    let [site, region, interface, url] = fields;
    let response = admin
        .submit(
            service_path,
            &format!("{service_path}/endpoints"),
            &[
                ("site", site),
                ("region", region),
                ("interface", interface),
                ("url", url),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "endpoint {url} added"
    );
}

/// The elements of `html` that match the CSS selector `css`.
fn select<'a>(document: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    let selector = Selector::parse(css).unwrap_or_else(|e| panic!("selector {css:?}: {e}"));
    document.select(&selector).collect()
}

/// The text of each element matching `css`, with runs of whitespace made one space.
pub fn texts(html: &str, css: &str) -> Vec<String> {
    let document = Html::parse_document(html);
    select(&document, css)
        .into_iter()
        .map(|e| {
            e.text()
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The text of the first element matching `css`.
pub fn text(html: &str, css: &str) -> Option<String> {
    texts(html, css).into_iter().next()
}

/// The text of the first element matching `css`, exactly as written (for `<pre>` blocks).
pub fn raw_text(html: &str, css: &str) -> Option<String> {
    let document = Html::parse_document(html);
    select(&document, css)
        .first()
        .map(|e| e.text().collect::<String>())
}

/// Attribute `name` of each element matching `css`.
pub fn attrs(html: &str, css: &str, name: &str) -> Vec<String> {
    let document = Html::parse_document(html);
    select(&document, css)
        .into_iter()
        .filter_map(|e| e.value().attr(name).map(str::to_string))
        .collect()
}

/// The value of the first input named `name`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    attrs(html, &format!("input[name=\"{name}\"]"), "value")
        .into_iter()
        .next()
}

/// The targets of the page's links (`a[href]`).
/// The targets of the page's links (`a[href]`).
pub fn hrefs(html: &str) -> Vec<String> {
    attrs(html, "a[href]", "href")
}

/// The text a reader sees on the page (entities decoded, tags gone).
pub fn page_text(html: &str) -> String {
    text(html, "body").unwrap_or_default()
}

/// The notice at the top of a page (empty when there is none).
pub fn notice(html: &str) -> String {
    text(html, "p.notice[role=status]").unwrap_or_default()
}

pub fn csrf_token(html: &str) -> Option<String> {
    input_value(html, "csrf_token")
}

/// The set-password link shown on a page, as a path.
pub fn password_link(html: &str) -> String {
    let link = attrs(html, "input#password-link", "value")
        .pop()
        .expect("the page shows a set-password link");
    let url = url::Url::parse(&link).expect("the link is a URL");
    assert!(url.path().starts_with("/set-password/"), "{link}");
    url.path().to_string()
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default()
}
