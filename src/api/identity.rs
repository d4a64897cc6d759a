//! `/identity`: the token exchange as IBM Cloud IAM answers it, so that IAM clients (IBM's SDKs'
//! `IAMAuthenticator`) work unchanged with Keyport's URL, and the JWKS of the keys that sign.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use axum::{
    Extension, Form, Json, Router,
    extract::{FromRequestParts, Request, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::error::Failure;
use crate::{
    config::Config,
    ops::{
        self, Actor,
        tokens::{Refused, Tokens, fingerprint},
    },
    origin::actor_as,
    state::AppState,
};

pub const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

pub fn router(config: &Config) -> Router<AppState> {
    let throttles = Arc::new(Throttles::new(config));
    forget_idle(Arc::downgrade(&throttles));
    Router::new()
        .route("/identity/token", post(token_post))
        .route("/identity/keys", get(keys_get))
        .layer(Extension(throttles))
}

/// Bounds the work one client or one key can cause: exchanges per client address and per
/// presented key or token (`--token-exchanges-per-second`, `--token-exchanges-per-key`). Past
/// either, 429 with `Retry-After`.
struct Throttles {
    by_address: DefaultKeyedRateLimiter<String>,
    by_key: DefaultKeyedRateLimiter<String>,
}

impl Throttles {
    fn new(config: &Config) -> Self {
        // The flags refuse 0; a `Config` built in code with 0 gets the smallest quota, not a panic.
        let quota = |per_second: u32, burst_factor: u32| {
            let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
            Quota::per_second(per_second)
                .allow_burst(per_second.saturating_mul(NonZeroU32::new(burst_factor).unwrap()))
        };
        Throttles {
            by_address: RateLimiter::keyed(quota(config.token_exchanges_per_second, 4)),
            by_key: RateLimiter::keyed(quota(config.token_exchanges_per_key, 6)),
        }
    }

    /// `Err(seconds to wait)` when the address or the key is over its quota.
    fn check(&self, address: &str, key: &str) -> Result<(), u64> {
        let wait = |limit: Result<(), governor::NotUntil<_>>| {
            limit.map_err(|not_until| {
                not_until
                    .wait_time_from(governor::clock::Clock::now(
                        &governor::clock::DefaultClock::default(),
                    ))
                    .as_secs()
                    .max(1)
            })
        };
        wait(self.by_address.check_key(&address.to_string()))?;
        wait(self.by_key.check_key(&fingerprint(key)))
    }
}

/// Drops the counters of quiet clients and keys, so that memory stays bounded.
fn forget_idle(throttles: std::sync::Weak<Throttles>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(throttles) = throttles.upgrade() else {
                return;
            };
            throttles.by_address.retain_recent();
            throttles.by_key.retain_recent();
        }
    });
}

/// The form IAM clients post.
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// `urn:ibm:params:oauth:grant-type:apikey` (or `apikey`), or `refresh_token`.
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    #[schema(value_type = String)]
    apikey: Zeroizing<String>,
    #[serde(default)]
    #[schema(value_type = String)]
    refresh_token: Zeroizing<String>,
    /// `cloud_iam`, as IBM's SDKs send it; accepted and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    response_type: String,
}

/// IAM's error shape, which IAM clients read (`errorMessage`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamError {
    error_code: &'static str,
    error_message: &'static str,
    context: IamContext,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamContext {
    request_type: &'static str,
}

fn iam_error(status: StatusCode, code: &'static str, message: &'static str) -> Response {
    let body = IamError {
        error_code: code,
        error_message: message,
        context: IamContext {
            request_type: "token",
        },
    };
    (status, Json(body)).into_response()
}

