//! Load benchmark of the View Credentials page.
//!
//! Seeds a database (1,000 projects, 5,000 services, 100,000 credentials by default), starts the
//! release binary on it, signs in 64 clients (each from its own loopback address, so that the
//! sign-in throttle is not in the way) and has them load the credentials page of a project with
//! 50 credentials for a fixed time. Prints requests per second, p50 and p99 latency and the
//! server's resident memory. It runs twice, on a small and on the full database, to show that
//! the page time does not grow with the number of credentials in the database.
//!
//!   cargo bench --bench credentials_page                       # SQLite
//!   KEYPORT_BENCH_POSTGRES_URL=postgres://... cargo bench ...  # PostgreSQL (a role that may create databases)
//!   KEYPORT_BENCH_SECONDS=20 KEYPORT_BENCH_CLIENTS=64          # the defaults

use std::{
    net::{IpAddr, Ipv4Addr},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use keyport::{
    config::Config,
    crypto::{password, random_bytes},
    db::{self, Db},
};
use sqlx::Connection;
use zeroize::Zeroizing;

const PASSWORD: &str = "benchmark password 1";

struct Size {
    label: &'static str,
    projects: usize,
    services_per_project: usize,
    credentials_per_service: usize,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let seconds = env_number("KEYPORT_BENCH_SECONDS", 20);
    let clients = env_number("KEYPORT_BENCH_CLIENTS", 64) as usize;
    let sizes = [
        Size {
            label: "small",
            projects: 10,
            services_per_project: 5,
            credentials_per_service: 20,
        },
        Size {
            label: "full",
            projects: 1000,
            services_per_project: 5,
            credentials_per_service: 20,
        },
    ];
    let backend = if std::env::var("KEYPORT_BENCH_POSTGRES_URL").is_ok() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("View Credentials page, {backend}, {clients} concurrent clients, {seconds} s per run");
    println!(
        "{:<6} {:>9} {:>9} {:>13} {:>10} {:>10} {:>10} {:>9}",
        "db", "projects", "services", "credentials", "req/s", "p50 ms", "p99 ms", "RSS MiB"
    );
    let mut failed = 0;
    for size in &sizes {
        let dir = tempfile::tempdir()?;
        let url = match std::env::var("KEYPORT_BENCH_POSTGRES_URL") {
            Ok(server) => fresh_postgres_database(&server).await?,
            Err(_) => format!("sqlite://{}", dir.path().join("bench.db").display()),
        };
        let key_file = dir.path().join("master.key");
        let (services, credentials, page) = seed(&url, &key_file, size).await?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let server = Server(
            Command::new(env!("CARGO_BIN_EXE_keyport"))
                .args(["serve", "--listen", &format!("0.0.0.0:{port}")])
                .env("KEYPORT_DATABASE_URL", &url)
                .env("KEYPORT_MASTER_KEY_FILE", &key_file)
                .env("KEYPORT_LOG", "warn")
                .stderr(Stdio::null())
                .spawn()?,
        );
        wait_until_ready(port).await?;
        let sessions = sign_in(port, clients).await?;
        let (rate, p50, p99, errors) =
            load(port, &page, sessions, Duration::from_secs(seconds)).await;
        failed += errors;
        let rss = rss_mib(server.0.id());
        println!(
            "{:<6} {:>9} {:>9} {:>13} {:>10.0} {:>10.1} {:>10.1} {:>9.1}{}",
            size.label,
            size.projects,
            services,
            credentials,
            rate,
            p50,
            p99,
            rss,
            if errors > 0 {
                format!("  ({errors} failed requests)")
            } else {
                String::new()
            }
        );
    }
    // Figures from failed requests would lie: any failure fails the benchmark.
    anyhow::ensure!(
        failed == 0,
        "{failed} requests failed or did not answer with the credentials page"
    );
    Ok(())
}

async fn fresh_postgres_database(server: &str) -> anyhow::Result<String> {
    let name = format!("keyport_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(server).await?;
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await?;
    let (base, _) = server
        .rsplit_once('/')
        .expect("a PostgreSQL URL names a database");
    Ok(format!("{base}/{name}"))
}

/// Seeds the database; returns the numbers of services and credentials and the page to load.
async fn seed(
    url: &str,
    key_file: &std::path::Path,
    size: &Size,
) -> anyhow::Result<(usize, usize, String)> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    db::keys::open_master_key(&Config::new(url, key_file), &db).await?;
    let hash = password::hash(Zeroizing::new(PASSWORD.to_string())).await?;
    let user = db::users::create(
        db.pool(),
        db::users::NewUser {
            email: "bench@example.org",
            name: "Bench",
            password_hash: Some(&hash),
            is_admin: true,
        },
    )
    .await?;
    db::settings::insert(db.pool(), db::settings::SETUP_DONE, "1").await?;
    let now = db::now();
    let mut tx = db.pool().begin().await?;
    let (mut service_count, mut credential_count) = (0, 0);
    let mut target = String::new();
    for p in 0..size.projects {
        let project = db::new_id();
        sqlx::query("insert into projects (id, slug, name, created_at, updated_at) values ($1, $2, $3, $4, $4)")
            .bind(&project)
            .bind(format!("project-{p}"))
            .bind(format!("Project {p}"))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("insert into memberships (project_id, user_id, role, created_at) values ($1, $2, 'owner', $3)")
            .bind(&project)
            .bind(&user.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // The first project's first service holds 50 credentials: 2 of the user, 48 of 24 apps.
        let apps: Vec<String> = (0..25).map(|_| db::new_id()).collect();
        for (a, app) in apps.iter().enumerate() {
            sqlx::query("insert into apps (id, project_id, name, description, created_at) values ($1, $2, $3, '', $4)")
                .bind(app)
                .bind(&project)
                .bind(format!("app-{a}"))
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        for s in 0..size.services_per_project {
            let service = db::new_id();
            sqlx::query(
                "insert into services (id, project_id, kind, name, description, driver, max_keys_per_owner,
                     os_user_domain, os_project_name, os_project_domain, created_at)
                 values ($1, $2, 's3', $3, '', 'stored', 2, '', '', '', $4)",
            )
            .bind(&service)
            .bind(&project)
            .bind(format!("Storage {s}"))
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
            service_count += 1;
            let count = if p == 0 && s == 0 {
                50
            } else {
                size.credentials_per_service
            };
            let rows: Vec<(Option<&str>, Option<&str>)> = (0..count)
                .map(|i| {
                    if p == 0 && s == 0 && i < 2 {
                        (Some(user.id.as_str()), None)
                    } else {
                        (None, Some(apps[(i / 2) % apps.len()].as_str()))
                    }
                })
                .collect();
            insert_credentials(&mut tx, &project, &service, &rows, now).await?;
            credential_count += count;
            if p == 0 && s == 0 {
                target = format!("/projects/project-0/credentials?service={service}");
            }
        }
    }
    tx.commit().await?;
    // PostgreSQL's autovacuum gathers statistics on a database in use; a freshly seeded one gets
    // them now. SQLite gathers none unless asked, so it is measured as it runs.
    if db.backend() == db::Backend::Postgres {
        sqlx::query("analyze").execute(db.pool()).await?;
    }
    db.close().await;
    Ok((service_count, credential_count, target))
}

async fn insert_credentials(
    tx: &mut sqlx::AnyConnection,
    project: &str,
    service: &str,
    owners: &[(Option<&str>, Option<&str>)],
    now: i64,
) -> anyhow::Result<()> {
    const COLUMNS: usize = 10;
    let placeholders: Vec<String> = (0..owners.len())
        .map(|row| {
            let values: Vec<String> = (1..=COLUMNS)
                .map(|c| format!("${}", row * COLUMNS + c))
                .collect();
            format!("({}, 1, 'Bench <bench@example.org>')", values.join(", "))
        })
        .collect();
    let sql = format!(
        "insert into credentials (id, project_id, service_id, owner_user_id, owner_app_id, name, description,
             access_key, secret, created_at, enabled, created_by) values {}",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for (i, (user, app)) in owners.iter().enumerate() {
        // Random bytes stand in for sealed secrets: the page never decrypts.
        query = query
            .bind(db::new_id())
            .bind(project)
            .bind(service)
            .bind(*user)
            .bind(*app)
            .bind(format!("key {i}"))
            .bind("seeded")
            .bind(format!("KP{:018}", i))
            .bind(random_bytes::<69>().to_vec())
            .bind(now);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

async fn wait_until_ready(port: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    while reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .is_err()
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the portal did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// One signed-in client per loopback address 127.0.0.2, 127.0.0.3, ...
async fn sign_in(port: u16, clients: usize) -> anyhow::Result<Vec<reqwest::Client>> {
    let mut sessions = Vec::new();
    for i in 0..clients {
        let address = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            (2 + i) as u8 / 255,
            ((2 + i) % 255) as u8 + 1,
        ));
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .local_address(address)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let html = client
            .get(format!("{base}/login"))
            .send()
            .await?
            .text()
            .await?;
        let marker = "name=\"csrf_token\" value=\"";
        let start = html.find(marker).expect("a CSRF token") + marker.len();
        let token = &html[start..start + html[start..].find('"').unwrap()];
        let response = client
            .post(format!("{base}/login"))
            .form(&[
                ("csrf_token", token),
                ("email", "bench@example.org"),
                ("password", PASSWORD),
            ])
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_redirection(),
            "sign-in failed: {}",
            response.status()
        );
        sessions.push(client);
    }
    Ok(sessions)
}

/// Whether `html` is the View Credentials page with credentials on it (not a sign-in page, an
/// error page or an empty list).
fn is_credentials_page(html: &str) -> bool {
    html.contains("<h1>Credentials</h1>") && html.contains("<article class=\"credential")
}

/// Every client loads `page` in a loop for `duration`; returns req/s, p50 and p99 in ms, failures.
async fn load(
    port: u16,
    page: &str,
    sessions: Vec<reqwest::Client>,
    duration: Duration,
) -> (f64, f64, f64, usize) {
    let url = Arc::new(format!("http://127.0.0.1:{port}{page}"));
    let started = Instant::now();
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|client| {
            let url = url.clone();
            tokio::spawn(async move {
                let (mut latencies, mut failures) = (Vec::new(), 0usize);
                while started.elapsed() < duration {
                    let sent = Instant::now();
                    match client.get(url.as_str()).send().await {
                        Ok(response) if response.status() == reqwest::StatusCode::OK => {
                            let body = response.text().await.unwrap_or_default();
                            if is_credentials_page(&body) {
                                latencies.push(sent.elapsed());
                            } else {
                                failures += 1;
                            }
                        }
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let (mut all, mut failures) = (Vec::new(), 0);
    for task in tasks {
        let (latencies, failed) = task.await.expect("a load task");
        all.extend(latencies);
        failures += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let percentile = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (
        all.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        failures,
    )
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
