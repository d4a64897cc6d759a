//! Liveness and readiness probes for load balancers and orchestrators.

use std::time::Duration;

use axum::{Router, extract::State, http::StatusCode, routing::get};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz_get))
        .route("/readyz", get(readyz_get))
}

/// The process answers; the database is not asked.
async fn healthz_get() -> &'static str {
    "ok"
}

/// Ready when the database answers.
async fn readyz_get(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.ops.database_answers(Duration::from_secs(2)).await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}
