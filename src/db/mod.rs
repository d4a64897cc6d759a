//! The database: one connection pool over SQLite or PostgreSQL (sqlx `Any`), migrations,
//! and one module of small named queries per table group.

pub mod api_keys;
pub mod apps;
pub mod audit;
pub mod backend_users;
pub mod credentials;
pub mod departures;
pub mod host_processes;
pub mod instances;
pub mod key_health;
pub mod key_holders;
pub mod keys;
mod page_reads;
pub mod projects;
pub mod reminders;
pub mod rotations;
pub mod services;
pub mod sessions;
pub mod settings;
pub mod sso;
pub mod step_up;
pub mod tokens;
pub mod two_factor;
pub mod users;

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    AnyConnection, AnyPool, Connection, Executor,
    any::{AnyPoolOptions, install_default_drivers},
    migrate::Migrator,
};

pub use self::page_reads::PageConnection;
use self::page_reads::PageReads;
use crate::config::redact_url;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How long a pooled connection may sit idle before it is checked again before use.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// This process among those that serve the database: the operations it starts name it.
    instance: std::sync::Arc<str>,
    page_reads: std::sync::Arc<PageReads>,
}

/// How many connections serve pages' reads, beside the pool's.
const PAGE_READ_CONNECTIONS: usize = 8;

/// Settings of every new connection. SQLite: WAL lets readers go on while one writer writes.
async fn prepare(connection: &mut AnyConnection, backend: Backend) -> sqlx::Result<()> {
    if backend == Backend::Sqlite {
        connection
            .execute("pragma journal_mode = wal; pragma synchronous = normal; pragma foreign_keys = on; pragma busy_timeout = 5000")
            .await?;
    }
    Ok(())
}

impl Db {
    /// Connects to `url`, creating a SQLite database file (and its folder) when missing.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, sqlite_url(url)?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Backend::Postgres, url.to_string())
        } else {
            anyhow::bail!(
                "unsupported database URL {}: use sqlite://PATH or postgres://...",
                redact_url(url)
            );
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(5))
            // A connection that sat idle may have been closed by the server (a restart, an idle
            // timeout) and is checked with a round trip before use; one in steady use is not,
            // which would double the round trips of every query under load.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_CHECK_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| Box::pin(prepare(conn, backend)))
            .connect(&url)
            .await
            .with_context(|| format!("cannot open the database at {}", redact_url(&url)))?;
        let page_reads = PageReads::new(url, backend, PAGE_READ_CONNECTIONS);
        Ok(Db {
            pool,
            backend,
            instance: new_id().into(),
            page_reads: std::sync::Arc::new(page_reads),
        })
    }

    /// A connection for the one query of a page, outside the pool (see `page_reads`).
    pub async fn page_connection(&self) -> sqlx::Result<PageConnection<'_>> {
        self.page_reads.connection().await
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("cannot apply database migrations")
    }

    /// The id of this process in `instances`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers a trivial query within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let query = sqlx::query("select 1").execute(&self.pool);
        matches!(tokio::time::timeout(timeout, query).await, Ok(Ok(_)))
    }

    pub async fn close(&self) {
        self.page_reads.close().await;
        self.pool.close().await;
    }
}

fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!(
            "an in-memory SQLite database would lose every credential at exit: give a file path"
        );
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        crate::files::create_private_dir(dir)
            .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
    }
    // Validate early so that a malformed URL gets a clear message.
    sqlx::sqlite::SqliteConnectOptions::from_str(url).context("malformed SQLite URL")?;
    Ok(if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}

/// Seconds since the Unix epoch: the unit of every timestamp column.
pub use crate::domain::time::now;

/// The stored form of a session id: a stolen copy of the table holds no usable cookie.
pub fn session_key(id: &str) -> String {
    crate::crypto::sha256_hex(id)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// `taken` when the error is a unique violation (a duplicate the user should hear about),
/// otherwise the database error itself.
pub fn unique_as<E: From<sqlx::Error>>(error: sqlx::Error, taken: E) -> E {
    if is_unique_violation(&error) {
        taken
    } else {
        error.into()
    }
}
