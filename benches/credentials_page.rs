//! Load benchmark of the View Credentials page, measured from outside with wrk.
//!
//! Seeds a database twice (a small one, and 1,000 projects with 5,000 services and 100,000
//! credentials), starts the release binary on it, and measures with wrk (Debian's `wrk`):
//! - `/healthz` at 64 connections: the ceiling of the HTTP stack on this machine, in the same run;
//! - View Credentials of a service with 50 keys at 64 connections (rate, share of the ceiling,
//!   p99) and at 8 connections (p99);
//! - the page's weight, the queries each page makes (the server's own query log, read in a
//!   second run, after one view of each page), and the server's resident memory idle, after the
//!   load and after 64 sign-ins.
//!
//! Then the equivalent calls of the test Keystone (`GET /v3/credentials` of a user with 50 EC2
//! credentials, `GET /v3/users/{id}/application_credentials` of a user with 50 application
//! credentials) at 64 connections, and Keyport ÷ Keystone. Any non-200 answer fails the run.
//!
//!   cargo bench --bench credentials_page                       # SQLite
//!   KEYPORT_BENCH_POSTGRES_URL=postgres://... cargo bench ...  # PostgreSQL (a role that may create databases)
//!   KEYPORT_BENCH_SECONDS=10                                   # per wrk run (the default)
//!   KEYPORT_TEST_OPENSTACK=DIR/stack.env                       # a running test stack; else one is started
//!   KEYPORT_BENCH_KEYSTONE=0                                   # skip Keystone
//!   KEYPORT_BENCH_SIZES=small                                  # only these database sizes (small, full)
//!   KEYPORT_BENCH_BINARY=target/profiling/keyport              # another build of the portal
//!   KEYPORT_BENCH_PERF=DIR       # `perf record -g` of the server during the page load at 64
//!                                # connections, into DIR/perf-{small,full}.data
//!   KEYPORT_BENCH_PERF_ALL=1     # the same, of the whole machine (server, wrk, database server)
//!   KEYPORT_BENCH_PERF_CALL_GRAPH=dwarf   # perf's call graphs from DWARF rather than frame pointers
//!
//! `scripts/bench.sh` runs it on SQLite and on a throwaway PostgreSQL.

#[allow(dead_code)]
#[path = "../tests/it/backends.rs"]
mod backends;
#[allow(dead_code)]
#[path = "load/mod.rs"]
mod load;

use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, ensure};
use keyport::{
    config::MasterKeySettings,
    crypto::{password, random_bytes},
    db::{self, Db},
};
use load::{Load, Server, env_number, fresh_postgres_database, query_lines, wrk};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::json;
use zeroize::Zeroizing;

const PASSWORD: &str = "benchmark password 1";
const EMAIL: &str = "bench@example.org";

struct Size {
    label: &'static str,
    projects: usize,
    services_per_project: usize,
    credentials_per_service: usize,
}

