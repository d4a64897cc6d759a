//! The HTTP side shared by the drivers: one client with timeouts and the outgoing-request
//! policy, errors worded for the page, and SigV4 signing (AWS's own `aws-sigv4`).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, SystemTime},
};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{
        PayloadChecksumKind, PercentEncodingMode, SignableRequest, SigningSettings,
        UriPathNormalizationMode, sign,
    },
    sign::v4,
};

pub use aws_sigv4::http_request::SignableBody;

use super::DriverError;

/// How long Keyport waits for a backend to accept a connection, and for a whole answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Where backend requests may go. Link-local and cloud metadata addresses never; loopback,
/// private, shared and unspecified addresses only inside the networks the instance allows
/// (`--backend-allowed-networks`); public addresses always.
#[derive(Debug, Default)]
pub struct OutgoingPolicy {
    allowed: Vec<ipnet::IpNet>,
}

/// Why an address is not reached; the message names the host as the user typed it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(String);

impl OutgoingPolicy {
    pub fn new(allowed: Vec<ipnet::IpNet>) -> Self {
        OutgoingPolicy { allowed }
    }

    /// Whether Keyport may connect to `address`, which `host` named.
    pub fn check(&self, host: &str, address: IpAddr) -> Result<(), Refusal> {
        let address = address.to_canonical();
        if never_reached(address) {
            return Err(Refusal(format!(
                "Keyport does not connect to {host}: link-local and cloud metadata addresses are never reached."
            )));
        }
        if internal(address) && !self.allowed.iter().any(|n| n.contains(&address)) {
            return Err(Refusal(format!(
                "Keyport does not connect to {host}: it is a loopback or private address, and the instance's settings do not allow it (KEYPORT_BACKEND_ALLOWED_NETWORKS)."
            )));
        }
        Ok(())
    }
}

/// Link-local (where cloud metadata services answer: 169.254.169.254, fd00:ec2::254, ...),
/// multicast and broadcast, and the other metadata addresses clouds use.
fn never_reached(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                // Alibaba Cloud's metadata service; Oracle Cloud's.
                || (a, b, c, d) == (100, 100, 100, 200)
                || (a, b, c, d) == (192, 0, 0, 192)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || v6.is_multicast()
                // AWS's metadata service over IPv6.
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

/// Loopback, private, shared (carrier-grade NAT), unspecified and unique-local addresses: the
/// inside of the network Keyport runs in.
fn internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10
                || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00
        }
    }
}

/// Resolves names for the client and checks every address; the client connects only to the
/// addresses checked here, so a name that changes its answer in between (DNS rebinding) gains
/// nothing.
struct CheckedResolver(Arc<OutgoingPolicy>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for address in &addresses {
                policy.check(&host, address.ip())?;
            }
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// The client every driver and probe uses, with the outgoing-request policy: hosts are checked
/// before a request is made ([`Http::request`]) and names again, address by address, when they
/// are resolved. Redirects are never followed: requests carry passwords and keys.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    policy: Arc<OutgoingPolicy>,
}

impl Http {
    pub fn new(policy: OutgoingPolicy) -> Self {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("keyport/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver(policy.clone())))
            .build()
            .expect("the HTTP client builds with static settings");
        Http { client, policy }
    }

    /// A request to `url`, once the policy allows its host. Names are checked again when they
    /// are resolved; addresses written in the URL are checked here.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, DriverError> {
        let parsed = url::Url::parse(url)
            .map_err(|_| DriverError::Refused("The backend URL is not a valid URL.".into()))?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(DriverError::Refused(
                "Keyport reaches backends over http:// or https:// only.".into(),
            ));
        }
        let address = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
            None => {
                return Err(DriverError::Refused("The backend URL has no host.".into()));
            }
        };
        if let Some(address) = address {
            let host = parsed.host_str().unwrap_or_default();
            self.policy
                .check(host, address)
                .map_err(|refusal| DriverError::Refused(refusal.0))?;
        }
        Ok(self.client.request(method, parsed))
    }

    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, DriverError> {
        self.request(reqwest::Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, DriverError> {
        self.request(reqwest::Method::POST, url)
    }
}

/// The refusal of the outgoing-request policy behind a failed request, if that is what it was.
fn refusal_of(error: &reqwest::Error) -> Option<&Refusal> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        source = cause.source();
    }
    None
}

