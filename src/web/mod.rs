//! The server-rendered portal: the pages, their extractors, and the layers every page goes through.

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
pub mod buckets;
pub mod client_config;
mod confirm;
mod credentials;
mod csrf;
mod endpoints;
mod error;
pub(crate) mod extract;
mod form_token;
mod forms;
pub mod headers;
mod health;
mod key_health;
pub mod limits;
mod members;
mod projects;
mod reconcile;
mod services;
mod session;
mod setup;
mod sso;
mod step_up;
mod throttle;
mod view;

use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
};
use tower::ServiceBuilder;
use tower_sessions::{SessionManagerLayer, SessionStore};

pub use crate::state::AppState;
pub use error::PageError;

/// The routes that need no session: probes and static files.
pub fn open_router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(assets::router())
        .merge(sso::back_channel_router())
}

/// Every page, under the session, the setup gate and the CSRF guard. `api_document` is the
/// API's own description, which the `/api` page shows.
pub fn router<Store: SessionStore + Clone>(
    state: &AppState,
    sessions: SessionManagerLayer<Store>,
    api_document: &'static utoipa::openapi::OpenApi,
) -> Router<AppState> {
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

    Router::new()
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
        .merge(api_docs::router(api_document))
        .merge(audit::router())
        .merge(key_health::router())
        .merge(sso::router())
        .merge(buckets::router())
        .fallback(not_found)
        // Each `Router::layer` boxes every route once more, and the middlewares clone what is
        // inside them for every request: the layers go in as one stack, the outermost first.
        .layer(
            ServiceBuilder::new()
                .layer(sessions)
                .layer(middleware::from_fn_with_state(state.clone(), setup_gate))
                .layer(middleware::from_fn_with_state(state.clone(), csrf::guard))
                .layer(middleware::from_fn(step_up::ask_for_proof)),
        )
}

/// Until the first admin exists, every page leads to `/setup`.
async fn setup_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.ops.setup_done().await {
        Ok(true) => next.run(request).await,
        Ok(false) if request.uri().path() == "/setup" => next.run(request).await,
        Ok(false) => Redirect::to("/setup").into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn not_found() -> PageError {
    PageError::NotFound
}
