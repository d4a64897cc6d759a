//! Throttling of the forms that check a password (sign-in, setup, set-password, password
//! change): a burst of attempts per client address, then one every few seconds.

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{HeaderValue, Method, Response, StatusCode, header},
};
use tower_governor::{
    GovernorError, GovernorLayer,
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::KeyExtractor,
};

use super::error::error_page;
use crate::origin::client_address::ClientAddress;

const BURST: u32 = 10;
const REFILL_SECONDS: u64 = 6;

/// Throttles by the client's address as `super::client_address` decided it (behind a trusted
/// proxy, the address it forwarded).
#[derive(Clone)]
pub struct ClientKey;

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, request: &axum::http::Request<T>) -> Result<IpAddr, GovernorError> {
        request
            .extensions()
            .get::<ClientAddress>()
            .map(|ClientAddress(address)| *address)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

type Config = GovernorConfig<ClientKey, governor::middleware::NoOpMiddleware>;

pub fn layer() -> GovernorLayer<ClientKey, governor::middleware::NoOpMiddleware, Body> {
    let config: Arc<Config> = Arc::new(
        GovernorConfigBuilder::default()
            .key_extractor(ClientKey)
            .per_second(REFILL_SECONDS)
            .burst_size(BURST)
            .methods(vec![Method::POST])
            .finish()
            .expect("a valid throttle configuration"),
    );
    forget_idle_clients(config.clone());
    GovernorLayer::new(config).error_handler(too_many)
}

/// Drops the counters of addresses that have been quiet, so memory stays bounded.
fn forget_idle_clients(config: Arc<Config>) {
    let limiter = Arc::downgrade(&config);
    drop(config);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(config) = limiter.upgrade() else {
                return;
            };
            config.limiter().retain_recent();
        }
    });
}

fn too_many(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            let mut response = error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "There were too many attempts from your address. Wait a minute, then go back and try again.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait_time));
            response
        }
        other => {
            tracing::error!(error = %other, "throttle could not identify the client");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Try again later.",
            )
        }
    }
}

/// The wait, in whole seconds for `Retry-After` and the message.
pub fn wait_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}
