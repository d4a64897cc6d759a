//! Load benchmark of the API, measured from outside with wrk, and Keystone doing the same.
//!
//! For SQLite and (with a PostgreSQL server named) PostgreSQL: seeds a project whose service
//! holds 50 credentials (added through the API) and 64 API keys, starts the release binary with
//! the token-exchange throttle raised as far as it goes, and measures with wrk (Debian's `wrk`):
//! - `/healthz` at 64 connections: the ceiling of the HTTP stack on this machine, in the same run;
//! - `POST /identity/token` with the apikey grant, rotating over the 64 keys, at 64 connections
//!   (rate, share of the ceiling) and at 8 (p99);
//! - `GET /api/v1/projects/bench/services/{id}/credentials` (50 credentials), rotating over 16
//!   access tokens, likewise;
//! - `POST /identity/token` with the refresh_token grant, likewise: a refresh token works once,
//!   so each wrk thread keeps a queue of unused ones, seeded with two per connection from
//!   exchanges, takes one for each request and puts back the one each answer brings; a token
//!   presented twice would revoke its family and fail the run;
//! - the queries each call makes (the server's own query log, read in a second run, after one
//!   call of each kind).
//!
//! Then the test Keystone: tokens from application credentials at `POST /v3/auth/tokens`
//! (rotating over 64 of them), and `GET /v3/credentials` of a user with 50 EC2 credentials (with
//! the user's password tokens: Keystone hides credentials from application credentials' tokens),
//! at 64 connections, and Keyport ÷ Keystone. Any answer with another status (201 for
//! Keystone's tokens, 200 for everything else) or a body without what it should hold fails the
//! run.
//!
//!   cargo bench --bench api                                    # SQLite
//!   KEYPORT_BENCH_POSTGRES_URL=postgres://... cargo bench ...  # SQLite, then PostgreSQL (a role
//!                                                              # that may create databases;
//!                                                              # KEYPORT_TEST_POSTGRES_URL works too)
//!   KEYPORT_BENCH_SECONDS=10                                   # per wrk run (the default)
//!   KEYPORT_TEST_OPENSTACK=DIR/stack.env                       # a running test stack; else one is started
//!   KEYPORT_BENCH_KEYSTONE=0                                   # skip Keystone
//!   KEYPORT_BENCH_BINARY=target/profiling/keyport              # another build of the portal
//!
//! `scripts/bench.sh` runs it after the page benchmark.

#[allow(dead_code)]
#[path = "../tests/it/backends.rs"]
mod backends;
#[path = "api/keystone.rs"]
mod keystone;
#[allow(dead_code)]
#[path = "load/mod.rs"]
mod load;

use std::{path::Path, time::Duration};

