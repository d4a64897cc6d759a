//! The errors of the JSON API: `{"error": {"code", "message"}}` with the right status; internal
//! details go to the log, never into the answer.

use axum::{
    Json,
    extract::rejection::{JsonRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ops::{FieldErrors, OpError};

/// An error answer of the API.
#[derive(Serialize, ToSchema)]
pub struct ApiError {
    pub error: ErrorBody,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code, e.g. `not_found`, `forbidden`, `invalid`, `unauthorized`.
    pub code: String,
    /// What went wrong, in words; says whether anything changed.
    pub message: String,
    /// For `invalid`: the message of each field that is wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

#[derive(Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A failed API call: the status and the body to answer with.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<(String, String)>,
}

impl Failure {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn unauthorized() -> Self {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Send a valid access token: Authorization: Bearer TOKEN (from POST /identity/token).",
        )
    }

    pub fn not_found() -> Self {
        Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            OpError::NotFound.message(),
        )
    }

    fn invalid(errors: &FieldErrors) -> Self {
        Failure {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            message: errors.summary(),
            fields: errors
                .iter()
                .map(|(f, m)| (f.to_string(), m.to_string()))
                .collect(),
        }
    }
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Self {
        match &e {
            OpError::NotFound => Failure::not_found(),
            OpError::Invalid(errors) => Failure::invalid(errors),
            e => {
                if let OpError::Internal(cause) = e {
                    tracing::error!(error = format!("{cause:#}"), "API request failed");
                }
                let status =
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Failure::new(status, e.code(), e.message())
            }
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        OpError::from(e).into()
    }
}

/// A body that is not the JSON an operation takes (syntax, type, content type): 422, as a
/// wrong field is, with the parser's words.
impl From<JsonRejection> for Failure {
    fn from(e: JsonRejection) -> Self {
        Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text())
    }
}

/// A query string that does not parse: 422, as a wrong field is.
impl From<QueryRejection> for Failure {
    fn from(e: QueryRejection) -> Self {
        Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ApiError {
            error: ErrorBody {
                code: self.code.to_string(),
                message: self.message,
                fields: self
                    .fields
                    .into_iter()
                    .map(|(field, message)| FieldError { field, message })
                    .collect(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        // RFC 6750: a 401 names the scheme the client must use.
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"keyport\""),
            );
        }
        response
    }
}
