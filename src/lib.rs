//! Keyport: a self-hosted portal where a team keeps, shows and rotates the credentials of the
//! services it uses. The binary and the tests both serve the [`App`] built here.

pub mod api;
pub mod client;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod files;
pub mod ops;
pub mod providers;
pub mod server;
pub mod snippets;
pub mod web;

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::{
    config::{Config, redact_url},
    db::Db,
    db::keys::{self, KeySource},
};

/// A portal ready to serve: database migrated, master key checked, port bound.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    db: Db,
    state: web::AppState,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let db = Db::connect(&config.database.url).await?;
        db.migrate().await?;
        tracing::info!(database = %redact_url(&config.database.url), "database ready");
        let (key, source) = keys::open_master_key(&config.master_key, &db).await?;
        match &source {
            KeySource::Generated(path) => tracing::warn!(
                path = %path.display(),
                key_id = %key.id(),
                "generated a new master key: back this file up now; without it the secrets in the database cannot be read"
            ),
            KeySource::File(path) => {
                tracing::info!(path = %path.display(), key_id = %key.id(), "master key loaded")
            }
            KeySource::Environment => {
                tracing::info!(key_id = %key.id(), "master key loaded from KEYPORT_MASTER_KEY")
            }
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let state = web::AppState::new(db.clone(), config, key);
        Ok(App {
            listener,
            router: web::router(state.clone()),
            db,
            state,
        })
    }

    /// The portal's database handle (tests use it to arrange data and to take the database away).
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes the requests under way.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        web::spawn_session_cleanup(self.db.clone());
        ops::reconcile::reconcile_and_spawn(self.state.ops.clone()).await;
        tracing::info!(address = %self.local_addr(), "serving");
        let limits = self.state.config.limits.clone();
        server::serve(self.listener, self.router, &limits, shutdown).await;
        // Every request has finished: nothing of this process is under way any more.
        if let Err(e) = db::instances::deregister(&self.db).await {
            tracing::warn!(error = %e, "cannot tell other processes this one stopped");
        }
        self.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
