//! The server-rendered portal: state, the router, and the layers every page goes through.

mod account;
mod admin;
mod admin_audit;
mod api_access;
mod api_docs;
mod apps;
mod assets;
mod audit;
mod auth;
mod backends;
pub mod client_address;
pub mod client_config;
mod confirm;
mod credentials;
mod csrf;
mod endpoints;
mod error;
pub(crate) mod extract;
mod form_token;
mod forms;
mod headers;
mod health;
mod limits;
mod members;
mod projects;
mod reconcile;
mod services;
mod session;
mod setup;
mod step_up;
mod throttle;
mod view;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
};
use tower::ServiceBuilder;
use tower_http::{limit::RequestBodyLimitLayer, trace::TraceLayer};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use crate::{
    config::Config,
    crypto::master_key::MasterKey,
    db::{Db, sessions::DbSessionStore, settings},
    ops::Ops,
};

pub use error::PageError;

/// What every handler shares, behind one `Arc`: extractors and middleware take a copy of the
/// state for every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub db: Db,
    pub config: Arc<Config>,
    /// Every use case; handlers call these and nothing below them.
    pub ops: Ops,
    /// Set once the first admin exists; it is never unset, so it can be cached.
    setup_done: Arc<AtomicBool>,
    /// CSRF tokens for the forms of visitors without a session.
    form_tokens: form_token::FormTokens,
    /// Sign-in attempts per email, beside the per-address throttle.
    pub(crate) sign_in_backoff: Arc<throttle::AccountBackoff>,
}

impl AppState {
    pub fn new(db: Db, config: Config, master_key: MasterKey) -> Self {
        Self(Arc::new(Shared {
            form_tokens: form_token::FormTokens::new(&master_key),
            ops: Ops::new(db.clone(), Arc::new(master_key), config.public_url())
                .with_process_timeout(Duration::from_secs(config.process_timeout_seconds.into()))
                .with_backend_networks(config.limits.backend_allowed_networks.clone()),
            db,
            config: Arc::new(config),
            setup_done: Arc::new(AtomicBool::new(false)),
            sign_in_backoff: Arc::default(),
        }))
    }

    async fn setup_done(&self) -> Result<bool, sqlx::Error> {
        if self.setup_done.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let done = settings::get(self.db.pool(), settings::SETUP_DONE)
            .await?
            .is_some();
        if done {
            self.setup_done.store(true, Ordering::Relaxed);
        }
        Ok(done)
    }
}

pub fn router(state: AppState) -> Router {
    // A session is written only when it changes: at sign-in, for a notice, and when a signed-in
    // session is touched to push back its expiry (at most once a minute; see `session.rs`).
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name("keyport_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            state.config.session_idle_minutes.into(),
        )));

    // The forms that check a password are throttled per client address; signing out never is.
    let password_forms = Router::new()
        .merge(setup::router())
        .merge(auth::router())
        .merge(account::router())
        .merge(step_up::router())
        .route_layer(throttle::layer())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::audit_throttled_sign_in,
        ));

    let pages = Router::new()
        .merge(password_forms)
        .merge(auth::sign_out_router())
        .merge(admin::router())
        .merge(admin_audit::router())
        .merge(projects::router())
        .merge(members::router())
        .merge(services::router())
        .merge(endpoints::router())
        .merge(backends::router())
        .merge(reconcile::router())
        .merge(credentials::router())
        .merge(client_config::router())
        .merge(apps::router())
        .merge(api_access::router())
        .merge(api_docs::router())
        .merge(audit::router())
        .fallback(not_found)
        // Each `Router::layer` boxes every route once more, and the middlewares clone what is
        // inside them for every request: the layers go in as one stack, the outermost first.
        .layer(
            ServiceBuilder::new()
                .layer(sessions)
                .layer(middleware::from_fn_with_state(state.clone(), setup_gate))
                .layer(middleware::from_fn_with_state(state.clone(), csrf::guard)),
        );

    Router::new()
        .merge(health::router())
        .merge(assets::router())
        .merge(crate::api::router(&state))
        .merge(pages)
        // Inside the body limit, which hands on a body of its own type (the route takes any).
        .layer(middleware::from_fn_with_state(
            state.config.limits.body_timeout(),
            limits::guard,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(middleware::from_fn_with_state(
                    state.config.secure_cookies(),
                    headers::add,
                ))
                .layer(middleware::from_fn_with_state(
                    Arc::new(state.config.limits.trusted_proxies.clone()),
                    client_address::layer,
                ))
                .layer(RequestBodyLimitLayer::new(64 * 1024)),
        )
        .with_state(state)
}

/// Until the first admin exists, every page leads to `/setup`.
async fn setup_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.setup_done().await {
        Ok(true) => next.run(request).await,
        Ok(false) if request.uri().path() == "/setup" => next.run(request).await,
        Ok(false) => Redirect::to("/setup").into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn not_found() -> PageError {
    PageError::NotFound
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

/// Deletes expired sessions now and then: one process of those serving the database does it.
pub fn spawn_session_cleanup(db: Db) {
    const EVERY: Duration = Duration::from_secs(600);
    tokio::spawn(async move {
        let store = DbSessionStore::new(db.clone());
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            match crate::db::instances::take_lease(&db, "session-cleanup", EVERY).await {
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
        }
    });
}
