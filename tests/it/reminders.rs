//! Reminders, delivered to a real SMTP server on loopback (aiosmtpd, from PyPI, with STARTTLS
//! where the test says so) and to a webhook receiver here that checks the HMAC signature with
//! its own code: one message per condition and channel, across restarts and across processes
//! that run the check at the same moment; failures retried and shown on the settings page.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use tempfile::TempDir;

use crate::{
    backends::{Process, free_port, test_venv},
    credentials::{Team, team},
    helpers::{TestApp, TestDb, Visitor, text, texts},
    process::{Server, keyport, set_hook},
    rotation_policy::{DAY, now, set_key, set_policy},
};

/// The SMTP server: aiosmtpd run by `smtp_server.py`, which writes each message it accepts to
/// a file.
pub struct Smtp {
    pub port: u16,
    out: PathBuf,
    _dir: TempDir,
    _process: Process,
}

/// A message as the SMTP server received it.
#[derive(Debug)]
pub struct Mail {
    pub to: Vec<String>,
    /// The message with its headers unfolded and its quoted-printable soft breaks joined.
    pub data: String,
    pub tls: bool,
    /// The name the client greeted with (EHLO).
    pub helo: String,
}

/// A CA and a certificate for 127.0.0.1 issued by it (openssl), for STARTTLS.
pub struct Certificates {
    pub ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

impl Certificates {
    pub fn make(dir: &std::path::Path) -> Certificates {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Test CA",
        ]);
        openssl(dir, &ca);
        let mut request = vec!["req", "-new", "-nodes"];
        request.extend(ec);
        request.extend([
            "-keyout",
            "smtp.key",
            "-out",
            "smtp.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(dir, &request);
        std::fs::write(
            dir.join("smtp.ext"),
            "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "smtp.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "smtp.ext",
                "-out",
                "smtp.pem",
            ],
        );
        Certificates {
            ca: dir.join("ca.pem"),
            cert: dir.join("smtp.pem"),
            key: dir.join("smtp.key"),
        }
    }
}

impl Smtp {
    /// Plain SMTP, or with `certificates` STARTTLS required.
    pub async fn start(certificates: Option<&Certificates>) -> Smtp {
        let python = test_venv().join("bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/install-test-deps.sh",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mail");
        std::fs::create_dir(&out).unwrap();
        let port = free_port();
        let mut command = Command::new(python);
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/it/smtp_server.py"
            ))
            .args(["--port", &port.to_string(), "--out"])
            .arg(&out);
        if let Some(c) = certificates {
            command.arg("--cert").arg(&c.cert).arg("--key").arg(&c.key);
        }
        let process = Process::start(&mut command);
        let started = Instant::now();
        // Ready once it greets.
        loop {
            if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let mut greeting = [0u8; 3];
                stream.readable().await.unwrap();
                if stream.try_read(&mut greeting).is_ok_and(|n| n == 3) && &greeting == b"220" {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "aiosmtpd starts"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Smtp {
            port,
            out,
            _dir: dir,
            _process: process,
        }
    }

    pub fn messages(&self) -> Vec<Mail> {
        let mut mails = Vec::new();
        for entry in std::fs::read_dir(&self.out).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let data = record["data"]
                .as_str()
                .unwrap()
                .replace("=\r\n", "")
                .replace("\r\n ", " ")
                .replace("=3D", "=");
            mails.push(Mail {
                to: record["to"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect(),
                data,
                tls: record["tls"].as_bool().unwrap(),
                helo: record["helo"].as_str().unwrap_or_default().to_string(),
            });
        }
        mails
    }

    /// While on, the server answers 451 to every message.
    pub fn refuse(&self, on: bool) {
        let flag = self.out.join("refuse");
        if on {
            std::fs::write(flag, "").unwrap();
        } else {
            std::fs::remove_file(flag).unwrap();
        }
    }
}

/// A webhook request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Hook {
    pub delivery: String,
    pub body: serde_json::Value,
}

pub struct Receiver {
    pub url: String,
    pub secret_file: PathBuf,
    state: Arc<ReceiverState>,
    _dir: TempDir,
}

