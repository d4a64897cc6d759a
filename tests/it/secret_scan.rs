//! Known secrets are written through the real binary, then looked for everywhere they must not
//! be: the database files, the server log, and the HTML of every page of every role.

use std::{
    process::{Child, Command},
    time::{Duration, Instant},
};

use reqwest::StatusCode;

use crate::{
    credentials::{credential_ids, revealed_secret},
    helpers::{PASSWORD, TestDb, csrf_token},
};

const SECRETS: [&str; 2] = [
    "Zq8secretVALUEnumber1xkcd936",
    "pa55w0rd-for-the-openstack-user-77",
];

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn secrets_never_reach_the_database_in_clear_the_log_or_pages_that_do_not_reveal() {
    let db = TestDb::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = db.dir.path().join("server.log");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_keyport"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("KEYPORT_DATABASE_URL", &db.url)
            .env("KEYPORT_MASTER_KEY_FILE", &db.key_file)
            .env("KEYPORT_LOG", "debug")
            .env_remove("KEYPORT_MASTER_KEY")
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = |_: &str| {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let submit =
        async |client: &reqwest::Client, page: &str, action: &str, fields: &[(&str, &str)]| {
            let html = client
                .get(format!("{base}{page}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let token = csrf_token(&html).unwrap();
            let mut all = vec![("csrf_token", token.as_str())];
            all.extend_from_slice(fields);
            let response = client
                .post(format!("{base}{action}"))
                .form(&all)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_redirection() || response.status().is_success(),
                "{action}: {}",
                response.status()
            );
            response
        };

    let owner = client("owner");
    submit(
        &owner,
        "/setup",
        "/setup",
        &[
            ("email", "ada@example.org"),
            ("name", "Ada"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    submit(
        &owner,
        "/projects",
        "/projects",
        &[("name", "Team"), ("slug", "team")],
    )
    .await;
    let html = submit(
        &owner,
        "/admin/users",
        "/admin/users",
        &[("email", "vic@example.org"), ("name", "Vic")],
    )
    .await
    .text()
    .await
    .unwrap();
    let link = crate::helpers::password_link(&html);
    let viewer = client("viewer");
    submit(
        &viewer,
        &link,
        &link,
        &[("password", PASSWORD), ("password_confirm", PASSWORD)],
    )
    .await;
    submit(
        &viewer,
        "/login",
        "/login",
        &[("email", "vic@example.org"), ("password", PASSWORD)],
    )
    .await;
    submit(
        &owner,
        "/projects/team/members",
        "/projects/team/members",
        &[("email", "vic@example.org"), ("role", "viewer")],
    )
    .await;
    let mut pages = Vec::new();
    for (kind, secret) in [("s3", SECRETS[0]), ("openstack", SECRETS[1])] {
        let response = submit(
            &owner,
            "/projects/team/services",
            "/projects/team/services",
            &[
                ("kind", kind),
                ("name", kind),
                ("max_keys_per_owner", "2"),
                ("os_project_name", "p"),
                ("os_user_domain", "D"),
                ("os_project_domain", "D"),
            ],
        )
        .await;
        let service = response.headers()["location"]
            .to_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let page = format!("/projects/team/credentials?service={service}");
        submit(
            &owner,
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", &service),
                ("name", "imported"),
                ("mode", "import"),
                ("access_key", "AKIDPUBLIC"),
                ("secret", secret),
            ],
        )
        .await;
        // Revealed once, as a user would.
        let html = owner
            .get(format!("{base}{page}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let id = credential_ids(&html)[0].clone();
        let shown = submit(
            &owner,
            &page,
            &format!("/projects/team/credentials/{id}/reveal"),
            &[],
        )
        .await
        .text()
        .await
        .unwrap();
        assert_eq!(
            revealed_secret(&shown, &id).as_deref(),
            Some(secret),
            "the reveal works"
        );
        pages.push(page);
    }

    // Pages that do not reveal, for both roles.
    let mut every_page = vec![
        "/projects".to_string(),
        "/projects/team".into(),
        "/projects/team/services".into(),
        "/projects/team/endpoints".into(),
        "/projects/team/members".into(),
        "/projects/team/apps".into(),
        "/projects/team/audit".into(),
        "/admin/users".into(),
        "/account".into(),
    ];
    every_page.extend(pages.iter().cloned());
    for who in [&owner, &viewer] {
        for page in &every_page {
            let response = who.get(format!("{base}{page}")).send().await.unwrap();
            let status = response.status();
            let html = response.text().await.unwrap();
            assert!(
                matches!(status, StatusCode::OK | StatusCode::FORBIDDEN),
                "{page}: {status}"
            );
            for secret in SECRETS {
                assert!(!html.contains(secret), "{page} shows a secret");
            }
        }
    }

    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("request"),
        "the log was written: {}",
        log.len()
    );
    let mut files = vec![log.into_bytes()];
    for suffix in ["", "-wal", "-shm"] {
        let path = db.dir.path().join(format!("keyport.db{suffix}"));
        if let Ok(bytes) = std::fs::read(&path) {
            files.push(bytes);
        }
    }
    if db.url.starts_with("postgres") {
        // Every row of every table, as PostgreSQL prints it (bytea as hex).
        let conn = keyport::db::Db::connect(&db.url).await.unwrap();
        for table in [
            "settings",
            "users",
            "password_links",
            "projects",
            "memberships",
            "sessions",
            "services",
            "endpoints",
            "apps",
            "credentials",
            "audit_events",
        ] {
            let rows: Option<String> =
                sqlx::query_scalar(&format!("select string_agg(t::text, ' ') from {table} t"))
                    .fetch_one(conn.pool())
                    .await
                    .unwrap();
            files.push(rows.unwrap_or_default().into_bytes());
        }
        for secret in SECRETS {
            let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
            assert!(
                !files
                    .iter()
                    .any(|f| String::from_utf8_lossy(f).contains(&hex)),
                "a secret in a bytea column"
            );
        }
    }
    for (i, bytes) in files.iter().enumerate() {
        for secret in SECRETS.iter().chain([&PASSWORD]) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "file {i} holds {secret}"
            );
        }
    }
}
