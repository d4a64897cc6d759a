//! The portal assembled: the one place that knows every router, layer and background task.
//! Pages (`web`) and the API (`api`) are siblings under it; neither imports the other.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    extract::{MatchedPath, Request},
    middleware,
};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use crate::{
    api,
    config::{Config, redact_url},
    db::{
        self, Db,
        keys::{self, KeySource},
        sessions::DbSessionStore,
    },
    ops::{self, Ops},
    origin, server,
    state::AppState,
    web,
};

/// A portal ready to serve: database migrated, master key checked, port bound.
pub struct App {
    listener: TcpListener,
    router: Router,
    db: Db,
    state: AppState,
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
        // The provider sends browsers back to the address the portal is reached at: the bound
        // one when no public URL is set (port 0 picks one).
        let reached_at = match &config.public_url {
            Some(_) => config.public_url(),
            None => format!("http://{}", listener.local_addr()?),
        };
        let sso = ops::sso::Sso::from_config(&config, &reached_at)?;
        let ops = Ops::new(db.clone(), Arc::new(key), config.public_url()).with_sso(sso);
        let reminders =
            ops::reminders::Channels::from_settings(&config.reminders, &config.public_url())?;
        let state = AppState::new(config, ops, reminders);
        Ok(App {
            listener,
            router: router(state.clone(), &db),
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
        spawn_session_cleanup(self.db.clone());
        // Held while this process runs: the next process of this host then knows at once
        // whether this one is gone.
        let (_host_lock, dead) = match self.state.config.host_lock_dir() {
            Some(dir) => match db::host_processes::take(&dir, self.db.instance()) {
                Ok((lock, dead)) => (Some(lock), dead),
                Err(e) => {
                    tracing::warn!(error = %e, dir = %dir.display(), "cannot lock this process's file; stopped processes are found by their silence only");
                    (None, Vec::new())
                }
            },
            None => (None, Vec::new()),
        };
        ops::reconcile::reconcile_and_spawn(self.state.ops.clone(), &dead).await;
        ops::reminders::spawn(self.state.ops.clone(), self.state.reminders.clone());
        ops::sso::spawn_checks(self.state.ops.clone());
        ops::departures::spawn_revocations(self.state.ops.clone());
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

/// Pages, API and the open routes, under the layers every request goes through.
pub fn router(state: AppState, db: &Db) -> Router {
    // A session is written only when it changes: at sign-in, for a notice, and when a signed-in
    // session is touched to push back its expiry (at most once a minute; see `web::session`).
    let sessions = SessionManagerLayer::new(DbSessionStore::new(db.clone()))
        .with_name("keyport_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            state.config.session_idle_minutes.into(),
        )));

    Router::new()
        .merge(web::open_router())
        .merge(api::router(&state))
        .merge(web::router(&state, sessions, api::openapi()))
        // Inside the body limit, which hands on a body of its own type (the route takes any).
        .layer(middleware::from_fn_with_state(
            state.config.limits.body_timeout(),
            web::limits::guard,
        ))
        // Each `Router::layer` boxes every route once more, and the middlewares clone what is
        // inside them for every request: the layers go in as one stack, the outermost first.
        .layer(
            ServiceBuilder::new()
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                // Before every layer that reads a body whole: an upload's goes to its handler.
                .layer(middleware::from_fn(crate::upload::stash_upload))
                // Around the body limit, so that its 413 is shaped too.
                .layer(middleware::from_fn(api::iam_shaped))
                .layer(middleware::from_fn_with_state(
                    state.config.secure_cookies(),
                    web::headers::add,
                ))
                .layer(middleware::from_fn_with_state(
                    Arc::new(state.config.limits.trusted_proxies.clone()),
                    origin::client_address::layer,
                ))
                .layer(RequestBodyLimitLayer::new(64 * 1024)),
        )
        .with_state(state)
}

/// Logs the route pattern, not the path: paths may carry one-time tokens. Each request gets an
/// id, so that an error's log lines can be told from those of other requests.
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let id = uuid::Uuid::new_v4().simple().to_string();
    tracing::info_span!("request", id = &id[..12], method = %request.method(), route)
}

/// Deletes expired sessions and refresh token families now and then: one process of those
/// serving the database does it.
fn spawn_session_cleanup(db: Db) {
    const EVERY: Duration = Duration::from_secs(600);
    tokio::spawn(async move {
        let store = DbSessionStore::new(db.clone());
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            match db::instances::take_lease(&db, "session-cleanup", EVERY).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "could not take the session cleanup lease");
                    continue;
                }
            }
            if let Err(e) = tower_sessions::ExpiredDeletion::delete_expired(&store).await {
                tracing::warn!(error = %e, "could not delete expired sessions");
            }
            if let Err(e) = db::tokens::forget_expired_families(&db).await {
                tracing::warn!(error = %e, "could not forget expired refresh token families");
            }
        }
    });
}
