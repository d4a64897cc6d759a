//! What the backend driver tests share: a portal with one service whose backend is moto's IAM
//! or the test Keystone, the real clients that check a key at the backend, and a portal process
//! that a test can kill between a backend call and its record.

use std::process::Output;

use reqwest::StatusCode;

use crate::{
    backends::{Moto, OpenStack, S3Key},
    helpers::{
        TestApp, Visitor, add_endpoint, add_service, attrs, complete_setup, create_project,
        csrf_token, location, notice,
    },
    process::Server,
    s3_clients::{Home, run},
};

/// An IAM policy that lets the users Keyport creates use S3.
pub const S3_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

/// A portal whose project `team` has one service, and its admin.
pub struct Driven {
    pub app: TestApp,
    pub admin: Visitor,
    pub service_path: String,
    pub page: String,
}

impl Driven {
    pub async fn new(kind: &str, os_project: &str, endpoints: &[[&str; 4]]) -> Driven {
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

    pub fn service_id(&self) -> &str {
        self.service_path.rsplit('/').next().unwrap()
    }

    /// Saves the backend settings; returns the answer (a redirect when they were accepted).
    pub async fn set_backend(&self, fields: &[(&str, &str)]) -> (StatusCode, String) {
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
    pub async fn add(&self, name: &str, kind: &str) -> (StatusCode, String) {
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
    pub async fn credential(&self, name: &str) -> Option<(String, String)> {
        sqlx::query_as("select id, access_key from credentials where name = $1")
            .bind(name)
            .fetch_optional(self.app.db.pool())
            .await
            .unwrap()
    }

    /// The credential's key as Show reveals it.
    pub async fn key(&self, name: &str) -> S3Key {
        let (id, access_key) = self.credential(name).await.expect("the credential exists");
        let secret = reveal(&self.admin, &self.page, &id).await;
        S3Key { access_key, secret }
    }

    /// Confirms `action` (`regenerate` or `delete`) on the credential; returns the notice.
    pub async fn confirm(&self, name: &str, action: &str) -> String {
        let (id, _) = self.credential(name).await.expect("the credential exists");
        let path = format!("/projects/team/credentials/{id}/{action}");
        let response = self.admin.submit(&path, &path, &[("confirm", "yes")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{action} answers");
        notice(&self.admin.get_text(&location(&response)).await.1)
    }

    /// Confirms `action` and checks that the portal says it was done, in full.
    pub async fn done(&self, name: &str, action: &str) {
        let notice = self.confirm(name, action).await;
        let expected = match action {
            "regenerate" => "the old secret no longer works",
            _ => "was deleted",
        };
        assert!(notice.contains(expected), "{action} of {name}: {notice}");
    }

    /// Presses Test on the credential; returns the notice.
    pub async fn test(&self, name: &str) -> String {
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

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.app.db.pool())
            .await
            .unwrap()
    }
}

/// The secret of credential `id`, as Show reveals it on `page`.
pub async fn reveal(visitor: &Visitor, page: &str, id: &str) -> String {
    let token = csrf_token(&visitor.get_text(page).await.1).unwrap();
    let shown = visitor
        .post(
            &format!("/projects/team/credentials/{id}/reveal"),
            &[("csrf_token", &token)],
        )
        .await;
    // Show leads back to the page, which shows the secret once.
    let html = visitor.get_text(&location(&shown)).await.1;
    attrs(&html, &format!("input#secret-{id}"), "value")
        .pop()
        .expect("the secret is shown")
}

/// Debian's AWS CLI with `key`, in a fresh HOME.
pub fn aws(key: &S3Key, region: &str, args: &[&str]) -> Output {
    let home = Home::new();
    run(home
        .command("/usr/bin/aws")
        .env("AWS_ACCESS_KEY_ID", &key.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret)
        .env("AWS_DEFAULT_REGION", region)
        .args(args))
}

/// `aws s3 ls` with the key, against `endpoint`.
pub fn aws_s3_ls(endpoint: &str, region: &str, key: &S3Key) -> Output {
    aws(key, region, &["--endpoint-url", endpoint, "s3", "ls"])
}

/// `aws iam list-access-keys` for `user`, as moto's admin.
pub fn iam_access_keys(moto: &Moto, admin: &S3Key, user: &str) -> String {
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

pub fn works(output: &Output) -> bool {
    output.status.success()
}

pub async fn iam_portal(moto: &Moto, admin_key: &S3Key) -> Driven {
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

pub async fn keystone_portal(stack: &OpenStack, project: &str) -> Driven {
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
pub fn swift_list(stack: &OpenStack, user: &str, password: &str, project: &str) -> Output {
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

/// Signs in to a fresh portal and arranges project `team` with a service of `kind` whose
/// backend has `backend` settings; returns the admin and the credentials page.
pub async fn arrange(
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

pub async fn arrange_iam(server: &Server, moto: &Moto, admin_key: &S3Key) -> (Visitor, String) {
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
pub async fn post_in_background(
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

/// A Regenerate killed half-way: the credential, its key before, the new key recorded, and the
/// owner's user at IAM.
pub struct KilledRegeneration {
    pub id: String,
    pub old_key: String,
    pub new_key: String,
    pub backend_user: String,
}

/// Adds the IAM credential `name` through `server` (started with the failpoint `after-record`
/// and arranged by [`arrange_iam`]), then presses Regenerate and kills `server` where it stops:
/// the new key is recorded, the old one not yet revoked (state `retiring`).
pub async fn add_then_kill_a_regeneration(
    server: Server,
    db: &keyport::db::Db,
    admin: &Visitor,
    page: &str,
    name: &str,
) -> KilledRegeneration {
    let service = page.rsplit('=').next().unwrap().to_string();
    let fields = [
        ("service_id", service.as_str()),
        ("name", name),
        ("mode", "generate"),
    ];
    let response = admin
        .submit(page, "/projects/team/credentials", &fields)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the add is done");
    let (id, old_key): (String, String) =
        sqlx::query_as("select id, access_key from credentials where name = $1")
            .bind(name)
            .fetch_one(db.pool())
            .await
            .unwrap();
    let backend_user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let regenerate = format!("/projects/team/credentials/{id}/regenerate");
    let pending = post_in_background(admin, page, &regenerate, &[("confirm", "yes")]).await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(
        pending.await.unwrap().is_err(),
        "the request died with its process"
    );
    let (state, new_key): (String, String) =
        sqlx::query_as("select state, access_key from credentials where id = $1")
            .bind(&id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(
        state, "retiring",
        "the new key is recorded, the old one not yet revoked"
    );
    assert_ne!(new_key, old_key);
    KilledRegeneration {
        id,
        old_key,
        new_key,
        backend_user,
    }
}
