//! Load benchmark of the API, against Keystone doing the same two things.
//!
//! Starts the release binary on a fresh database with the token-exchange throttle raised, seeds
//! a project whose service holds 50 credentials (added through the API) and 64 API keys, then
//! has 64 connections, for a fixed time each, (a) exchange the keys for access tokens, rotating
//! over them, and (b) list the service's credentials with valid tokens. Then the same two against
//! the test Keystone (KEYPORT_TEST_OPENSTACK names a running stack, or one is started): tokens
//! from application credentials at `POST /v3/auth/tokens`, and `GET /v3/credentials` of a user
//! with 50 EC2 credentials (with the user's password tokens: Keystone hides credentials from
//! application credentials' tokens). Prints requests per second, p50 and p99 latency and failures, then
//! the ratio Keyport/Keystone. Any failed or unexpected answer fails the benchmark.
//!
//!   cargo bench --bench api                                    # SQLite
//!   KEYPORT_BENCH_POSTGRES_URL=postgres://... cargo bench ...  # SQLite, then PostgreSQL (a role
//!                                                              # that may create databases;
//!                                                              # KEYPORT_TEST_POSTGRES_URL works too)
//!   KEYPORT_BENCH_SECONDS=10 KEYPORT_BENCH_CLIENTS=64          # the defaults

#[allow(dead_code)]
#[path = "../tests/it/backends.rs"]
mod backends;