/// Every refusal of `/identity/token` in IAM's shape, whoever made it: the method router (405),
/// the form's rejections (415, 422, 413 for a chunked body) and the body limit around the whole
/// app (413), whose answers are plain text or empty. IBM's SDKs read `errorCode` and
/// `errorMessage` of every 4xx. Put around everything, so that the body limit's 413 passes here.
pub async fn iam_shaped(request: Request, next: Next) -> Response {
    if request.uri().path() != "/identity/token" {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("BXNIM0405E", "Use POST, with a form body."),
        StatusCode::PAYLOAD_TOO_LARGE => ("BXNIM0413E", "The request body is too large."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "BXNIM0417E",
            "Send the fields as application/x-www-form-urlencoded.",
        ),
        _ => (
            "BXNIM0400E",
            "The request is malformed: send grant_type and apikey (or refresh_token) once each, form-encoded.",
        ),
    };
    let mut shaped = iam_error(status, code, message);
    if let Some(allow) = response.headers().get(header::ALLOW) {
        shaped.headers_mut().insert(header::ALLOW, allow.clone());
    }
    shaped
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::UNAUTHORIZED);
        iam_error(status, self.code, self.message)
    }
}

/// The address and user agent of the request, for the audit log and the throttle.
struct Client(Actor);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Client(actor_as(parts, None, "token exchange".into())))
    }
}

/// Exchanges an API key or a refresh token for tokens.
#[utoipa::path(
    post,
    path = "/identity/token",
    tag = "identity",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An access token (a JWT, one hour) and a refresh token (single use)", body = TokenAnswer),
        (status = 400, description = "A grant type Keyport does not know, or a missing field", body = IamError),
        (status = 401, description = "The key or refresh token does not work (unknown, disabled, expired, used)", body = IamError),
        (status = 429, description = "Too many exchanges from this address or with this key", body = IamError),
    )
)]
async fn token_post(
    State(state): State<AppState>,
    Extension(throttles): Extension<Arc<Throttles>>,
    Client(actor): Client,
    Form(form): Form<TokenForm>,
) -> Result<Response, Failure> {
    // Trimmed once, so that the throttle counts the key the lookup finds.
    let presented = match form.grant_type.as_str() {
        APIKEY_GRANT | "apikey" => form.apikey.trim(),
        "refresh_token" => form.refresh_token.trim(),
        _ => {
            return Ok(iam_error(
                StatusCode::BAD_REQUEST,
                "BXNIM0109E",
                "Unsupported grant type: use urn:ibm:params:oauth:grant-type:apikey or refresh_token.",
            ));
        }
    };
    if presented.is_empty() {
        return Ok(iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0106E",
            "The apikey (or refresh_token) parameter is missing.",
        ));
    }
    if let Err(wait) = throttles.check(&actor.ip, presented) {
        let mut response = iam_error(
            StatusCode::TOO_MANY_REQUESTS,
            "BXNIM0429E",
            "Too many token requests: wait, then try again.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(response);
    }
    let answer = if form.grant_type == "refresh_token" {
        ops::tokens::refresh(&state.ops, presented, &actor).await?
    } else {
        ops::tokens::exchange(&state.ops, presented, &actor.ip).await?
    };
    Ok(match answer {
        Ok(tokens) => Json(TokenAnswer::from(tokens)).into_response(),
        Err(refused) => refused.into_response(),
    })
}

/// The answer to a token exchange.
#[derive(Serialize, ToSchema)]
pub struct TokenAnswer {
    access_token: String,
    refresh_token: String,
    /// `Bearer`.
    token_type: String,
    /// Seconds: 3600.
    expires_in: i64,
    /// When the access token expires, in Unix seconds.
    expiration: i64,
    scope: String,
}

impl From<Tokens> for TokenAnswer {
    fn from(tokens: Tokens) -> Self {
        TokenAnswer {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: tokens.token_type.into(),
            expires_in: tokens.expires_in,
            expiration: tokens.expiration,
            scope: tokens.scope.into(),
        }
    }
}

/// The public keys that verify Keyport's access tokens (EdDSA, Ed25519), as a JWKS.
#[utoipa::path(
    get,
    path = "/identity/keys",
    tag = "identity",
    responses((status = 200, description = "A JSON Web Key Set", content_type = "application/json"))
)]
async fn keys_get(State(state): State<AppState>) -> Result<Response, Failure> {
    let keys = ops::tokens::jwks(&state.ops).await?;
    Ok(Json(keys).into_response())
}
