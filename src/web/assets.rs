//! The stylesheet and script, compiled into the binary so that it runs from any folder.

use axum::{Router, http::header, response::IntoResponse, routing::get};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/style.css", get(style_get))
        .route("/static/app.js", get(script_get))
}

const CACHE: &str = "public, max-age=3600";

async fn style_get() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        include_str!("../../static/style.css"),
    )
}

async fn script_get() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        include_str!("../../static/app.js"),
    )
}
