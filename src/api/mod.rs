//! The JSON side of Keyport: token exchange at `/identity` (IAM's shapes) and the REST API at
//! `/api/v1`, over the same operations as the pages. No session, no CSRF: every API request
//! carries its bearer token.

mod auth;
mod error;
mod identity;
mod v1;

use axum::Router;

use crate::state::AppState;

pub use identity::iam_shaped;
pub use v1::openapi;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(identity::router(&state.config))
        .nest("/api/v1", v1::router())
}
