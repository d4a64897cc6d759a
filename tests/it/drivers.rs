//! Backend drivers against real backends: moto's IAM (signatures and policies checked) and
//! Keystone + Swift. Add, Regenerate and Delete act at the backend: a real client works with the
//! new key, and the backend refuses the old one.

use std::{
    process::{Child, Command, Output},
    time::{Duration, Instant},
};

use reqwest::StatusCode;

use crate::{
    backends::{Moto, OpenStack, S3Key, free_port},
    helpers::{
        ADMIN_EMAIL, TestApp, TestDb, Visitor, add_endpoint, add_service, complete_setup,
        create_project, csrf_token, location, sign_in_as_admin,
    },
    s3_clients::{Home, run},
};

/// An IAM policy that lets the users Keyport creates use S3.
const S3_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

/// A portal whose project `team` has one service, and its admin.
struct Driven {
    app: TestApp,
    admin: Visitor,
    service_path: String,
    page: String,
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x2b;", "+")
        .replace("&#43;", "+")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The notice at the top of a page.
fn notice(html: &str) -> String {
    let start = html
        .find("class=\"notice\" role=\"status\">")
        .map(|i| i + "class=\"notice\" role=\"status\">".len());
    start
        .map(|s| unescape(&html[s..s + html[s..].find("</p>").unwrap()]))
        .unwrap_or_default()
}

impl Driven {
    async fn new(kind: &str, os_project: &str, endpoints: &[[&str; 4]]) -> Driven {
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        app.project(&admin, "team", "").await;
        let service_path = app.service(&admin, kind, "Storage", os_project).await;
        for endpoint in endpoints {
            app.endpoint(&admin, &service_path, *endpoint).await;
        }
        let service = service_path.rsplit('/').next().unwrap();
        let page = format!("/projects/team/credentials?service={service}");
        Driven {
            app,
            admin,
            service_path,
            page,
        }
    }

    fn service_id(&self) -> &str {
        self.service_path.rsplit('/').next().unwrap()
    }

    /// Saves the backend settings; returns the answer (a redirect when they were accepted).
    async fn set_backend(&self, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let backend = format!("{}/backend", self.service_path);
        let response = self.admin.submit(&backend, &backend, fields).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        let shown = if status == StatusCode::SEE_OTHER {
            notice(&self.admin.get_text(&backend).await.1)
        } else {
            body
        };
        (status, shown)
    }

