//! The `keyport` command: help, migrate, user create, the master key checks, SIGTERM.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use keyport::App;
use reqwest::StatusCode;

use crate::{
    helpers::{PASSWORD, TestDb},
    process::{self, Server},
};

fn keyport(db: &TestDb, args: &[&str], stdin: &str) -> Output {
    let mut child = process::keyport(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the keyport binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn every_command_has_help() {
    let db = TestDb::new().await;
    for (args, expected) in [
        (vec!["--help"], "serve"),
        (vec!["serve", "--help"], "--listen"),
        (vec!["migrate", "--help"], "--database-url"),
        (vec!["user", "--help"], "create"),
        (vec!["user", "create", "--help"], "--password-stdin"),
    ] {
        let output = keyport(&db, &args, "");
        assert!(output.status.success(), "{args:?}");
        assert!(
            text(&output).contains(expected),
            "{args:?}: {}",
            text(&output)
        );
    }
}

/// The portal's own settings, which only `serve` (and `keyport` alone) takes.
const PORTAL_SETTINGS: [&str; 6] = [
    "--listen",
    "--public-url",
    "--session-idle-minutes",
    "--token-exchanges-per-second",
    "--max-connections",
    "--trusted-proxies",
];

#[tokio::test]
async fn each_command_offers_the_settings_it_uses_and_no_others() {
    let db = TestDb::new().await;
    let help = |args: &[&str]| {
        let output = keyport(&db, args, "");
        assert!(output.status.success(), "{args:?}: {}", text(&output));
        text(&output)
    };

    let run = help(&["run", "--help"]);
    for setting in PORTAL_SETTINGS
        .iter()
        .chain(&["--database-url", "--master-key-file"])
    {
        assert!(!run.contains(setting), "{setting} in `run --help`: {run}");
    }
    assert!(
        run.contains("--url") && run.contains("KEYPORT_URL"),
        "`run --help` says where the portal is: {run}"
    );

    for args in [&["serve", "--help"][..], &["--help"]] {
        let serve = help(args);
        for setting in PORTAL_SETTINGS
            .iter()
            .chain(&["--database-url", "--master-key-file"])
        {
            assert!(serve.contains(setting), "{setting} in {args:?}: {serve}");
        }
    }

    let migrate = help(&["migrate", "--help"]);
    assert!(migrate.contains("--database-url"), "{migrate}");
    for setting in PORTAL_SETTINGS.iter().chain(&["--master-key-file"]) {
        assert!(!migrate.contains(setting), "{setting} in `migrate --help`");
    }
    for args in [
        &["user", "create", "--help"][..],
        &["master-key", "rotate", "--help"],
        &["api-key", "create", "--help"],
        &["token-key", "rotate", "--help"],
    ] {
        let command = help(args);
        assert!(
            command.contains("--database-url") && command.contains("--master-key-file"),
            "{args:?}: {command}"
        );
        for setting in PORTAL_SETTINGS {
            assert!(
                !command.contains(setting),
                "{setting} in {args:?}: {command}"
            );
        }
    }

    // `keyport` alone takes the portal's settings; another command refuses them.
    let output = keyport(&db, &["--listen", "not-an-address"], "");
    assert!(!output.status.success());
    assert!(
        text(&output).contains("invalid value 'not-an-address' for '--listen"),
        "{}",
        text(&output)
    );
    let output = keyport(&db, &["migrate", "--listen", "127.0.0.1:1"], "");
    assert!(!output.status.success());
    assert!(
        text(&output).contains("unexpected argument '--listen'"),
        "{}",
        text(&output)
    );
}

/// The tables of the test database, and how many migrations it records as applied.
async fn schema(db: &TestDb) -> (Vec<String>, i64) {
    let conn = keyport::db::Db::connect(&db.url).await.unwrap();
    let tables_sql = if db.url.starts_with("postgres") {
        "select table_name::text from information_schema.tables
         where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1"
    } else {
        "select name from sqlite_master where type = 'table' order by 1"
    };
    let tables: Vec<String> = sqlx::query_scalar(tables_sql)
        .fetch_all(conn.pool())
        .await
        .unwrap();
    let applied: i64 = if tables.iter().any(|t| t == "_sqlx_migrations") {
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
            .fetch_one(conn.pool())
            .await
            .unwrap()
    } else {
        0
    };
    conn.close().await;
    (tables, applied)
}

#[tokio::test]
async fn migrate_applies_migrations_and_exits() {
    let db = TestDb::new().await;
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count() as i64;
    let (tables, applied) = schema(&db).await;
    assert!(!tables.iter().any(|t| t == "users"), "an empty database");
    assert_eq!(applied, 0);

    let output = keyport(&db, &["migrate"], "");
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("migrations applied"));
    let (tables, applied) = schema(&db).await;
    for table in [
        "settings",
        "users",
        "password_links",
        "projects",
        "memberships",
        "sessions",
        "services",
        "endpoints",
        "credentials",
        "audit_events",
        "backend_users",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
    assert_eq!(applied, migrations, "every migration is recorded");

    let output = keyport(&db, &["migrate"], "");
    assert!(
        output.status.success(),
        "migrating twice is harmless: {}",
        text(&output)
    );
    assert_eq!(
        schema(&db).await,
        (tables, applied),
        "and changes nothing the second time"
    );
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin() {
    let db = TestDb::new().await;
    let output = keyport(
        &db,
        &[
            "user",
            "create",
            "--email",
            "dev@example.org",
            "--name",
            "Dev",
            "--password-stdin",
        ],
        PASSWORD,
    );
    assert!(output.status.success(), "{}", text(&output));
    let marker = keyport::db::settings::get(
        keyport::db::Db::connect(&db.url).await.unwrap().pool(),
        keyport::db::settings::SETUP_DONE,
    )
    .await
    .unwrap();
    assert!(
        marker.is_none(),
        "a user who is not an admin leaves the setup open"
    );
    let output = keyport(
        &db,
        &[
            "user",
            "create",
            "--email",
            "Ops@Example.org",
            "--name",
            "Ops",
            "--admin",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("ops@example.org"));
    // Made through the admin page's operation: audited, in the command line's name.
    let audited: Vec<(String, String, String)> = sqlx::query_as(
        "select actor, target, detail from audit_events where action = 'user.create' order by id",
    )
    .fetch_all(keyport::db::Db::connect(&db.url).await.unwrap().pool())
    .await
    .unwrap();
    assert_eq!(
        audited,
        vec![
            ("command line".into(), "dev@example.org".into(), "".into()),
            (
                "command line".into(),
                "ops@example.org".into(),
                "instance administrator".into()
            ),
        ]
    );

    let output = keyport(
        &db,
        &[
            "user",
            "create",
            "--email",
            "ops@example.org",
            "--name",
            "Again",
            "--password-stdin",
        ],
        PASSWORD,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("already exists"),
        "{}",
        text(&output)
    );

    let output = keyport(
        &db,
        &[
            "user",
            "create",
            "--email",
            "new@example.org",
            "--name",
            "New",
            "--password-stdin",
        ],
        "short\n",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("at least 12 characters"));
    let output = keyport(
        &db,
        &[
            "user",
            "create",
            "--email",
            "new@example.org",
            "--name",
            "New",
        ],
        "",
    );
    assert!(!output.status.success(), "--password-stdin is required");

    // The portal starts with the key the command generated, the setup is closed, and the
    // user signs in with the password given on stdin.
    let app = App::build(db.config())
        .await
        .expect("the portal starts after `user create`");
    let url = format!("http://{}", app.local_addr());
    tokio::spawn(app.serve(std::future::pending()));
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        client
            .get(format!("{url}/setup"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let html = client
        .get(format!("{url}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = crate::helpers::csrf_token(&html).unwrap();
    let response = client
        .post(format!("{url}/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ops@example.org"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_master_key_is_generated_once_and_then_required() {
    let db = TestDb::new().await;
    let app = App::build(db.config()).await.expect("first start");
    drop(app);
    let key = std::fs::read(&db.key_file).expect("a key was generated");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&db.key_file)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    App::build(db.config())
        .await
        .expect("a second start reuses the key");
    assert_eq!(
        std::fs::read(&db.key_file).unwrap(),
        key,
        "the key is not replaced"
    );

    // Another key is refused.
    let wrong = db.dir.path().join("other.key");
    keyport::crypto::master_key::MasterKey::generate()
        .write_new_file(&wrong)
        .unwrap();
    let mut config = db.config();
    config.master_key.file = wrong;
    let error = App::build(config)
        .await
        .err()
        .expect("a wrong key is refused");
    assert!(
        format!("{error:#}").contains("is not the one this database was written with"),
        "{error:#}"
    );

    // A missing key is refused, and none is generated in its place.
    std::fs::remove_file(&db.key_file).unwrap();
    let error = App::build(db.config())
        .await
        .err()
        .expect("a missing key is refused");
    assert!(format!("{error:#}").contains("is missing"), "{error:#}");
    assert!(!db.key_file.exists());

    // The same key given in the environment's base64 form works.
    let mut config = db.config();
    config.master_key.value = Some(String::from_utf8(key).unwrap().trim().to_string());
    App::build(config)
        .await
        .expect("the key from KEYPORT_MASTER_KEY");
}

#[tokio::test]
async fn serve_logs_where_things_are_and_stops_on_sigterm() {
    let db = TestDb::new().await;
    let mut server = Server::start(&db, &[]).await;
    let port = server.port;
    let healthcheck = |port: u16| {
        process::keyport(&db)
            .args(["healthcheck", "--listen", &format!("0.0.0.0:{port}")])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(healthcheck(port), "the health check passes while serving");
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "a clean exit after SIGTERM: {exit:?}");
    let log = server.log_text();
    assert!(
        log.contains("generated a new master key") && log.contains("back this file up"),
        "{log}"
    );
    assert!(
        log.contains(&db.key_file.display().to_string()),
        "the log says where the key is"
    );
    assert!(log.contains("database ready"));
    assert!(log.contains("shutting down"));
    assert!(!healthcheck(port), "and fails once stopped");
}
