//! The error every page handler returns: a clear page with the right status for the user, the
//! cause in the log.

use askama::Template;

use crate::ops::OpError;
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
    /// The operation asks for a recent proof of identity: `step_up::ask_for_proof` turns the
    /// answer into the way to `/confirm-identity` and back.
    #[error("a recent proof of identity is needed")]
    StepUpRequired,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// An operation refused: the message says why and whether anything changed.
    #[error("refused: {1}")]
    Refused(StatusCode, String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<OpError> for PageError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::NotFound => PageError::NotFound,
            OpError::Forbidden(why) => PageError::Forbidden(why),
            OpError::Internal(cause) => PageError::Internal(cause),
            OpError::StepUpRequired => PageError::StepUpRequired,
            e => PageError::Refused(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::CONFLICT),
                e.message(),
            ),
        }
    }
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
struct ErrorPage<'a> {
    status: u16,
    title: &'static str,
    message: &'a str,
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
            PageError::StepUpRequired => {
                let mut response = error_page(
                    StatusCode::FORBIDDEN,
                    "Confirm who you are",
                    "Confirm who you are (your password, or a code of your app), then press the button again.",
                );
                response.extensions_mut().insert(StepUpAsked);
                return response;
            }
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "The form was refused because its security token was missing or out of date. Go back, reload the page and try again.",
            ),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Bad request", *why),
            PageError::Refused(status, why) => {
                let mut response = error_page(*status, "Nothing was changed", why);
                if *status == StatusCode::SERVICE_UNAVAILABLE {
                    response.headers_mut().insert(
                        axum::http::header::RETRY_AFTER,
                        axum::http::HeaderValue::from_static("5"),
                    );
                }
                return response;
            }
            PageError::Internal(cause) => {
                // The request's span carries its id, so the log line can be found from a report.
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

/// Marks the answer of an operation that asked for a recent proof of identity.
#[derive(Clone, Copy, Debug)]
pub struct StepUpAsked;

/// The error page, for failures that do not come from a handler (e.g. the throttle).
pub fn error_page(status: StatusCode, title: &'static str, message: &str) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        title,
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, message.to_string()).into_response(),
    }
}