    /// Adds a credential named `name` of `kind` (`key` or `ec2`); returns the status and, on
    /// refusal, the page.
    async fn add(&self, name: &str, kind: &str) -> (StatusCode, String) {
        let response = self
            .admin
            .submit(
                &self.page,
                "/projects/team/credentials",
                &[
                    ("service_id", self.service_id()),
                    ("name", name),
                    ("kind", kind),
                    ("mode", "generate"),
                ],
            )
            .await;
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// The id and access key of the credential named `name`.
    async fn credential(&self, name: &str) -> Option<(String, String)> {
        sqlx::query_as("select id, access_key from credentials where name = $1")
            .bind(name)
            .fetch_optional(self.app.db.pool())
            .await
            .unwrap()
    }

    /// The credential's key as Show reveals it.
    async fn key(&self, name: &str) -> S3Key {
        let (id, access_key) = self.credential(name).await.expect("the credential exists");
        let secret = reveal(&self.admin, &self.page, &id).await;
        S3Key { access_key, secret }
    }

    /// Confirms `action` (`regenerate` or `delete`) on the credential; returns the notice.
    async fn confirm(&self, name: &str, action: &str) -> String {
        let (id, _) = self.credential(name).await.expect("the credential exists");
        let path = format!("/projects/team/credentials/{id}/{action}");
        let response = self.admin.submit(&path, &path, &[("confirm", "yes")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{action} answers");
        notice(&self.admin.get_text(&location(&response)).await.1)
    }

    /// Confirms `action` and checks that the portal says it was done, in full.
    async fn done(&self, name: &str, action: &str) {
        let notice = self.confirm(name, action).await;
        let expected = match action {
            "regenerate" => "the old secret no longer works",
            _ => "was deleted",
        };
        assert!(notice.contains(expected), "{action} of {name}: {notice}");
    }

    /// Presses Test on the credential; returns the notice.
    async fn test(&self, name: &str) -> String {
        let (id, _) = self.credential(name).await.expect("the credential exists");
        let token = csrf_token(&self.admin.get_text(&self.page).await.1).unwrap();
        let response = self
            .admin
            .post(
                &format!("/projects/team/credentials/{id}/test"),
                &[("csrf_token", &token)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        notice(&self.admin.get_text(&self.page).await.1)
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.app.db.pool())
            .await
            .unwrap()
    }
}

/// The secret of credential `id`, as Show reveals it on `page`.
async fn reveal(visitor: &Visitor, page: &str, id: &str) -> String {
    let token = csrf_token(&visitor.get_text(page).await.1).unwrap();
    let html = visitor
        .post(
            &format!("/projects/team/credentials/{id}/reveal"),
            &[("csrf_token", &token)],
        )
        .await
        .text()
        .await
        .unwrap();
    let marker = format!("id=\"secret-{id}\" class=\"mono\" value=\"");
    let start = html.find(&marker).expect("the secret is shown") + marker.len();
    unescape(&html[start..start + html[start..].find('"').unwrap()])
}

/// Debian's AWS CLI with `key`, in a fresh HOME.
fn aws(key: &S3Key, region: &str, args: &[&str]) -> Output {
    let home = Home::new();
    run(home
        .command("/usr/bin/aws")
        .env("AWS_ACCESS_KEY_ID", &key.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret)
        .env("AWS_DEFAULT_REGION", region)
        .args(args))
}

/// `aws s3 ls` with the key, against `endpoint`.
fn aws_s3_ls(endpoint: &str, region: &str, key: &S3Key) -> Output {
    aws(key, region, &["--endpoint-url", endpoint, "s3", "ls"])
}

/// `aws iam list-access-keys` for `user`, as moto's admin.
fn iam_access_keys(moto: &Moto, admin: &S3Key, user: &str) -> String {
    let args = [
        "--endpoint-url",
        &moto.url,
        "iam",
        "list-access-keys",
        "--user-name",
        user,
    ];
    let output = aws(admin, "us-east-1", &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn works(output: &Output) -> bool {
    output.status.success()
}

async fn iam_portal(moto: &Moto, admin_key: &S3Key) -> Driven {
    let portal = Driven::new(
        "s3",
        "",
        &[["Loopback", "us-east-1", "public", moto.url.as_str()]],
    )
    .await;
    let (status, shown) = portal
        .set_backend(&moto.iam_settings(admin_key, S3_POLICY))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{shown}");
    assert!(shown.contains("accepted"), "{shown}");
    portal
}

#[tokio::test]
async fn iam_add_regenerate_and_delete_act_at_the_backend() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;

    let (status, page) = portal.add("backup", "key").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let first = portal.key("backup").await;
    assert!(first.access_key.len() >= 16, "moto issued the key");
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &first)),
        "the new key works"
    );
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    assert!(user.starts_with("keyport-team-ada-"), "{user}");
    assert!(iam_access_keys(&moto, &admin_key, &user).contains(&first.access_key));

    let tested = portal.test("backup").await;
    assert!(tested.contains(": OK in"), "{tested}");
    let listing = portal.admin.get_text(&portal.page).await.1;
    assert!(
        listing.contains("backend: Active"),
        "status from ListAccessKeys"
    );

    let (id, _) = portal.credential("backup").await.unwrap();
    let confirm = portal
        .admin
        .get_text(&format!("/projects/team/credentials/{id}/regenerate"))
        .await
        .1;
    assert!(confirm.contains("no overlap") && confirm.contains("Add a second key first"));
    let notice = portal.confirm("backup", "regenerate").await;
    assert!(notice.contains("regenerated"), "{notice}");
    let second = portal.key("backup").await;
    assert_ne!(second.access_key, first.access_key, "a new key pair");
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &second)),
        "the new key works"
    );
    assert!(
        !works(&aws_s3_ls(&moto.url, "us-east-1", &first)),
        "the old key is refused"
    );
    let keys = iam_access_keys(&moto, &admin_key, &user);
    assert!(
        keys.contains(&second.access_key) && !keys.contains(&first.access_key),
        "{keys}"
    );

