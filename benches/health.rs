//! The credential health page with 10,000 keys in one project: how long the portal takes to
//! answer it (rendered and sent over loopback, measured by the client), page after page.
//!
//! Seeds a project (through the portal, then SQL for the bulk): 10 services (some with a
//! rotation policy), 50 apps, 10,000 keys of every age and condition, and 20,000 Shows, Copies
//! and Downloads in the audit log. Then asks each view `KEYPORT_BENCH_VIEWS` times (20 by
//! default) after two views to warm up, one after another, and prints the fastest, median, 90th
//! percentile and slowest answer, with the answer's size, and the same for the page's reads
//! alone (`db::key_health::project`). Any answer but 200 fails the run.
//!
//!   cargo bench --bench health                                      # SQLite
//!   KEYPORT_TEST_POSTGRES_URL=postgres://... cargo bench --bench health   # PostgreSQL
//!
//! The portal runs in this process (the integration tests' harness, `tests/it/helpers.rs`), as a
//! release build.

#[allow(dead_code)]
#[path = "../tests/it/helpers.rs"]
mod helpers;

mod timing;

use std::time::Instant;

use anyhow::ensure;
use keyport::{crypto::random_bytes, db};
use timing::{measure, print_row, views};

const KEYS: usize = 10_000;
const SERVICES: usize = 10;
const APPS: usize = 50;
const USES: usize = 20_000;
const DAY: i64 = 86_400;
/// Rows per insert: well under SQLite's limit of bound values.
const BATCH: usize = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let backend = match std::env::var("KEYPORT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => "PostgreSQL",
        _ => "SQLite",
    };
    let app = helpers::TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let started = Instant::now();
    seed(&app).await?;
    println!(
        "Key health, {backend}: {KEYS} keys in {SERVICES} services, {USES} uses in the audit log \
         (seeded in {:.1} s); {} views each after 2 to warm up, release build",
        started.elapsed().as_secs_f64(),
        views()
    );
    println!();
    println!("| view | fastest ms | median ms | p90 ms | slowest ms | KB |");
    println!("|---|---|---|---|---|---|");
    // The page's two reads alone (the keys decoded), for where the time goes.
    let project: String = sqlx::query_scalar("select id from projects where slug = 'team'")
        .fetch_one(app.db.pool())
        .await?;
    let mut times = Vec::new();
    for n in 0..views() + 2 {
        let asked = Instant::now();
        let keys = db::key_health::project(&app.db, &project).await?;
        ensure!(keys.len() == KEYS, "{} keys read", keys.len());
        if n >= 2 {
            times.push(asked.elapsed());
        }
    }
    times.sort();
    print_row("the reads alone (`db::key_health::project`)", &times, 0);
    for (what, path) in [
        (
            "the project's page (oldest first, page 1)",
            "/projects/team/health",
        ),
        (
            "by name, page 50",
            "/projects/team/health?sort=key&dir=asc&page=50",
        ),
        ("overdue only", "/projects/team/health?flag=overdue"),
        (
            "one service",
            "/projects/team/health?service=bench-service-3",
        ),
        ("CSV of all 10,000", "/projects/team/health?format=csv"),
        ("the instance's page", "/admin/health"),
    ] {
        let (times, bytes) = measure(&admin, path).await?;
        print_row(what, &times, bytes);
    }
    Ok(())
}

/// The `values` of an insert of [`BATCH`] rows: `columns` bound values each, then `constants`.
fn rows(columns: usize, constants: &str) -> String {
    let rows: Vec<String> = (0..BATCH)
        .map(|row| {
            let values: Vec<String> = (1..=columns)
                .map(|c| format!("${}", row * columns + c))
                .collect();
            format!("({}, {constants})", values.join(", "))
        })
        .collect();
    rows.join(", ")
}