use std::{
    future::Future,
    path::Path,
    pin::Pin,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use backends::OpenStack;
use keyport::{
    commands::{self, ApiKeyRequest},
    config::{Config, MAX_EXCHANGES_PER_SECOND, MasterKeySettings},
    db::{self, Db},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

const EMAIL: &str = "bench@example.org";
const PROJECT: &str = "bench";
const CREDENTIALS: usize = 50;
const API_KEYS: usize = 64;

/// What one request of the load answers: `Err` says what was wrong with the answer.
type Outcome = Result<(), String>;
type Attempt = Arc<
    dyn Fn(reqwest::Client, usize, u64) -> Pin<Box<dyn Future<Output = Outcome> + Send>>
        + Send
        + Sync,
>;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The figures of one run.
struct Figures {
    /// `Keyport (DATABASE)` or `Keystone`.
    system: String,
    /// Keyport's database, empty for Keystone.
    database: String,
    operation: &'static str,
    requests: usize,
    rate: f64,
    p50: f64,
    p99: f64,
    failures: usize,
}

impl Figures {
    fn print(&self) {
        println!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {} |",
            self.system,
            self.operation,
            self.requests,
            self.rate,
            self.p50,
            self.p99,
            self.failures
        );
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let seconds = env_number("KEYPORT_BENCH_SECONDS", 10).clamp(1, 600);
    let clients = env_number("KEYPORT_BENCH_CLIENTS", 64).clamp(1, 512) as usize;
    let duration = Duration::from_secs(seconds);
    println!("API load, {clients} concurrent connections, {seconds} s per run");
    println!();
    println!("| system | operation | requests | req/s | p50 ms | p99 ms | failed |");
    println!("|---|---|---|---|---|---|---|");

    let mut databases = vec![("SQLite", None)];
    if let Some(server) = ["KEYPORT_BENCH_POSTGRES_URL", "KEYPORT_TEST_POSTGRES_URL"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    {
        databases.push(("PostgreSQL", Some(server)));
    }
    let mut results = Vec::new();
    for (label, postgres) in databases {
        let dir = tempfile::tempdir()?;
        let url = match postgres {
            Some(server) => fresh_postgres_database(&server).await?,
            None => format!("sqlite://{}", dir.path().join("bench.db").display()),
        };
        results.extend(keyport(label, &url, dir.path(), clients, duration).await?);
    }
    results.extend(keystone(clients, duration).await?);

    println!();
    println!("| operation | Keyport on | Keyport req/s | Keystone req/s | Keyport/Keystone |");
    println!("|---|---|---|---|---|");
    for keyport in results.iter().filter(|f| !f.database.is_empty()) {
        let Some(keystone) = results
            .iter()
            .find(|f| f.system == "Keystone" && f.operation == keyport.operation)
        else {
            continue;
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.1} |",
            keyport.operation,
            keyport.database,
            keyport.rate,
            keystone.rate,
            keyport.rate / keystone.rate.max(f64::MIN_POSITIVE)
        );
    }
    // Figures from failed requests would lie: any failure fails the benchmark.
    let failed: usize = results.iter().map(|f| f.failures).sum();
    ensure!(
        failed == 0,
        "{failed} requests failed or had an unexpected answer"
    );
    Ok(())
}

async fn fresh_postgres_database(server: &str) -> anyhow::Result<String> {
    let name = format!("keyport_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(server).await?;
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    let (base, _) = server
        .rsplit_once('/')
        .context("a PostgreSQL URL names a database")?;
    Ok(format!("{base}/{name}"))
}

/// The two runs against Keyport on the database at `url`.
async fn keyport(
    label: &str,
    url: &str,
    dir: &Path,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Vec<Figures>> {
    let key_file = dir.join("master.key");
    let (service, apps) = seed(url, &key_file).await?;
    let data = Config::new(url, &key_file).data();
    let mut keys = Vec::with_capacity(API_KEYS);
    for i in 0..API_KEYS {
        // What `keyport api-key create` does, without a process per key.
        let created = commands::create_api_key(
            &data,
            ApiKeyRequest {
                email: EMAIL,
                name: &format!("bench-{i}"),
                description: "",
                expires: "",
                project: None,
                app: None,
            },
        )
        .await?;
        keys.push(created.secret.to_string());
    }

    let port = backends::free_port();
    let log = dir.join("keyport.log");
    // The throttle raised as far as it goes: the run measures the exchange, not the quota.
    let quota = MAX_EXCHANGES_PER_SECOND.to_string();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_keyport"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("KEYPORT_DATABASE_URL", url)
            .env("KEYPORT_MASTER_KEY_FILE", &key_file)
            .env("KEYPORT_TOKEN_EXCHANGES_PER_SECOND", &quota)
            .env("KEYPORT_TOKEN_EXCHANGES_PER_KEY", &quota)
            .env("KEYPORT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&base, &log).await?;

    // The 50 credentials, through the API: 2 of the user, 2 of each of 24 apps.
    let http = client()?;
    let token = keyport_token(&http, &base, &keys[0]).await?;
    let credentials = format!("{base}/api/v1/projects/{PROJECT}/services/{service}/credentials");
    for i in 0..CREDENTIALS {
        let owner = match i {
            0 | 1 => "me".to_string(),
            _ => format!("app:{}", apps[(i - 2) / 2]),
        };
        let response = http
            .post(&credentials)
            .bearer_auth(&token)
            .json(&json!({
                "name": format!("key {i}"),
                "owner": owner,
                "access_key": format!("BENCH{i:015}"),
                "secret": uuid::Uuid::new_v4().simple().to_string(),
            }))
            .send()
            .await?;
        let status = response.status();
        ensure!(
            status == StatusCode::CREATED,
            "adding credential {i}: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }

    let mut figures = Vec::new();

    let keys = Arc::new(keys);
    let exchange: Attempt = {
        let (url, keys) = (Arc::new(format!("{base}/identity/token")), keys.clone());
        Arc::new(move |client, task, n| {
            let (url, keys) = (url.clone(), keys.clone());
            Box::pin(async move {
                let key = &keys[(task + n as usize) % keys.len()];
                let answer = client
                    .post(url.as_str())
                    .form(&[
                        ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
                        ("apikey", key.as_str()),
                    ])
                    .send()
                    .await;
                let body = json_answer(answer, StatusCode::OK).await?;
                match body["access_token"].as_str() {
                    Some(token) if !token.is_empty() => Ok(()),
                    _ => Err("no access_token in the answer".into()),
                }
            })
        })
    };
    let run = load(clients, duration, exchange).await;
    figures.push(run.figures("Keyport", label, "token exchange"));
    figures.last().unwrap().print();

    // One token per connection, as programs hold theirs.
    let mut tokens = Vec::with_capacity(clients);
    for i in 0..clients {
        tokens.push(keyport_token(&http, &base, &keys[i % keys.len()]).await?);
    }
    let listing: Attempt = {
        let (url, tokens) = (Arc::new(credentials), Arc::new(tokens));
        Arc::new(move |client, task, _| {
            let (url, tokens) = (url.clone(), tokens.clone());
            Box::pin(async move {
                let answer = client
                    .get(url.as_str())
                    .bearer_auth(&tokens[task % tokens.len()])
                    .send()
                    .await;
                let body = json_answer(answer, StatusCode::OK).await?;
                expect_count(&body["credentials"], CREDENTIALS)
            })
        })
    };
    let run = load(clients, duration, listing).await;
    figures.push(run.figures("Keyport", label, "list credentials"));
    figures.last().unwrap().print();
    Ok(figures)
}

/// Seeds the user, the project, its service and 24 apps; returns the service's and apps' ids.
async fn seed(url: &str, key_file: &Path) -> anyhow::Result<(String, Vec<String>)> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    db::keys::open_master_key(&MasterKeySettings::file(key_file), &db).await?;
    let user = db::users::create(
        db.pool(),
        db::users::NewUser {
            email: EMAIL,
            name: "Bench",
            password_hash: None,
            is_admin: true,
        },
    )
    .await?;
    db::settings::insert(db.pool(), db::settings::SETUP_DONE, "1").await?;
    let now = db::now();
    let (project, service) = (db::new_id(), db::new_id());
    let mut tx = db.pool().begin().await?;
    sqlx::query("insert into projects (id, slug, name, created_at, updated_at) values ($1, $2, 'Bench', $3, $3)")
        .bind(&project)
        .bind(PROJECT)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("insert into memberships (project_id, user_id, role, created_at) values ($1, $2, 'owner', $3)")
        .bind(&project)
        .bind(&user.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into services (id, project_id, kind, name, description, driver, max_keys_per_owner,
             os_user_domain, os_project_name, os_project_domain, created_at)
         values ($1, $2, 's3', 'Storage', '', 'stored', 2, '', '', '', $3)",
    )
    .bind(&service)
    .bind(&project)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into endpoints (id, service_id, site, region, interface, url, created_at)
         values ($1, $2, 'Si Racha', 'th-1', 'public', 'https://s3.example.org', $3)",
    )
    .bind(db::new_id())
    .bind(&service)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let mut apps = Vec::new();
    for a in 0..(CREDENTIALS - 2) / 2 {
        let app = db::new_id();
        sqlx::query("insert into apps (id, project_id, name, description, created_at) values ($1, $2, $3, '', $4)")
            .bind(&app)
            .bind(&project)
            .bind(format!("app-{a}"))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        apps.push(app);
    }
    tx.commit().await?;
    db.close().await;
    Ok((service, apps))
}

/// The two runs against the test Keystone.
async fn keystone(clients: usize, duration: Duration) -> anyhow::Result<Vec<Figures>> {
    let stack = tokio::task::spawn_blocking(OpenStack::get).await?;
    let user = stack.create_user().await;
    let base = stack.keystone_url.clone();
    let http = client()?;
    let password = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": user.id, "password": user.password}}},
        "scope": {"project": {"id": user.project_id}}
    }});
    let token = keystone_token(&http, &base, &password).await?;

    // The user's application credentials (as `openstack application credential create`).
    let mut secrets = Vec::with_capacity(API_KEYS);
    for i in 0..API_KEYS {
        let answer = http
            .post(format!("{base}/users/{}/application_credentials", user.id))
            .header("X-Auth-Token", &token)
            .json(&json!({"application_credential": {"name": format!("bench-{i}")}}))
            .send()
            .await;
        let body = json_answer(answer, StatusCode::CREATED)
            .await
            .map_err(anyhow::Error::msg)?;
        let credential = &body["application_credential"];
        secrets.push(json!({"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": credential["id"], "secret": credential["secret"]}
        }}}));
    }
    for _ in 0..CREDENTIALS {
        let answer = http
            .post(format!("{base}/users/{}/credentials/OS-EC2", user.id))
            .header("X-Auth-Token", &token)
            .json(&json!({"tenant_id": user.project_id}))
            .send()
            .await;
        json_answer(answer, StatusCode::CREATED)
            .await
            .map_err(anyhow::Error::msg)?;
    }

    let mut figures = Vec::new();
    let secrets = Arc::new(secrets);
    let exchange: Attempt = {
        let (url, secrets) = (Arc::new(format!("{base}/auth/tokens")), secrets.clone());
        Arc::new(move |client, task, n| {
            let (url, secrets) = (url.clone(), secrets.clone());
            Box::pin(async move {
                let body = &secrets[(task + n as usize) % secrets.len()];
                let answer = client.post(url.as_str()).json(body).send().await;
                subject_token(answer).await.map(|_| ())
            })
        })
    };
    let run = load(clients, duration, exchange).await;
    figures.push(run.figures("Keystone", "", "token exchange"));
    figures.last().unwrap().print();

    // Keystone hides credentials from tokens of application credentials (delegated tokens), so
    // the listing runs with the user's own password tokens, one per connection.
    let mut tokens = Vec::with_capacity(clients);
    for _ in 0..clients {
        tokens.push(keystone_token(&http, &base, &password).await?);
    }
    let listing: Attempt = {
        let (url, tokens) = (Arc::new(format!("{base}/credentials")), Arc::new(tokens));
        Arc::new(move |client, task, _| {
            let (url, tokens) = (url.clone(), tokens.clone());
            Box::pin(async move {
                let answer = client
                    .get(url.as_str())
                    .header("X-Auth-Token", &tokens[task % tokens.len()])
                    .send()
                    .await;
                let body = json_answer(answer, StatusCode::OK).await?;
                expect_count(&body["credentials"], CREDENTIALS)
            })
        })
    };
    let run = load(clients, duration, listing).await;
    figures.push(run.figures("Keystone", "", "list credentials"));
    figures.last().unwrap().print();
    Ok(figures)
}