use anyhow::{Context, ensure};
use keyport::{
    commands::{self, ApiKeyRequest},
    config::{Config, MAX_EXCHANGES_PER_SECOND, MasterKeySettings},
    db::{self, Db},
};
use load::{
    Load, Request, Server, WRK_THREADS, client, env_number, fresh_postgres_database, lua_string,
    query_lines, rotation, wrk, wrk_scripted,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const EMAIL: &str = "bench@example.org";
const PROJECT: &str = "bench";
const CREDENTIALS: usize = 50;
const API_KEYS: usize = 64;
/// Access tokens the listing rotates over.
const LIST_TOKENS: usize = 16;
/// Calls of each kind counted in the query log, after one not counted.
const QUERY_SAMPLES: usize = 10;
const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";
const FORM: &str = "application/x-www-form-urlencoded";

/// What the benchmark found on one database.
struct Row {
    healthz: Load,
    exchange: Load,
    exchange_8: Load,
    list: Load,
    list_8: Load,
    refresh: Load,
    refresh_8: Load,
    /// Mean queries per exchange, listing and refresh.
    queries: [f64; 3],
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let seconds = env_number("KEYPORT_BENCH_SECONDS", 10).clamp(1, 600);
    let mut databases = vec![("SQLite", None)];
    if let Some(server) = ["KEYPORT_BENCH_POSTGRES_URL", "KEYPORT_TEST_POSTGRES_URL"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    {
        databases.push(("PostgreSQL", Some(server)));
    }
    println!("API (50 credentials, 64 API keys), wrk {seconds} s per run, release build");
    let mut rows = Vec::new();
    for (label, postgres) in databases {
        let dir = tempfile::tempdir()?;
        let url = match postgres {
            Some(server) => fresh_postgres_database(&server).await?,
            None => format!("sqlite://{}", dir.path().join("bench.db").display()),
        };
        rows.push((label, keyport(&url, dir.path(), seconds).await?));
    }

    println!();
    println!(
        "| database | /healthz req/s (64) | exchange req/s (64) | exchange ÷ /healthz | exchange p99 ms (8) | list req/s (64) | list ÷ /healthz | list p99 ms (8) | refresh req/s (64) | refresh ÷ /healthz | refresh p99 ms (8) | queries: exchange / list / refresh |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (label, row) in &rows {
        let share = |load: &Load| 100.0 * load.rate / row.healthz.rate;
        let [exchange, list, refresh] = row.queries;
        println!(
            "| {label} | {:.0} | {:.0} | {:.1}% | {:.2} | {:.0} | {:.1}% | {:.2} | {:.0} | {:.1}% | {:.2} | {exchange:.1} / {list:.1} / {refresh:.1} |",
            row.healthz.rate,
            row.exchange.rate,
            share(&row.exchange),
            row.exchange_8.p99_ms,
            row.list.rate,
            share(&row.list),
            row.list_8.p99_ms,
            row.refresh.rate,
            share(&row.refresh),
            row.refresh_8.p99_ms,
        );
    }
    println!();
    println!("aims: exchange and list ≥ 15% of /healthz, p99 ≤ 5 ms at 8 connections");

    if env_number("KEYPORT_BENCH_KEYSTONE", 1) == 1 {
        let (token, list) = keystone::measure(seconds).await?;
        println!();
        println!("| call at 64 connections | req/s | p50 ms | p99 ms | Keyport ÷ this |");
        println!("|---|---|---|---|---|");
        for (label, row) in &rows {
            for (what, keyport, keystone_what, keystone) in [
                (
                    "POST /identity/token, apikey",
                    &row.exchange,
                    "POST /v3/auth/tokens, application credential",
                    &token,
                ),
                (
                    "GET .../credentials, 50 credentials",
                    &row.list,
                    "GET /v3/credentials, 50 EC2 credentials",
                    &list,
                ),
            ] {
                println!(
                    "| Keyport ({label}): {what} | {:.0} | {:.2} | {:.2} | 1 |",
                    keyport.rate, keyport.p50_ms, keyport.p99_ms
                );
                println!(
                    "| Keystone: {keystone_what} | {:.1} | {:.1} | {:.1} | {:.0}× |",
                    keystone.rate,
                    keystone.p50_ms,
                    keystone.p99_ms,
                    keyport.rate / keystone.rate
                );
            }
        }
    }
    Ok(())
}

/// Seeds the database at `url`, runs the portal on it and measures it.
async fn keyport(url: &str, dir: &Path, seconds: u64) -> anyhow::Result<Row> {
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

    // The throttle raised as far as it goes: the runs measure the exchange, not the quota.
    let quota = MAX_EXCHANGES_PER_SECOND.to_string();
    let settings = [
        ("KEYPORT_TOKEN_EXCHANGES_PER_SECOND", quota.as_str()),
        ("KEYPORT_TOKEN_EXCHANGES_PER_KEY", quota.as_str()),
    ];
    let log = dir.join("keyport.log");
    let server = Server::start(url, &key_file, &log, "warn", &settings).await?;
    let base = server.base.clone();
    let http = client()?;
    let path = format!("/api/v1/projects/{PROJECT}/services/{service}/credentials");
    let credentials = format!("{base}{path}");
    add_credentials(&http, &base, &credentials, &keys[0], &apps).await?;

    let healthz = wrk(&format!("{base}/healthz"), 64, seconds, &[])?;

    let token_url = format!("{base}/identity/token");
    let bodies: Vec<_> = keys
        .iter()
        .map(|key| {
            let body = form(&[("grant_type", APIKEY_GRANT), ("apikey", key)]);
            Request {
                headers: vec![("Content-Type", FORM.to_string())],
                body: Some(body),
            }
        })
        .collect();
    let exchange_script = format!(
        "{}{}",
        rotation("POST", &bodies),
        expect_in_body(r#""access_token":""#, 0)
    );
    let exchange = wrk_scripted(&token_url, 64, seconds, &[], &exchange_script)?;
    let exchange_8 = wrk_scripted(&token_url, 8, seconds, &[], &exchange_script)?;

    let mut bearers = Vec::with_capacity(LIST_TOKENS);
    for key in &keys[..LIST_TOKENS] {
        let (access, _) = keyport_tokens(&http, &base, key).await?;
        bearers.push(Request {
            headers: vec![("Authorization", format!("Bearer {access}"))],
            body: None,
        });
    }
    // Every token is the same member's, so every listing is as long as the one checked here;
    // one shorter by half a credential's share lists fewer, and counts as a bad answer.
    let listed = check_listing(&http, &base, &credentials, &keys[0]).await?;
    let list_script = format!(
        "{}{}",
        rotation("GET", &bearers),
        expect_in_body(r#""credentials":["#, listed - listed / (2 * CREDENTIALS))
    );
    let list = wrk_scripted(&credentials, 64, seconds, &[], &list_script)?;
    let list_8 = wrk_scripted(&credentials, 8, seconds, &[], &list_script)?;

    let refresh = refresh_load(&http, &base, &keys, 64, seconds).await?;
    let refresh_8 = refresh_load(&http, &base, &keys, 8, seconds).await?;
    drop(server);

    let queries = count_queries(url, &key_file, &log, &settings, &keys[0], &path).await?;
    Ok(Row {
        healthz,
        exchange,
        exchange_8,
        list,
        list_8,
        refresh,
        refresh_8,
        queries,
    })
}

/// The mean queries of an exchange, a listing and a refresh, from the query log of a second run
/// on the same database, each after one call of its kind (which fills what is kept in memory and
/// makes a refresh family's row).
async fn count_queries(
    url: &str,
    key_file: &Path,
    log: &Path,
    settings: &[(&str, &str)],
    key: &str,
    path: &str,
) -> anyhow::Result<[f64; 3]> {
    let server = Server::start(url, key_file, log, "warn,sqlx::query=debug", settings).await?;
    let base = server.base.clone();
    let credentials = format!("{base}{path}");
    let http = client()?;
    // Writes made off the request (a key's last use, at most once a minute) land in this time.
    let settle = || tokio::time::sleep(Duration::from_millis(300));

    keyport_tokens(&http, &base, key).await?;
    settle().await;
    let before = query_lines(log);
    for _ in 0..QUERY_SAMPLES {
        keyport_tokens(&http, &base, key).await?;
    }
    settle().await;
    let exchanges = query_lines(log) - before;

    check_listing(&http, &base, &credentials, key).await?;
    let (access, mut refresh_token) = keyport_tokens(&http, &base, key).await?;
    settle().await;
    let before = query_lines(log);
    for _ in 0..QUERY_SAMPLES {
        let answer = http.get(&credentials).bearer_auth(&access).send().await;
        json_answer(answer, StatusCode::OK).await?;
    }
    settle().await;
    let listings = query_lines(log) - before;

    refresh_token = refresh(&http, &base, &refresh_token).await?;
    settle().await;
    let before = query_lines(log);
    for _ in 0..QUERY_SAMPLES {
        refresh_token = refresh(&http, &base, &refresh_token).await?;
    }
    settle().await;
    let refreshes = query_lines(log) - before;
    drop(server);
    Ok([exchanges, listings, refreshes].map(|q| q as f64 / QUERY_SAMPLES as f64))
}

/// wrk refreshing at `connections`, seeded with two unused refresh tokens per connection, each
/// the first of a family of its own.
async fn refresh_load(
    http: &reqwest::Client,
    base: &str,
    keys: &[String],
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Load> {
    let mut seeds = Vec::with_capacity(2 * connections);
    for i in 0..2 * connections {
        seeds.push(keyport_tokens(http, base, &keys[i % keys.len()]).await?.1);
    }
    let script = refresh_script(&seeds);
    wrk_scripted(
        &format!("{base}/identity/token"),
        connections,
        seconds,
        &[],
        &script,
    )
}

/// Lua that counts as bad an answer whose body lacks `marker` or is shorter than `length`.
fn expect_in_body(marker: &str, length: usize) -> String {
    format!(
        r#"
function answered(body)
  if #body < {length} or not string.find(body, {}, 1, true) then bad = bad + 1 end
end
"#,
        lua_string(marker)
    )
}

/// Lua for the refresh_token grant: each thread takes its share of `seeds`, sends each unused
/// token once and keeps the one each answer brings. With two seeds per connection a thread
/// always holds one; were it ever out of them, it would send an empty token, answered 400 and
/// counted as bad.
fn refresh_script(seeds: &[String]) -> String {
    let seeds: Vec<String> = seeds.iter().map(|s| lua_string(s)).collect();
    format!(
        r#"
local seeds = {{{seeds}}}
local unused = {{}}
local first, last = 1, 0
function init(args)
  for i, token in ipairs(seeds) do
    if (i - 1) % {WRK_THREADS} == thread_number - 1 then
      last = last + 1
      unused[last] = token
    end
  end
end
function request()
  local token = ""
  if first <= last then
    token = unused[first]
    unused[first] = nil
    first = first + 1
  end
  return wrk.format("POST", nil, {{["Content-Type"] = {form}}},
    "grant_type=refresh_token&refresh_token=" .. token)
end
function answered(body)
  local token = string.match(body, '"refresh_token":"([^"]+)"')
  if token then
    last = last + 1
    unused[last] = token
  else
    bad = bad + 1
  end
end
"#,
        seeds = seeds.join(", "),
        form = lua_string(FORM),
    )
}

fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The 50 credentials, through the API: 2 of the user, 2 of each of 24 apps.
async fn add_credentials(
    http: &reqwest::Client,
    base: &str,
    credentials: &str,
    key: &str,
    apps: &[String],
) -> anyhow::Result<()> {
    let (token, _) = keyport_tokens(http, base, key).await?;
    for i in 0..CREDENTIALS {
        let owner = match i {
            0 | 1 => "me".to_string(),
            _ => format!("app:{}", apps[(i - 2) / 2]),
        };
        let response = http
            .post(credentials)
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
    Ok(())
}

/// The length of the service's listing, checked to hold the 50 credentials.
async fn check_listing(
    http: &reqwest::Client,
    base: &str,
    credentials: &str,
    key: &str,
) -> anyhow::Result<usize> {
    let (token, _) = keyport_tokens(http, base, key).await?;
    let response = http.get(credentials).bearer_auth(&token).send().await?;
    ensure!(response.status() == StatusCode::OK, "{}", response.status());
    let body = response.bytes().await?;
    let listed: Value = serde_json::from_slice(&body)?;
    let count = listed["credentials"].as_array().map_or(0, Vec::len);
    ensure!(count == CREDENTIALS, "{count} credentials listed: {listed}");
    Ok(body.len())
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
    // As the page benchmark: PostgreSQL's statistics now rather than when autovacuum comes by.
    if db.backend() == db::Backend::Postgres {
        sqlx::query("analyze").execute(db.pool()).await?;
    }
    db.close().await;
    Ok((service, apps))
}

/// An access token and a refresh token for the API key `key`.
async fn keyport_tokens(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> anyhow::Result<(String, String)> {
    token_answer(http, base, &[("grant_type", APIKEY_GRANT), ("apikey", key)]).await
}

/// The refresh token that refreshing with `token` brings.
async fn refresh(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let fields = [("grant_type", "refresh_token"), ("refresh_token", token)];
    Ok(token_answer(http, base, &fields).await?.1)
}

async fn token_answer(
    http: &reqwest::Client,
    base: &str,
    fields: &[(&str, &str)],
) -> anyhow::Result<(String, String)> {
    let answer = http
        .post(format!("{base}/identity/token"))
        .form(fields)
        .send()
        .await;
    let body = json_answer(answer, StatusCode::OK).await?;
    let token = |name: &str| {
        body[name]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .with_context(|| format!("no {name} in the answer: {body}"))
    };
    Ok((token("access_token")?, token("refresh_token")?))
}

/// The JSON body of an answer with status `expected`.
async fn json_answer(
    answer: reqwest::Result<reqwest::Response>,
    expected: StatusCode,
) -> anyhow::Result<Value> {
    let response = answer?;
    let status = response.status();
    let body = response.bytes().await?;
    ensure!(
        status == expected,
        "{status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    serde_json::from_slice(&body).context("a JSON answer")
}