    portal.done("backup", "delete").await;
    assert!(portal.credential("backup").await.is_none());
    assert!(
        !works(&aws_s3_ls(&moto.url, "us-east-1", &second)),
        "the deleted key is refused"
    );
    assert!(!iam_access_keys(&moto, &admin_key, &user).contains(&second.access_key));
}

#[tokio::test]
async fn iam_limits_and_refusals_are_clear_and_change_nothing() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;
    assert_eq!(portal.add("one", "key").await.0, StatusCode::SEE_OTHER);
    assert_eq!(portal.add("two", "key").await.0, StatusCode::SEE_OTHER);
    // Keyport's limit is checked before the backend is called.
    let (status, page) = portal.add("three", "key").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("maximum of two credentials"), "limit message");

    // A key made outside Keyport fills IAM's own limit: IAM's LimitExceeded is shown.
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    portal.done("two", "delete").await;
    let args = [
        "--endpoint-url",
        &moto.url,
        "iam",
        "create-access-key",
        "--user-name",
        &user,
    ];
    assert!(
        works(&aws(&admin_key, "us-east-1", &args)),
        "a key made outside Keyport"
    );
    let (status, page) = portal.add("three", "key").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unescape(&page).contains("LimitExceeded"),
        "IAM's refusal is shown"
    );
    assert_eq!(
        portal.count("select count(*) from credentials").await,
        1,
        "nothing half-written"
    );

    // Reconcile shows the outside key as unmanaged; Revoke removes it at the backend.
    let reconcile = format!("{}/reconcile", portal.service_path);
    let html = portal.admin.get_text(&reconcile).await.1;
    let outside = iam_access_keys(&moto, &admin_key, &user);
    let (_, key_one) = portal.credential("one").await.unwrap();
    let unmanaged: Vec<&str> = outside
        .split('"')
        .filter(|s| s.starts_with("AKIA") && *s != key_one)
        .collect();
    assert_eq!(unmanaged.len(), 1, "{outside}");
    assert!(html.contains(unmanaged[0]), "the outside key is listed");
    let response = portal
        .admin
        .submit(
            &reconcile,
            &format!("{reconcile}/key"),
            &[("access_key", unmanaged[0]), ("action", "revoke")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(!iam_access_keys(&moto, &admin_key, &user).contains(unmanaged[0]));

    // The backend goes away: a clear message, and nothing changes in Keyport.
    drop(moto);
    let before = portal.key("one").await;
    let notice = portal.confirm("one", "regenerate").await;
    assert!(
        notice.contains("Nothing was changed") && notice.contains("could not be reached"),
        "{notice}"
    );
    assert_eq!(
        portal.key("one").await.secret,
        before.secret,
        "the secret stays"
    );
    let notice = portal.confirm("one", "delete").await;
    assert!(notice.contains("Nothing was changed"), "{notice}");
    assert!(
        portal.credential("one").await.is_some(),
        "the credential stays"
    );
    let tested = portal.test("one").await;
    assert!(tested.contains("unreachable"), "{tested}");
}

#[tokio::test]
async fn an_owner_can_be_linked_to_an_existing_iam_user() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;
    let owner = format!("user:{}", portal.app.user_id(ADMIN_EMAIL).await);
    let backend = format!("{}/backend", portal.service_path);
    let link = |name: &'static str| {
        let owner = owner.clone();
        let backend = backend.clone();
        let admin = &portal.admin;
        async move {
            let response = admin
                .submit(
                    &backend,
                    &format!("{backend}/link"),
                    &[("owner", &owner), ("backend_name", name)],
                )
                .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            notice(&admin.get_text(&backend).await.1)
        }
    };
    let refused = link("nobody-here").await;
    assert!(
        refused.contains("no IAM user named nobody-here"),
        "{refused}"
    );
    // `tester` is the user of Keyport's admin key: never an owner's.
    let refused = link("tester").await;
    assert!(refused.contains("own admin user"), "{refused}");
    let args = [
        "--endpoint-url",
        &moto.url,
        "iam",
        "create-user",
        "--user-name",
        "existing",
    ];
    assert!(
        works(&aws(&admin_key, "us-east-1", &args)),
        "a user made outside Keyport"
    );
    let linked = link("existing").await;
    assert!(linked.contains("Linked"), "{linked}");
    assert_eq!(portal.add("linked", "key").await.0, StatusCode::SEE_OTHER);
    let key = portal.key("linked").await;
    assert!(iam_access_keys(&moto, &admin_key, "existing").contains(&key.access_key));
    let relink = link("").await;
    assert!(
        relink.contains("Nothing was changed"),
        "an owner with keys stays linked"
    );
}

