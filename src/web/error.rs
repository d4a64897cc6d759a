//! The error every page handler returns: a clear page with the right status for the user, the
//! cause in the log.

use askama::Template;
use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("the form was refused: CSRF token missing or wrong")]
    Csrf,
    #[error("sign-in required")]
    SignInRequired,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError::Internal(e.into())
    }
}

impl From<tower_sessions::session::Error> for PageError {
    fn from(e: tower_sessions::session::Error) -> Self {
        PageError::Internal(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: &'static str,
    message: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::SignInRequired => return Redirect::to("/login").into_response(),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or you may not see it.",
            ),
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", *why),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "The form was refused because its security token was missing or out of date. Go back, reload the page and try again.",
            ),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Bad request", *why),
            PageError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The portal could not complete this request. Nothing was changed; try again, and tell your administrator if it keeps happening.",
                )
            }
        };
        error_page(status, title, message)
    }
}

/// The error page, for failures that do not come from a handler (e.g. the throttle).
pub fn error_page(status: StatusCode, title: &'static str, message: &'static str) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        title,
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, message).into_response(),
    }
}