struct ReceiverState {
    secret: Vec<u8>,
    accepted: Mutex<Vec<Hook>>,
    /// Requests whose signature did not check out (refused with 401).
    forged: AtomicUsize,
    /// Requests still to be answered 503.
    failures: AtomicUsize,
}

/// Checks `X-Keyport-Signature: t=<seconds>,v1=<hex>` as README describes it: HMAC-SHA256 under
/// the secret of `<t>.<body>`, and `t` within five minutes of now.
fn signature_checks(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut tag = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", hex)) => tag = Some(hex.to_string()),
            _ => {}
        }
    }
    let (Some(timestamp), Some(hex)) = (timestamp, tag) else {
        return false;
    };
    if (now() - timestamp).abs() > 300 || hex.len() != 64 {
        return false;
    }
    let Ok(tag) = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    ring::hmac::verify(&key, &signed, &tag).is_ok()
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = headers
        .get("x-keyport-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !signature_checks(&state.secret, header, &body) {
        state.forged.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::UNAUTHORIZED, "bad signature");
    }
    if state
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "receiver busy");
    }
    let delivery = headers
        .get("x-keyport-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = serde_json::from_slice(&body).expect("the body is JSON");
    state.accepted.lock().unwrap().push(Hook { delivery, body });
    (StatusCode::OK, "ok")
}

impl Receiver {
    pub async fn start() -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let secret = "a webhook secret of some length";
        let secret_file = dir.path().join("webhook.secret");
        std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
        let state = Arc::new(ReceiverState {
            secret: secret.as_bytes().to_vec(),
            accepted: Mutex::default(),
            forged: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/hooks/T0/secret-path", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hooks/T0/secret-path",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver {
            url,
            secret_file,
            state,
            _dir: dir,
        }
    }

    pub fn accepted(&self) -> Vec<Hook> {
        self.state.accepted.lock().unwrap().clone()
    }

    pub fn forged(&self) -> usize {
        self.state.forged.load(Ordering::SeqCst)
    }

    /// The next `n` requests are answered 503.
    pub fn fail_next(&self, n: usize) {
        self.state.failures.store(n, Ordering::SeqCst);
    }
}

/// The settings that send reminders to `smtp` and `receiver`.
pub fn settings(smtp: &Smtp, receiver: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        (
            "KEYPORT_SMTP_URL",
            format!("smtp://127.0.0.1:{}", smtp.port),
        ),
        (
            "KEYPORT_SMTP_FROM",
            "Keyport <keyport@example.org>".to_string(),
        ),
        ("KEYPORT_WEBHOOK_URL", receiver.url.clone()),
        ("KEYPORT_PUBLIC_URL", "https://keys.example.org".to_string()),
        (
            "KEYPORT_WEBHOOK_SECRET_FILE",
            receiver.secret_file.display().to_string(),
        ),
    ]
}

