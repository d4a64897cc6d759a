//! Connections for the one query every page makes (`sessions::load_with_user`), kept beside the
//! pool rather than in it: sqlx's pool checks every connection with a round trip to the database
//! when it comes back (a ping, which no setting turns off), so each page made two round trips
//! for its one query. A connection here goes back to the idle list only after its query
//! succeeded; one whose query failed or was cancelled is closed instead.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use sqlx::{AnyConnection, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{Backend, IDLE_CHECK_AFTER, prepare};

pub(super) struct PageReads {
    url: String,
    backend: Backend,
    /// At most this many connections, in use or idle.
    open: Semaphore,
    /// Connections not in use, with when they came back.
    idle: Mutex<Vec<(AnyConnection, Instant)>>,
}

/// How long a page waits for a connection when all are in use (the pool's own wait).
const WAIT: Duration = Duration::from_secs(5);

impl std::fmt::Debug for PageReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageReads")
            .field("available", &self.open.available_permits())
            .finish_non_exhaustive()
    }
}

impl PageReads {
    pub(super) fn new(url: String, backend: Backend, connections: usize) -> Self {
        Self {
            url,
            backend,
            open: Semaphore::new(connections),
            idle: Mutex::default(),
        }
    }

    /// A connection for one query; give it back with [`PageConnection::done`] once it answered.
    pub(super) async fn connection(&self) -> sqlx::Result<PageConnection<'_>> {
        let permit = tokio::time::timeout(WAIT, self.open.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle.lock().expect("idle connections").pop();
        let connection = match idle {
            // One that sat idle may have been closed by the server meanwhile (a restart).
            Some((mut connection, since)) if since.elapsed() >= IDLE_CHECK_AFTER => {
                match connection.ping().await {
                    Ok(()) => connection,
                    Err(_) => self.connect().await?,
                }
            }
            Some((connection, _)) => connection,
            None => self.connect().await?,
        };
        Ok(PageConnection {
            reads: self,
            connection: Some(connection),
            _permit: permit,
        })
    }

    /// No more connections are handed out; the idle ones are closed.
    pub(super) async fn close(&self) {
        self.open.close();
        let idle = std::mem::take(&mut *self.idle.lock().expect("idle connections"));
        for (connection, _) in idle {
            let _ = connection.close().await;
        }
    }

    async fn connect(&self) -> sqlx::Result<AnyConnection> {
        let mut connection = AnyConnection::connect(&self.url).await?;
        prepare(&mut connection, self.backend).await?;
        Ok(connection)
    }
}

/// A connection of [`PageReads`] in use; dropped without [`PageConnection::done`], it is closed.
pub struct PageConnection<'a> {
    reads: &'a PageReads,
    connection: Option<AnyConnection>,
    _permit: SemaphorePermit<'a>,
}

impl PageConnection<'_> {
    pub fn get(&mut self) -> &mut AnyConnection {
        self.connection.as_mut().expect("a connection until done")
    }

    /// Its query answered: the connection may serve the next page.
    pub fn done(mut self) {
        if let Some(connection) = self.connection.take() {
            self.reads
                .idle
                .lock()
                .expect("idle connections")
                .push((connection, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(reads: &PageReads) -> usize {
        reads.idle.lock().unwrap().len()
    }

    #[tokio::test]
    async fn a_connection_is_reused_only_after_its_query_answered() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let reads = PageReads::new(url, Backend::Sqlite, 2);

        let mut first = reads.connection().await.unwrap();
        sqlx::query("select 1").execute(first.get()).await.unwrap();
        first.done();
        assert_eq!(idle(&reads), 1, "given back after its query");

        // Taken again, then dropped without `done` (a failed or cancelled query): closed.
        let second = reads.connection().await.unwrap();
        assert_eq!(idle(&reads), 0, "the idle one was taken");
        drop(second);
        assert_eq!(idle(&reads), 0, "not given back");

        // At most two at once: a third waits until one is given back.
        let a = reads.connection().await.unwrap();
        let b = reads.connection().await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(100), reads.connection()).await;
        assert!(waiting.is_err(), "a third connection waits");
        a.done();
        let c = tokio::time::timeout(Duration::from_secs(5), reads.connection())
            .await
            .expect("one was given back")
            .unwrap();
        drop((b, c));

        reads.close().await;
        assert!(matches!(
            reads.connection().await.err(),
            Some(sqlx::Error::PoolClosed)
        ));
    }
}