/// The services, apps, keys and uses, in a few large inserts.
async fn seed(app: &helpers::TestApp) -> anyhow::Result<()> {
    let pool = app.db.pool();
    let project: String = sqlx::query_scalar("select id from projects where slug = 'team'")
        .fetch_one(pool)
        .await?;
    let admin: String = sqlx::query_scalar("select id from users")
        .fetch_one(pool)
        .await?;
    let now = db::now();
    let mut tx = pool.begin().await?;
    for s in 0..SERVICES {
        // A third with a 90-day policy, a third with a year's, a third without.
        let (max_age, warning) = match s % 3 {
            0 => (Some(90i64), Some(14i64)),
            1 => (Some(365), None),
            _ => (None, None),
        };
        sqlx::query(
            "insert into services (id, project_id, kind, name, description, driver,
                 max_keys_per_owner, os_user_domain, os_project_name, os_project_domain,
                 created_at, max_key_age_days, rotation_warning_days)
             values ($1, $2, 's3', $3, '', 'stored', 5, '', '', '', $4, $5, $6)",
        )
        .bind(format!("bench-service-{s}"))
        .bind(&project)
        .bind(format!("Service {s}"))
        .bind(now)
        .bind(max_age)
        .bind(warning)
        .execute(&mut *tx)
        .await?;
    }
    for a in 0..APPS {
        sqlx::query(
            "insert into apps (id, project_id, name, description, created_at)
             values ($1, $2, $3, '', $4)",
        )
        .bind(format!("bench-app-{a}"))
        .bind(&project)
        .bind(format!("app {a}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for first in (0..KEYS).step_by(BATCH) {
        let sql = format!(
            "insert into credentials (id, project_id, service_id, owner_user_id, owner_app_id,
                 name, access_key, secret, created_at, rotated_at, expires_at, enabled, state,
                 created_by)
             values {}",
            rows(13, "'bench'")
        );
        let mut query = sqlx::query(&sql);
        for i in first..first + BATCH {
            let (user, app) = match i % 10 {
                0 => (Some(admin.clone()), None),
                _ => (None, Some(format!("bench-app-{}", i % APPS))),
            };
            // Ages spread over three years; some rotated, some expiring or expired, a few
            // disabled or with an operation under way.
            let created = now - (i as i64 * 7919 % 1100) * DAY - 3600;
            let rotated = (i % 3 == 0).then(|| created + (i as i64 % 200) * DAY);
            let expires = (i % 5 == 0).then(|| now + ((i as i64 % 60) - 20) * DAY);
            query = query
                .bind(format!("bench-key-{i:05}"))
                .bind(&project)
                .bind(format!("bench-service-{}", i % SERVICES))
                .bind(user)
                .bind(app)
                .bind(format!("key {i:05}"))
                .bind(format!("KP{i:018}"))
                .bind(random_bytes::<69>().to_vec())
                .bind(created)
                .bind(rotated.filter(|r| *r < now))
                .bind(expires)
                .bind(i64::from(i % 97 != 0))
                .bind(if i % 501 == 0 { "rotating" } else { "active" });
        }
        query.execute(&mut *tx).await?;
    }
    for first in (0..USES).step_by(BATCH) {
        let sql = format!(
            "insert into audit_events (at, project_id, credential_id, action, detail, actor, target, ip)
             values {}",
            rows(5, "'bench@example.org', 'Service / key', ''")
        );
        let mut query = sqlx::query(&sql);
        for n in first..first + BATCH {
            // Two keys in three used, some often; the uses spread over 400 days.
            let key = n * 3 / 2 % KEYS;
            let action = [
                "credential.reveal",
                "credential.copy",
                "credential.download",
            ][n % 3];
            let detail = if n % 4001 == 0 { "damaged" } else { "" };
            query = query
                .bind(now - (n as i64 * 37 % 400) * DAY)
                .bind(&project)
                .bind(format!("bench-key-{key:05}"))
                .bind(action)
                .bind(detail);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    // A settled database: autovacuum gathers PostgreSQL's statistics within a minute of a bulk
    // load (SQLite's planner needs none; Keyport never runs ANALYZE there).
    if std::env::var("KEYPORT_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        sqlx::query("analyze").execute(pool).await?;
    }
    Ok(())
}