/// A client for loopback: no proxy from the environment, a bound on every request.
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?)
}

async fn wait_until_ready(base: &str, log: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let http = client()?;
    while http.get(format!("{base}/readyz")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "the portal did not start: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn keyport_token(http: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<String> {
    let answer = http
        .post(format!("{base}/identity/token"))
        .form(&[
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", key),
        ])
        .send()
        .await;
    let body = json_answer(answer, StatusCode::OK)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(body["access_token"]
        .as_str()
        .context("no access_token in the answer")?
        .to_string())
}

async fn keystone_token(
    http: &reqwest::Client,
    base: &str,
    auth: &Value,
) -> anyhow::Result<String> {
    let answer = http
        .post(format!("{base}/auth/tokens"))
        .json(auth)
        .send()
        .await;
    subject_token(answer).await.map_err(anyhow::Error::msg)
}

/// Keystone's token, in the `X-Subject-Token` header of a 201 whose body is read to the end.
async fn subject_token(answer: reqwest::Result<reqwest::Response>) -> Result<String, String> {
    let response = answer.map_err(|e| e.to_string())?;
    let status = response.status();
    let token = response
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    match token {
        Some(token) if status == StatusCode::CREATED && !token.is_empty() => Ok(token),
        _ => Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    }
}

/// The JSON body of an answer with status `expected`.
async fn json_answer(
    answer: reqwest::Result<reqwest::Response>,
    expected: StatusCode,
) -> Result<Value, String> {
    let response = answer.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if status != expected {
        return Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
}

fn expect_count(list: &Value, count: usize) -> Outcome {
    match list.as_array() {
        Some(items) if items.len() == count => Ok(()),
        Some(items) => Err(format!("{} credentials listed, not {count}", items.len())),
        None => Err("no list of credentials in the answer".into()),
    }
}

/// What a load run saw.
struct Run {
    latencies: Vec<Duration>,
    failures: usize,
    first_failure: Option<String>,
    elapsed: Duration,
}

impl Run {
    fn figures(&self, system: &str, database: &str, operation: &'static str) -> Figures {
        if let Some(failure) = &self.first_failure {
            eprintln!(
                "{system} {database}, {operation}: {} failed, first: {failure}",
                self.failures
            );
        }
        let percentile = |p: f64| {
            let at = ((self.latencies.len() as f64 * p) as usize)
                .min(self.latencies.len().saturating_sub(1));
            self.latencies
                .get(at)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Figures {
            system: match database {
                "" => system.to_string(),
                database => format!("{system} ({database})"),
            },
            database: database.to_string(),
            operation,
            requests: self.latencies.len(),
            rate: self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
            p50: percentile(0.50),
            p99: percentile(0.99),
            failures: self.failures,
        }
    }
}

/// `connections` tasks, each with a connection of its own, repeat `attempt` for `duration`.
async fn load(connections: usize, duration: Duration, attempt: Attempt) -> Run {
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|task| {
            let attempt = attempt.clone();
            tokio::spawn(async move {
                let client = client().expect("an HTTP client");
                let (mut latencies, mut failures, mut first_failure) = (Vec::new(), 0, None);
                let mut n = 0;
                while started.elapsed() < duration {
                    let sent = Instant::now();
                    match attempt(client.clone(), task, n).await {
                        Ok(()) => latencies.push(sent.elapsed()),
                        Err(failure) => {
                            failures += 1;
                            first_failure.get_or_insert(failure);
                        }
                    }
                    n += 1;
                }
                (latencies, failures, first_failure)
            })
        })
        .collect();
    let mut run = Run {
        latencies: Vec::new(),
        failures: 0,
        first_failure: None,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (latencies, failures, first_failure) = task.await.expect("a load task");
        run.latencies.extend(latencies);
        run.failures += failures;
        if run.first_failure.is_none() {
            run.first_failure = first_failure;
        }
    }
    run.elapsed = started.elapsed();
    run.latencies.sort();
    run
}