#[tokio::test]
async fn a_backend_that_does_not_answer_in_time_leaves_the_change_to_reconcile() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;
    // The owner's IAM user exists; then IAM stops answering (accepts, never replies).
    assert_eq!(portal.add("first", "key").await.0, StatusCode::SEE_OTHER);
    portal.done("first", "delete").await;
    let address = moto.url.trim_start_matches("http://").to_string();
    drop(moto);
    let listener = std::net::TcpListener::bind(&address).unwrap();
    let _hanging = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(120));
        drop(held);
    });
    let (status, page) = portal.add("second", "key").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = unescape(&page);
    assert!(
        page.contains("did not answer in time; it may have acted"),
        "{page}"
    );
    assert!(!page.contains("Nothing was changed"));
    let state: String = sqlx::query_scalar("select state from credentials where name = 'second'")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    assert_eq!(state, "creating", "left for reconcile, not forgotten");
    let listing = portal.admin.get_text(&portal.page).await.1;
    assert!(
        !listing.contains("second"),
        "a key that may not work is not shown"
    );
}

#[tokio::test]
async fn wrong_backend_settings_are_not_saved() {
    let (moto, admin_key) = Moto::start().await;
    let portal = Driven::new("s3", "", &[]).await;
    let (status, page) = portal
        .set_backend(&[
            ("driver", "aws_iam"),
            ("endpoint", &moto.url),
            ("region", "us-east-1"),
            ("access_key", &admin_key.access_key),
            ("secret_key", "not-the-secret"),
        ])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unescape(&page).contains("refused Keyport's admin key"),
        "{page}"
    );
    assert!(
        page.contains(&admin_key.access_key),
        "what was typed is kept"
    );
    assert!(!page.contains("not-the-secret"), "but never a secret");
    let driver: String = sqlx::query_scalar("select driver from services")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    assert_eq!(driver, "stored");
    let (status, page) = portal.set_backend(&[("driver", "keystone")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Keystone is for OpenStack services"));

    // A saved secret is kept when left empty, but never sent to another endpoint.
    let (status, _) = portal.set_backend(&moto.iam_settings(&admin_key, "")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let elsewhere = "http://127.0.0.1:9/";
    let mut fields = moto.iam_settings(&admin_key, "");
    fields.retain(|(name, _)| *name != "secret_key");
    let (status, shown) = portal.set_backend(&fields).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the same endpoint keeps the secret: {shown}"
    );
    fields.retain(|(name, _)| *name != "endpoint");
    fields.push(("endpoint", elsewhere));
    let (status, page) = portal.set_backend(&fields).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Enter the secret again"), "{page}");
}

async fn keystone_portal(stack: &OpenStack, project: &str) -> Driven {
    let portal = Driven::new(
        "openstack",
        project,
        &[["Loopback", &stack.region, "auth", &stack.keystone_url]],
    )
    .await;
    let (status, shown) = portal.set_backend(&stack.keystone_settings()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{shown}");
    portal
}

/// `swift list` (python3-swiftclient) as the user with the password.
fn swift_list(stack: &OpenStack, user: &str, password: &str, project: &str) -> Output {
    let home = Home::new();
    run(home.command("swift").args([
        "--auth-version",
        "3",
        "--os-auth-url",
        &stack.keystone_url,
        "--os-username",
        user,
        "--os-password",
        password,
        "--os-project-name",
        project,
        "--os-user-domain-name",
        "Default",
        "--os-project-domain-name",
        "Default",
        "list",
    ]))
}

#[tokio::test]
async fn keystone_passwords_and_ec2_pairs_rotate_at_keystone() {
    let stack = OpenStack::get();
    let os_user = stack.create_user().await;
    let project = os_user.project.clone();
    let portal = keystone_portal(&stack, &project).await;

    // "Import endpoints" reads Keystone's catalog.
    let import = format!("{}/backend/import-endpoints", portal.service_path);
    let response = portal
        .admin
        .submit(&format!("{}/backend", portal.service_path), &import, &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let service_page = portal.admin.get_text(&portal.service_path).await.1;
    assert!(
        notice(&service_page).contains("Imported"),
        "{}",
        notice(&service_page)
    );
    assert!(
        service_page.contains(&stack.swift_url),
        "Swift's endpoint is imported"
    );

    // The password: Add creates the user, Regenerate changes the password at Keystone.
    let (status, page) = portal.add("login", "key").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let first = portal.key("login").await;
    assert!(first.access_key.starts_with("keyport-team-ada-"));
    assert!(
        works(&swift_list(
            &stack,
            &first.access_key,
            &first.secret,
            &project
        )),
        "swift list"
    );
    let tested = portal.test("login").await;
    assert!(tested.contains(": OK in"), "{tested}");
    portal.done("login", "regenerate").await;
    let second = portal.key("login").await;
    assert_eq!(second.access_key, first.access_key, "the user stays");
    assert_ne!(second.secret, first.secret);
    assert!(
        !works(&swift_list(
            &stack,
            &first.access_key,
            &first.secret,
            &project
        )),
        "old password refused"
    );
    // Keystone refuses tokens issued within a second of a password change; under load the
    // refusal may reach a little further, so the new password is tried until a deadline.
    let deadline = Instant::now() + Duration::from_secs(15);
    let new_password_works = loop {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let listed = works(&swift_list(
            &stack,
            &second.access_key,
            &second.secret,
            &project,
        ));
        if listed || Instant::now() > deadline {
            break listed;
        }
    };
    assert!(new_password_works, "new password works");

    // A second password credential for the same user would overwrite the first.
    let (status, page) = portal.add("login two", "key").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("already has its password"), "clear refusal");

    // EC2 pairs: Add creates one at Keystone, Regenerate replaces it, Delete revokes it.
    let s3 = stack.swift_url.as_str();
    let region = stack.region.as_str();
    assert_eq!(portal.add("s3", "ec2").await.0, StatusCode::SEE_OTHER);
    let pair = portal.key("s3").await;
    assert!(
        works(&aws_s3_ls(s3, region, &pair)),
        "the EC2 pair works through s3api"
    );
    portal.done("s3", "regenerate").await;
    let new_pair = portal.key("s3").await;
    assert_ne!(new_pair.access_key, pair.access_key);
    assert!(
        !works(&aws_s3_ls(s3, region, &pair)),
        "the old pair is refused at once"
    );
    assert!(
        works(&aws_s3_ls(s3, region, &new_pair)),
        "the new pair works"
    );
    portal.done("s3", "delete").await;
    assert!(
        !works(&aws_s3_ls(s3, region, &new_pair)),
        "the deleted pair is refused at once"
    );

    // A pair made outside Keyport shows on Reconcile, and Adopt takes it in.
    let backend_id: String = sqlx::query_scalar("select backend_id from backend_users")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    let outside = stack.create_ec2_for(&backend_id, &os_user.project_id).await;
    let reconcile = format!("{}/reconcile", portal.service_path);
    let html = portal.admin.get_text(&reconcile).await.1;
    assert!(
        html.contains(&outside.access_key),
        "the outside pair is listed"
    );
    let response = portal
        .admin
        .submit(
            &reconcile,
            &format!("{reconcile}/key"),
            &[("access_key", &outside.access_key), ("action", "adopt")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let adopted = portal.key(&format!("adopted {}", outside.access_key)).await;
    assert_eq!(
        adopted.secret, outside.secret,
        "Keystone's secret was taken in"
    );
    let html = portal.admin.get_text(&reconcile).await.1;
    assert!(!html.contains(&outside.access_key), "no longer unmanaged");

    // Deleting the password credential makes the password stop working.
    portal.done("login", "delete").await;
    assert!(!works(&swift_list(
        &stack,
        &second.access_key,
        &second.secret,
        &project
    )));
}

/// The portal as its own process, so that it can be killed.
struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Server {
    async fn start(db: &TestDb, failpoint: Option<&str>) -> Server {
        let port = free_port();
        let log = db.dir.path().join(format!("server-{port}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyport"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("KEYPORT_DATABASE_URL", &db.url)
            .env("KEYPORT_MASTER_KEY_FILE", &db.key_file)
            .env_remove("KEYPORT_MASTER_KEY")
            .stderr(std::fs::File::create(&log).unwrap());
        match failpoint {
            Some(name) => command.env("KEYPORT_FAILPOINT", name),
            None => command.env_remove("KEYPORT_FAILPOINT"),
        };
        let server = Server {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let started = Instant::now();
        while reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the portal starts"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn visitor(&self) -> Visitor {
        Visitor::new(&self.base)
    }

    fn kill(mut self) {
        // SIGKILL: no shutdown code runs.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn wait_for_log(&self, text: &str) {
        let started = Instant::now();
        while !std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .contains(text)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{text} in the log"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs in to a fresh portal and arranges project `team` with a service of `kind` whose
/// backend has `backend` settings; returns the admin and the credentials page.
async fn arrange(
    server: &Server,
    kind: &str,
    os_project: &str,
    endpoint: [&str; 4],
    backend: &[(&str, &str)],
) -> (Visitor, String) {
    let admin = server.visitor();
    complete_setup(&admin).await;
    create_project(&admin, "team", "").await;
    let service_path = add_service(&admin, kind, "Storage", os_project).await;
    add_endpoint(&admin, &service_path, endpoint).await;
    let settings = format!("{service_path}/backend");
    let response = admin.submit(&settings, &settings, backend).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "backend saved");
    let service = service_path.rsplit('/').next().unwrap().to_string();
    (
        admin,
        format!("/projects/team/credentials?service={service}"),
    )
}

async fn arrange_iam(server: &Server, moto: &Moto, admin_key: &S3Key) -> (Visitor, String) {
    arrange(
        server,
        "s3",
        "",
        ["Loopback", "us-east-1", "public", &moto.url],
        &moto.iam_settings(admin_key, S3_POLICY),
    )
    .await
}

/// Posts `fields` (with the page's CSRF token) and returns the request under way: the portal
/// will be killed before it answers.
async fn post_in_background(
    visitor: &Visitor,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let token = csrf_token(&visitor.get_text(page).await.1).unwrap();
    let mut form = vec![("csrf_token".to_string(), token)];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let request = visitor.client.post(visitor.url(action)).form(&form);
    tokio::spawn(request.send())
}

#[tokio::test]
async fn a_portal_killed_between_intent_and_outcome_agrees_with_the_backend_after_restart() {
    let (moto, admin_key) = Moto::start().await;
    let db = TestDb::new().await;

    // The first add goes through; the second is killed after IAM issued its key.
    let server = Server::start(&db, Some("after-issue")).await;
    let (admin, page) = arrange_iam(&server, &moto, &admin_key).await;
    let service = page.rsplit('=').next().unwrap().to_string();
    let pending = post_in_background(
        &admin,
        &page,
        "/projects/team/credentials",
        &[
            ("service_id", &service),
            ("name", "interrupted"),
            ("mode", "generate"),
        ],
    )
    .await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(
        pending.await.unwrap().is_err(),
        "the request died with the portal"
    );

    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    let state: String = sqlx::query_scalar("select state from credentials")
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(state, "creating", "the intent was recorded");
    let at_backend = iam_access_keys(&moto, &admin_key, &user);
    assert!(
        at_backend.contains("AKIA"),
        "IAM issued a key Keyport never recorded: {at_backend}"
    );

    // The next start reconciles: the key nobody holds is revoked, the half-made row is gone.
    let server = Server::start(&db, None).await;
    server
        .wait_for_log("reconciled an interrupted operation")
        .await;
    assert!(
        !iam_access_keys(&moto, &admin_key, &user).contains("AKIA"),
        "no unknown key left"
    );
    let rows: i64 = sqlx::query_scalar("select count(*) from credentials")
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0, "no credential that does not work");

    // And the portal goes on: an add now works end to end.
    let admin = server.visitor();
    sign_in_as_admin(&admin).await;
    let response = admin
        .submit(
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", &service),
                ("name", "after"),
                ("mode", "generate"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(iam_access_keys(&moto, &admin_key, &user).contains("AKIA"));
    keyport.close().await;
    drop(server);

    // Keyport's admin secret for IAM is in no server log, and only sealed in the database.
    let secret = admin_key.secret.as_bytes();
    for entry in std::fs::read_dir(db.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "the IAM admin secret is in {} in clear",
            path.display()
        );
    }
}

#[tokio::test]
async fn a_regeneration_killed_at_keystone_is_finished_after_restart() {
    let stack = OpenStack::get();
    let project = stack.create_user().await.project;
    let db = TestDb::new().await;
    let server = Server::start(&db, Some("after-issue")).await;
    let (admin, page) = arrange(
        &server,
        "openstack",
        &project,
        ["Loopback", &stack.region, "public", &stack.swift_url],
        &stack.keystone_settings(),
    )
    .await;
    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    // The add stops after Keystone made the pair; Keyport had recorded the pair it chose.
    let service = page.rsplit('=').next().unwrap().to_string();
    let pending = post_in_background(
        &admin,
        &page,
        "/projects/team/credentials",
        &[
            ("service_id", &service),
            ("name", "s3"),
            ("kind", "ec2"),
            ("mode", "generate"),
        ],
    )
    .await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(pending.await.unwrap().is_err());
    let (id, old_access): (String, String) =
        sqlx::query_as("select id, access_key from credentials where state = 'creating'")
            .fetch_one(keyport.pool())
            .await
            .unwrap();

    // Restarted with the failpoint still set: reconcile finishes the add (the pair works), then
    // a regeneration is killed after Keystone made the new pair.
    let server = Server::start(&db, Some("after-issue")).await;
    server
        .wait_for_log("reconciled an interrupted operation")
        .await;
    let state: String = sqlx::query_scalar("select state from credentials where id = $1")
        .bind(&id)
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(state, "active", "the add was finished, not lost");
    let admin = server.visitor();
    sign_in_as_admin(&admin).await;
    let region = stack.region.as_str();
    let old_key = S3Key {
        access_key: old_access.clone(),
        secret: reveal(&admin, &page, &id).await,
    };
    assert!(
        works(&aws_s3_ls(&stack.swift_url, region, &old_key)),
        "the added pair works"
    );
    let regenerate = format!("/projects/team/credentials/{id}/regenerate");
    let pending = post_in_background(&admin, &regenerate, &regenerate, &[("confirm", "yes")]).await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(pending.await.unwrap().is_err());
    let (state, new_access): (String, String) =
        sqlx::query_as("select state, pending_access_key from credentials where id = $1")
            .bind(&id)
            .fetch_one(keyport.pool())
            .await
            .unwrap();
    assert_eq!(state, "rotating", "the intent was recorded");
    assert_ne!(new_access, old_access);

    // After restart the new pair is in place, and the old one is revoked at Keystone.
    let server = Server::start(&db, None).await;
    server
        .wait_for_log("reconciled an interrupted operation")
        .await;
    let (state, access): (String, String) =
        sqlx::query_as("select state, access_key from credentials where id = $1")
            .bind(&id)
            .fetch_one(keyport.pool())
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), access.as_str()),
        ("active", new_access.as_str())
    );
    let admin = server.visitor();
    sign_in_as_admin(&admin).await;
    let new_key = S3Key {
        access_key: new_access,
        secret: reveal(&admin, &page, &id).await,
    };
    assert!(
        works(&aws_s3_ls(&stack.swift_url, region, &new_key)),
        "the new pair works"
    );
    assert!(
        !works(&aws_s3_ls(&stack.swift_url, region, &old_key)),
        "the old pair is refused"
    );
    keyport.close().await;
}