/// What the benchmark found for one database size.
struct Row {
    credentials: usize,
    healthz: Load,
    page: Load,
    page_8: Load,
    page_bytes: usize,
    queries: Vec<(&'static str, f64)>,
    rss_idle: f64,
    rss_loaded: f64,
    rss_sign_ins: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let seconds = env_number("KEYPORT_BENCH_SECONDS", 10);
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
    let only = std::env::var("KEYPORT_BENCH_SIZES").unwrap_or_default();
    let sizes: Vec<&Size> = sizes
        .iter()
        .filter(|s| only.is_empty() || only.split(',').any(|o| o == s.label))
        .collect();
    let backend = if std::env::var("KEYPORT_BENCH_POSTGRES_URL").is_ok() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("View Credentials (50 keys), {backend}, wrk {seconds} s per run, release build");
    let mut rows = Vec::new();
    for size in sizes {
        let dir = tempfile::tempdir()?;
        let url = match std::env::var("KEYPORT_BENCH_POSTGRES_URL") {
            Ok(server) => fresh_postgres_database(&server).await?,
            Err(_) => format!("sqlite://{}", dir.path().join("bench.db").display()),
        };
        let key_file = dir.path().join("master.key");
        let (_, credentials, page) = seed(&url, &key_file, size).await?;
        let perf = std::env::var_os("KEYPORT_BENCH_PERF")
            .map(|d| Path::new(&d).join(format!("perf-{}.data", size.label)));
        let row = measure(
            &url,
            &key_file,
            dir.path(),
            &page,
            credentials,
            seconds,
            perf,
        )
        .await?;
        rows.push((size.label, row));
    }
    println!();
    println!(
        "| database | credentials | /healthz req/s (64 conn.) | page req/s (64 conn.) | page ÷ /healthz | p99 ms (64) | p99 ms (8 conn.) | page KB | queries: credentials / projects / account | RSS MiB idle / after load / after 64 sign-ins |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (label, row) in &rows {
        let queries: Vec<String> = row.queries.iter().map(|(_, q)| format!("{q:.1}")).collect();
        println!(
            "| {backend} ({label}) | {} | {:.0} | {:.0} | {:.1}% | {:.2} | {:.2} | {:.1} | {} | {:.1} / {:.1} / {:.1} |",
            row.credentials,
            row.healthz.rate,
            row.page.rate,
            100.0 * row.page.rate / row.healthz.rate,
            row.page.p99_ms,
            row.page_8.p99_ms,
            row.page_bytes as f64 / 1024.0,
            queries.join(" / "),
            row.rss_idle,
            row.rss_loaded,
            row.rss_sign_ins,
        );
    }
    if env_number("KEYPORT_BENCH_KEYSTONE", 1) == 1 {
        let (_, full) = rows.last().expect("a run");
        let keystone = keystone(seconds).await?;
        println!();
        println!(
            "| equivalent call at 64 connections | req/s | p50 ms | p99 ms | Keyport's page ÷ this |"
        );
        println!("|---|---|---|---|---|");
        println!(
            "| Keyport ({backend}): View Credentials, 50 keys | {:.0} | {:.2} | {:.2} | 1 |",
            full.page.rate, full.page.p50_ms, full.page.p99_ms
        );
        for (what, load) in keystone {
            println!(
                "| Keystone: {what} | {:.1} | {:.1} | {:.1} | {:.0}× |",
                load.rate,
                load.p50_ms,
                load.p99_ms,
                full.page.rate / load.rate
            );
        }
    }
    Ok(())
}

/// Runs the portal on the seeded database and measures it.
async fn measure(
    url: &str,
    key_file: &Path,
    dir: &Path,
    page: &str,
    credentials: usize,
    seconds: u64,
    perf: Option<std::path::PathBuf>,
) -> anyhow::Result<Row> {
    let log = dir.join("queries.log");
    let server = Server::start(url, key_file, &log, "warn", &[]).await?;
    let base = server.base.clone();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = rss_mib(server.pid());
    let (client, jar) = sign_in(&base, 0).await?;
    let cookie = cookie_header(&jar, &base)?;
    let body = client
        .get(format!("{base}{page}"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        is_credentials_page(&body),
        "the credentials page answers: {body}"
    );
    let page_bytes = body.len();
    let healthz = wrk(&format!("{base}/healthz"), 64, seconds, &[])?;
    let page_url = format!("{base}{page}");
    let recording = match &perf {
        Some(file) => Some(
            Command::new("perf")
                .args(["record", "-F", "499", "--call-graph"])
                // `dwarf` where frame pointers are missing (libc, the allocator): slower, whole stacks.
                .arg(std::env::var("KEYPORT_BENCH_PERF_CALL_GRAPH").unwrap_or_else(|_| "fp".into()))
                .arg("-o")
                .arg(file)
                .args(match std::env::var_os("KEYPORT_BENCH_PERF_ALL") {
                    // The whole machine: the server, wrk and the database server.
                    Some(_) => vec!["-a".to_string()],
                    None => vec!["-p".to_string(), server.pid().to_string()],
                })
                .args(["--", "sleep"])
                .arg(seconds.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("perf runs (apt-get install linux-perf)")?,
        ),
        None => None,
    };
    let loaded = wrk(&page_url, 64, seconds, std::slice::from_ref(&cookie))?;
    if let Some(mut recording) = recording {
        recording.wait()?;
    }
    let page_8 = wrk(&page_url, 8, seconds, std::slice::from_ref(&cookie))?;
    let rss_loaded = rss_mib(server.pid());
    for i in 1..=64 {
        sign_in(&base, i).await?;
    }
    let rss_sign_ins = rss_mib(server.pid());
    drop(server);

    // Queries per page, from the query log of a second run on the same database.
    let server = Server::start(url, key_file, &log, "warn,sqlx::query=debug", &[]).await?;
    let base = server.base.clone();
    let (client, _) = sign_in(&base, 0).await?;
    let mut queries = Vec::new();
    for (name, path) in [
        ("credentials", page),
        ("projects", "/projects"),
        ("account", "/account"),
    ] {
        const VIEWS: usize = 10;
        // One view first: it fills the project's lists kept in memory (4 queries, once).
        client
            .get(format!("{base}{path}"))
            .send()
            .await?
            .bytes()
            .await?;
        let before = query_lines(&log);
        for _ in 0..VIEWS {
            let response = client.get(format!("{base}{path}")).send().await?;
            ensure!(response.status() == 200, "{path}: {}", response.status());
            response.bytes().await?;
        }
        queries.push((name, (query_lines(&log) - before) as f64 / VIEWS as f64));
    }
    drop(server);
    Ok(Row {
        credentials,
        healthz,
        page: loaded,
        page_8,
        page_bytes,
        queries,
        rss_idle,
        rss_loaded,
        rss_sign_ins,
    })
}

/// Seeds the database; returns the numbers of services and credentials and the page to load.
async fn seed(
    url: &str,
    key_file: &std::path::Path,
    size: &Size,
) -> anyhow::Result<(usize, usize, String)> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    db::keys::open_master_key(&MasterKeySettings::file(key_file), &db).await?;
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

/// A client signed in from loopback address number `i` (127.0.0.2, 127.0.0.3, ...), so that
/// the sign-in throttle of one address is not in the way.
async fn sign_in(base: &str, i: usize) -> anyhow::Result<(reqwest::Client, Arc<Jar>)> {
    let address = IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        (2 + i) as u8 / 255,
        ((2 + i) % 255) as u8 + 1,
    ));
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .local_address(address)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let html = client
        .get(format!("{base}/login"))
        .send()
        .await?
        .text()
        .await?;
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).context("a CSRF token")? + marker.len();
    let token = &html[start..start + html[start..].find('"').context("a CSRF token")?];
    let response = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", token),
            ("email", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    ensure!(
        response.status().is_redirection(),
        "sign-in failed: {}",
        response.status()
    );
    Ok((client, jar))
}

/// The `Cookie` header of a signed-in client, for wrk.
fn cookie_header(jar: &Jar, base: &str) -> anyhow::Result<String> {
    let cookies = jar.cookies(&base.parse()?).context("the session cookie")?;
    Ok(format!("Cookie: {}", cookies.to_str()?))
}

/// Whether `html` is the View Credentials page with credentials on it (not a sign-in page, an
/// error page or an empty list).
fn is_credentials_page(html: &str) -> bool {
    html.contains("<h1>Credentials</h1>") && html.contains("<article class=\"credential")
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

/// The test Keystone's equivalent calls, at 64 connections: `GET /v3/credentials` of a user with
/// 50 EC2 credentials, and `GET /v3/users/{id}/application_credentials` of a user with 50
/// application credentials, each with the user's own token.
async fn keystone(seconds: u64) -> anyhow::Result<Vec<(&'static str, Load)>> {
    const KEYS: usize = 50;
    let stack = tokio::task::spawn_blocking(backends::OpenStack::get).await?;
    let user = stack.create_user().await;
    let base = stack.keystone_url.clone();
    let http = reqwest::Client::new();
    let auth = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": user.id, "password": user.password}}},
        "scope": {"project": {"id": user.project_id}}
    }});
    let response = http
        .post(format!("{base}/auth/tokens"))
        .json(&auth)
        .send()
        .await?;
    ensure!(
        response.status() == 201,
        "Keystone token: {}",
        response.status()
    );
    let token = response
        .headers()
        .get("x-subject-token")
        .context("a Keystone token")?
        .to_str()?
        .to_string();
    for i in 0..KEYS {
        for (path, body) in [
            (
                format!("users/{}/credentials/OS-EC2", user.id),
                json!({"tenant_id": user.project_id}),
            ),
            (
                format!("users/{}/application_credentials", user.id),
                json!({"application_credential": {"name": format!("bench-{i}")}}),
            ),
        ] {
            let response = http
                .post(format!("{base}/{path}"))
                .header("X-Auth-Token", &token)
                .json(&body)
                .send()
                .await?;
            ensure!(
                response.status() == 201,
                "Keystone {path}: {}",
                response.status()
            );
        }
    }
    let header = format!("X-Auth-Token: {token}");
    let mut loads = Vec::new();
    for (what, path) in [
        (
            "GET /v3/credentials, 50 EC2 credentials",
            "credentials".to_string(),
        ),
        (
            "GET /v3/users/{id}/application_credentials, 50 of them",
            format!("users/{}/application_credentials", user.id),
        ),
    ] {
        let url = format!("{base}/{path}");
        let body = http
            .get(&url)
            .header("X-Auth-Token", &token)
            .send()
            .await?
            .text()
            .await?;
        ensure!(
            body.matches("\"id\"").count() >= KEYS,
            "Keystone lists the {KEYS}: {body}"
        );
        loads.push((what, wrk(&url, 64, seconds, std::slice::from_ref(&header))?));
    }
    Ok(loads)
}