/// `keyport reminders run` on `db` with `env`; its standard output.
pub async fn run(db: &TestDb, env: &[(&'static str, String)]) -> String {
    let mut command = keyport(db);
    command.args(["reminders", "run"]);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "keyport reminders run: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Project `team` with a 30-day policy warned 7 days ahead, and keys in each condition:
/// `late` (the owner's, 40 days old: overdue), `members` (the member's, 35 days old: overdue),
/// `ending` (expires in 3 days) and `fresh` (nothing to tell).
pub async fn arrange(app: &TestApp) -> Team {
    let team = team(app, "s3").await;
    let response = set_policy(&team.owner, &team, "30", "7").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "policy saved");
    for name in ["late", "ending", "fresh"] {
        let response = team.add(&team.owner, name, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name} added");
    }
    let response = team.add(&team.member, "members", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "members added");
    let now = now();
    set_key(app, "late", "created_at = $1", now - 40 * DAY).await;
    set_key(app, "members", "created_at = $1", now - 35 * DAY).await;
    set_key(app, "ending", "expires_at = $1", now + 3 * DAY - 600).await;
    team
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// Waits until `what` holds, for at most 30 seconds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn subjects(smtp: &Smtp) -> Vec<String> {
    let mut subjects: Vec<String> = smtp
        .messages()
        .iter()
        .map(|m| {
            m.data
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    subjects.sort();
    subjects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_condition_is_told_once_by_email_and_signed_webhook_across_restarts() {
    let smtp = Smtp::start(None).await;
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    arrange(&app).await;
    let env = settings(&smtp, &receiver);
    let db = app.test_db();

    let said = run(db, &env).await;
    assert!(
        said.contains("3 conditions found, 3 new; 6 messages delivered, 0 failed"),
        "{said}"
    );
    let mut mails = smtp.messages();
    mails.sort_by_key(|m| m.to.len());
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert!(mails.iter().all(|m| !m.tls), "plain SMTP here");
    // The owner (holder and project owner) of each key; for the member's key, the member too.
    assert_eq!(mails[0].to, ["ada@example.org"]);
    assert_eq!(mails[1].to, ["ada@example.org"]);
    assert_eq!(mails[2].to, ["ada@example.org", "member@example.org"]);
    let subjects = subjects(&smtp);
    assert_eq!(
        subjects,
        [
            "Keyport: key ending of Object storage in Project team expires in 3 days",
            "Keyport: key late of Object storage in Project team overdue by 10 days",
            "Keyport: key members of Object storage in Project team overdue by 5 days",
        ],
        "{mails:?}"
    );
    let members = &mails[2].data;
    assert!(
        members.contains("From: Keyport <keyport@example.org>"),
        "{members}"
    );
    assert!(
        members.contains("https://keys.example.org/projects/team/credentials?service="),
        "the message links to the keys: {members}"
    );
    assert!(
        mails.iter().all(|m| m.helo == "keys.example.org"),
        "Keyport greets with its public name: {mails:?}"
    );

    let hooks = receiver.accepted();
    assert_eq!(hooks.len(), 3, "{hooks:?}");
    assert_eq!(receiver.forged(), 0, "every request is signed");
    let mut kinds: Vec<(String, String)> = hooks
        .iter()
        .map(|h| {
            (
                h.body["keyport"]["credential"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                h.body["keyport"]["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("ending".to_string(), "expiring-soon".to_string()),
            ("late".to_string(), "overdue".to_string()),
            ("members".to_string(), "overdue".to_string()),
        ]
    );
    let late = hooks
        .iter()
        .find(|h| h.body["keyport"]["credential"] == "late")
        .unwrap();
    assert!(
        late.body["text"]
            .as_str()
            .unwrap()
            .contains("overdue by 10 days"),
        "Slack's `text`: {:?}",
        late.body
    );
    assert!(!late.delivery.is_empty(), "each request names its message");

    // A second run, as after a restart: every condition is known, nothing is sent again.
    let said = run(db, &env).await;
    assert!(
        said.contains("3 conditions found, 0 new; 0 messages delivered, 0 failed"),
        "{said}"
    );
    // A rotation gives the key a new due date: a new condition, told once.
    set_key(&app, "late", "rotated_at = $1", now() - 31 * DAY).await;
    let said = run(db, &env).await;
    assert!(
        said.contains("3 conditions found, 1 new; 2 messages delivered"),
        "{said}"
    );
    assert_eq!(smtp.messages().len(), 4);
    assert_eq!(receiver.accepted().len(), 4);
    assert_eq!(
        count(&app, "select count(*) from reminder_conditions").await,
        4
    );
}

/// By email only, a key whose holder and project admins are all disabled has nobody to be told:
/// its condition is not recorded, so that it is told once somebody can read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_with_nobody_to_write_to_is_told_once_somebody_can_read_it() {
    let smtp = Smtp::start(None).await;
    let app = TestApp::spawn().await;
    arrange(&app).await;
    let env: Vec<(&'static str, String)> = vec![
        (
            "KEYPORT_SMTP_URL",
            format!("smtp://127.0.0.1:{}", smtp.port),
        ),
        (
            "KEYPORT_SMTP_FROM",
            "Keyport <keyport@example.org>".to_string(),
        ),
        ("KEYPORT_PUBLIC_URL", "https://keys.example.org".to_string()),
    ];
    let db = app.test_db();
    let set_disabled = async |disabled: i64| {
        sqlx::query("update users set disabled = $1")
            .bind(disabled)
            .execute(app.db.pool())
            .await
            .unwrap();
    };

    set_disabled(1).await;
    let said = run(db, &env).await;
    assert!(
        said.contains("3 conditions found, 0 new; 0 messages delivered, 0 failed"),
        "{said}"
    );
    assert_eq!(
        count(&app, "select count(*) from reminder_conditions").await,
        0
    );
    assert!(smtp.messages().is_empty());

    set_disabled(0).await;
    let said = run(db, &env).await;
    assert!(
        said.contains("3 conditions found, 3 new; 3 messages delivered, 0 failed"),
        "{said}"
    );
    assert_eq!(smtp.messages().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_portal_checks_at_start_and_after_a_restart_tells_nothing_again() {
    let smtp = Smtp::start(None).await;
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    arrange(&app).await;
    let env = settings(&smtp, &receiver);
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let db = app.test_db();

    // No check has run yet: a serving process checks at once and delivers in the background.
    let server = Server::start(db, &env).await;
    wait_until("the background sends every message", || {
        smtp.messages().len() == 3 && receiver.accepted().len() == 3
    })
    .await;
    server.wait_for_log("found=3 new=3").await;
    // The servers accepted every message; the portal records each as sent just after.
    let started = Instant::now();
    while count(
        &app,
        "select count(*) from reminder_deliveries where status = 'sent'",
    )
    .await
        < 6
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "every delivery is recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = server.log_text();
    assert!(
        !log.contains("secret-path") && !log.contains("a webhook secret"),
        "no secret in the log: {log}"
    );
    server.kill();

    // Restarted a day later (the last check made a day old), it checks again and tells nothing
    // again.
    sqlx::query("update settings set value = $1 where key = 'reminders_last_check'")
        .bind((now() - DAY - 60).to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    let server = Server::start(db, &env).await;
    server.wait_for_log("found=3 new=0").await;
    server.kill();
    assert_eq!(smtp.messages().len(), 3);
    assert_eq!(receiver.accepted().len(), 3);
    assert_eq!(
        count(
            &app,
            "select count(*) from reminder_deliveries where status = 'sent'"
        )
        .await,
        6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_checking_at_once_tell_each_condition_once() {
    let smtp = Smtp::start(None).await;
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    arrange(&app).await;
    let env = settings(&smtp, &receiver);
    let db = app.test_db();
    // Three processes on one database (PostgreSQL when the suite runs on it) at the same time.
    let runs = futures::future::join_all((0..3).map(|_| run(db, &env))).await;
    let new: usize = runs
        .iter()
        .map(|said| {
            let (_, rest) = said.split_once("found, ").unwrap();
            rest.split(' ').next().unwrap().parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(
        new, 3,
        "each condition is recorded by one process: {runs:?}"
    );
    let sent: usize = runs
        .iter()
        .map(|said| {
            let (_, rest) = said.split_once("new; ").unwrap();
            rest.split(' ').next().unwrap().parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(sent, 6, "each message is sent by one process: {runs:?}");
    assert_eq!(smtp.messages().len(), 3);
    assert_eq!(receiver.accepted().len(), 3);
    let mut deliveries: Vec<String> = receiver
        .accepted()
        .into_iter()
        .map(|h| h.delivery)
        .collect();
    deliveries.dedup();
    assert_eq!(deliveries.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_waits_is_shown_on_the_settings_page_and_is_sent_later() {
    let smtp = Smtp::start(None).await;
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    let team = arrange(&app).await;
    let env = settings(&smtp, &receiver);
    let db = app.test_db();
    smtp.refuse(true);
    receiver.fail_next(100);

    let said = run(db, &env).await;
    assert!(
        said.contains("3 new; 0 messages delivered, 6 failed"),
        "{said}"
    );
    let (attempts, waits): (i64, i64) = sqlx::query_as(
        "select min(attempts), min(next_attempt_at) - $1 from reminder_deliveries where status = 'pending'",
    )
    .bind(now())
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(attempts, 1);
    assert!((50..=61).contains(&waits), "a minute's wait: {waits}");
    // The settings page tells: how many wait, each one's error and next attempt.
    let (status, html) = team.owner.get_text("/admin/settings").await;
    assert_eq!(status, StatusCode::OK);
    let warning = text(&html, "p.notice.warning").unwrap();
    assert!(
        warning.contains("6 messages are not delivered yet (6 failed at their last attempt)"),
        "{warning}"
    );
    let rows = texts(&html, "table.reminders tbody tr");
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(
        rows.iter().any(|r| r.contains("failed 1 time")
            && r.contains("(451): 4.3.0 Mailbox busy")
            && r.contains("Next attempt")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("HTTP 503: receiver busy") && r.contains("Next attempt")),
        "{rows:?}"
    );
    assert!(
        !html.contains("secret-path"),
        "the webhook's path is not shown"
    );
    // Run again at once: nothing is due yet.
    let said = run(db, &env).await;
    assert!(said.contains("0 messages delivered, 0 failed"), "{said}");
    assert!(smtp.messages().is_empty());

    // The wait is over and the servers take mail again: each message goes once.
    smtp.refuse(false);
    receiver.fail_next(0);
    sqlx::query("update reminder_deliveries set next_attempt_at = $1")
        .bind(now() - 1)
        .execute(app.db.pool())
        .await
        .unwrap();
    let said = run(db, &env).await;
    assert!(said.contains("6 messages delivered, 0 failed"), "{said}");
    assert_eq!(smtp.messages().len(), 3);
    assert_eq!(receiver.accepted().len(), 3);
    let (_, html) = team.owner.get_text("/admin/settings").await;
    assert!(text(&html, "p.notice.warning").is_none(), "nothing waits");
    let rows = texts(&html, "table.reminders tbody tr");
    assert!(rows.iter().all(|r| r.contains("sent")), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_stopped_after_its_claim_leaves_the_message_to_the_next_once_the_claim_ends() {
    let smtp = Smtp::start(None).await;
    let receiver = Receiver::start().await;
    let app = TestApp::spawn().await;
    arrange(&app).await;
    let env = settings(&smtp, &receiver);
    let db = app.test_db();

    // The sender stops after claiming its first message, before sending it.
    let log = db.dir.path().join("stopped.log");
    let mut command = keyport(db);
    command
        .args(["reminders", "run"])
        .stderr(std::fs::File::create(&log).unwrap());
    for (name, value) in &env {
        command.env(name, value);
    }
    set_hook(&mut command, "KEYPORT_FAILPOINT", "reminder-claimed");
    let mut stopped = command.spawn().unwrap();
    wait_until("the sender reaches its failpoint", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("failpoint reached"))
    })
    .await;
    stopped.kill().unwrap();
    stopped.wait().unwrap();
    assert!(smtp.messages().is_empty() && receiver.accepted().is_empty());
    assert_eq!(
        count(
            &app,
            "select count(*) from reminder_deliveries where claimed_until is not null"
        )
        .await,
        1
    );

    // While the claim holds, another sender leaves that message alone and sends the others.
    let said = run(db, &env).await;
    assert!(
        said.contains("0 new; 5 messages delivered, 0 failed"),
        "{said}"
    );
    // Once it has run out, the message is sent: once.
    sqlx::query(
        "update reminder_deliveries set claimed_until = $1 where claimed_until is not null",
    )
    .bind(now() - 1)
    .execute(app.db.pool())
    .await
    .unwrap();
    let said = run(db, &env).await;
    assert!(said.contains("1 messages delivered, 0 failed"), "{said}");
    assert_eq!(smtp.messages().len(), 3);
    assert_eq!(receiver.accepted().len(), 3);
    assert_eq!(
        count(
            &app,
            "select count(*) from reminder_deliveries where status = 'sent'"
        )
        .await,
        6
    );
}

/// The settings of a portal that sends to `smtp` (STARTTLS, its CA given) and `receiver`.
pub fn configure(
    config: &mut keyport::config::Config,
    smtp: &Smtp,
    certificates: &Certificates,
    receiver: &Receiver,
) {
    config.reminders.smtp_url = Some(format!("smtp://127.0.0.1:{}?tls=required", smtp.port));
    config.reminders.smtp_from = Some("Keyport <keyport@example.org>".into());
    config.reminders.smtp_ca_file = Some(certificates.ca.clone());
    config.reminders.webhook_url = Some(receiver.url.clone());
    config.reminders.webhook_secret_file = Some(receiver.secret_file.clone());
}

async fn send_test(who: &Visitor) -> (StatusCode, String) {
    let response = who
        .submit("/admin/settings", "/admin/settings/reminders/test", &[])
        .await;
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_message_goes_over_starttls_and_the_page_shows_each_servers_answer() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = Certificates::make(dir.path());
    let smtp = Smtp::start(Some(&certificates)).await;
    let receiver = Receiver::start().await;
    let app =
        TestApp::spawn_with(|config| configure(config, &smtp, &certificates, &receiver)).await;
    let admin = app.admin().await;

    let (_, html) = admin.get_text("/admin/settings").await;
    let facts = texts(&html, "dl.facts dd");
    assert!(
        facts[0].contains(&format!("127.0.0.1:{}", smtp.port))
            && facts[0].contains("STARTTLS, required"),
        "{facts:?}"
    );
    assert!(
        facts[1].contains("signed with X-Keyport-Signature") && !facts[1].contains("secret-path"),
        "{facts:?}"
    );

    let (status, html) = send_test(&admin).await;
    assert_eq!(status, StatusCode::OK);
    let answers = texts(&html, ".test-answers p");
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers[0].starts_with("Email to ada@example.org: delivered.")
            && answers[0].contains("250 2.0.0 Accepted as"),
        "{answers:?}"
    );
    assert!(
        answers[1].contains("Webhook at http://127.0.0.1:")
            && answers[1].contains("delivered.")
            && answers[1].contains("HTTP 200: ok"),
        "{answers:?}"
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].tls, "the mail went over STARTTLS");
    assert_eq!(mails[0].to, ["ada@example.org"], "to the admin alone");
    assert_eq!(receiver.accepted().len(), 1);
    assert_eq!(receiver.accepted()[0].body["keyport"]["kind"], "test");

    // A failing webhook: the page says so, with its answer.
    receiver.fail_next(1);
    let (_, html) = send_test(&admin).await;
    let answers = texts(&html, ".test-answers p");
    assert!(
        answers[1].contains("not delivered") && answers[1].contains("HTTP 503: receiver busy"),
        "{answers:?}"
    );
    let audited = count(
        &app,
        "select count(*) from audit_events where action = 'reminders.test' and project_id is null",
    )
    .await;
    assert_eq!(audited, 2, "each test message is audited");

    // Only instance admins; and never without the form's CSRF token.
    let member = app.user("mo@example.org", "Mo").await;
    let response = member
        .submit("/account", "/admin/settings/reminders/test", &[])
        .await;
    assert!(
        matches!(
            response.status(),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ),
        "{}",
        response.status()
    );
    let response = admin
        .client
        .post(admin.url("/admin/settings/reminders/test"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(
        smtp.messages().len(),
        2,
        "the refused requests sent nothing"
    );
}

#[tokio::test]
async fn without_channels_the_page_says_so_and_no_test_is_sent() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (_, html) = admin.get_text("/admin/settings").await;
    let facts = texts(&html, "dl.facts dd");
    assert!(facts[0].contains("Not configured"), "{facts:?}");
    assert!(facts[1].contains("Not configured"), "{facts:?}");
    let (status, html) = send_test(&admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text(&html, "p.notice.failed")
            .unwrap()
            .contains("No channel is configured"),
        "{html}"
    );
}

#[test]
fn a_bad_setting_stops_the_portal_naming_it_without_its_value() {
    let db = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["reminders", "run"])
        .env(
            "KEYPORT_DATABASE_URL",
            format!("sqlite://{}", db.path().join("k.db").display()),
        )
        .env(
            "KEYPORT_SMTP_URL",
            "smtp://user:hunter2@127.0.0.1:1?tls=required",
        )
        .env_remove("KEYPORT_SMTP_FROM")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("KEYPORT_SMTP_FROM"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
}