/// A redirect is not followed (the request carried a secret) and counts as a refusal: the URL
/// is not where the backend answers.
pub fn redirected(what: &str, status: reqwest::StatusCode) -> Option<DriverError> {
    status.is_redirection().then(|| {
        DriverError::Refused(format!(
            "{what} answered with a redirect (HTTP {}), which Keyport does not follow: requests carry credentials. Use the URL the backend answers at.",
            status.as_u16()
        ))
    })
}

/// A failed request, worded for the page: which backend, and whether it timed out or did not
/// answer. Only the host is named: a URL may carry parameters.
pub fn unreachable(what: &str, url: &str, error: &reqwest::Error) -> DriverError {
    not_answered_then(
        what,
        url,
        error,
        " Keyport checks the key at the backend and finishes or undoes the change (Reconcile).",
    )
}

/// Like [`unreachable`], for a request Reconcile has nothing to do with (an S3 request of the
/// Buckets console, a Test, a webhook, the OpenID provider): it says only that it may have acted.
pub fn not_answered(what: &str, url: &str, error: &reqwest::Error) -> DriverError {
    not_answered_then(what, url, error, "")
}

fn not_answered_then(what: &str, url: &str, error: &reqwest::Error, then: &str) -> DriverError {
    if let Some(refusal) = refusal_of(error) {
        return DriverError::Refused(refusal.0.clone());
    }
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
    DriverError::Uncertain(format!("{what} at {host} {how}; it may have acted.{then}"))
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
        self.headers_for(method, url, headers, SignableBody::Bytes(body))
    }

    /// The same, for a body given as it is signed (its SHA-256 computed elsewhere, for a body
    /// streamed from a file).
    pub fn headers_for(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: SignableBody<'_>,
    ) -> Result<Vec<(String, String)>, DriverError> {
        let identity = Credentials::new(self.access_key, self.secret, None, None, "keyport").into();
        let mut settings = SigningSettings::default();
        if self.service == "s3" {
            // S3 signs the path as sent: encoded once, never normalised (a key may hold `//`).
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
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
        let request = SignableRequest::new(method, url, headers.iter().copied(), body)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> OutgoingPolicy {
        OutgoingPolicy::new(allowed.iter().map(|n| n.parse().unwrap()).collect())
    }

    #[test]
    fn metadata_and_link_local_are_never_reached() {
        let everything = policy(&["0.0.0.0/0", "::/0"]);
        for address in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "100.100.100.200",
            "192.0.0.192",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            let address: IpAddr = address.parse().unwrap();
            assert!(everything.check("h", address).is_err(), "{address}");
        }
    }

    #[test]
    fn internal_addresses_only_when_allowed() {
        let strict = policy(&[]);
        let loopback = policy(&["127.0.0.0/8", "::1/128"]);
        for address in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::",
            "fd12::1",
            "::ffff:127.0.0.1",
        ] {
            let address: IpAddr = address.parse().unwrap();
            assert!(strict.check("h", address).is_err(), "{address}");
        }
        assert!(loopback.check("h", "127.0.0.1".parse().unwrap()).is_ok());
        assert!(loopback.check("h", "::1".parse().unwrap()).is_ok());
        assert!(loopback.check("h", "10.1.2.3".parse().unwrap()).is_err());
        for public in ["203.0.113.7", "8.8.8.8", "2001:db8::1"] {
            assert!(
                strict.check("h", public.parse().unwrap()).is_ok(),
                "{public}"
            );
        }
    }

    #[test]
    fn addresses_in_urls_are_checked_before_any_request() {
        let http = Http::new(policy(&[]));
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://2852039166/",
            "http://127.0.0.1:5000/v3",
            "http://[::1]/",
            "ftp://example.org/",
        ] {
            assert!(http.get(url).is_err(), "{url}");
        }
        assert!(http.get("https://keystone.example.org/v3").is_ok());
    }
}
