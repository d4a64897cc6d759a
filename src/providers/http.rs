//! The HTTP side shared by the drivers: one client with timeouts, errors worded for the page,
//! and SigV4 signing (AWS's own `aws-sigv4`).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};

use super::DriverError;

/// How long Keyport waits for a backend to accept a connection, and for a whole answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The client every driver and probe uses; built once per process.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("keyport/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds with static settings")
}

/// A failed request, worded for the page: which backend, and whether it timed out or did not
/// answer. Only the host is named: a URL may carry parameters.
pub fn unreachable(what: &str, url: &str, error: &reqwest::Error) -> DriverError {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_else(|| "the backend".to_string());
    if error.is_connect() {
        return DriverError::Unreachable(format!("{what} at {host} could not be reached."));
    }
    let how = if error.is_timeout() {
        "did not answer in time"
    } else {
        "broke off its answer"
    };
    DriverError::Uncertain(format!(
        "{what} at {host} {how}; it may have acted. Keyport checks the key at the backend and finishes or undoes the change (Reconcile)."
    ))
}

/// What signs a request: the key pair, the region and the AWS service name (`iam`, `s3`).
pub struct SigV4<'a> {
    pub access_key: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

impl SigV4<'_> {
    /// The headers that sign a request of `method` to `url` with `headers` and `body`.
    pub fn headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, DriverError> {
        let identity = Credentials::new(self.access_key, self.secret, None, None, "keyport").into();
        let mut settings = SigningSettings::default();
        if self.service == "s3" {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|_| DriverError::Refused("The signing settings are incomplete.".into()))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|_| DriverError::Refused("The backend URL cannot be signed.".into()))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|_| DriverError::Refused("The request cannot be signed.".into()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect())
    }
}
