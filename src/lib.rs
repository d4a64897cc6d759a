//! Keyport: a self-hosted portal where a team keeps, shows and rotates the credentials of the
//! services it uses. The binary and the tests both serve the [`App`] built here.

pub mod api;
mod app;
pub mod client;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod files;
pub mod ops;
pub mod origin;
pub mod providers;
pub mod server;
pub mod snippets;
pub mod state;
pub mod upload;
pub mod web;

pub use app::App;

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
