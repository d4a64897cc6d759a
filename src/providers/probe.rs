//! The Test button: one real, signed request with a credential, and what came of it.

use std::time::Instant;

use serde_json::json;

use super::{
    DriverError,
    http::{Http, SigV4, redirected},
    keystone::{or_default, v3_url},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Denied,
    Unreachable,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Denied => "denied",
            Verdict::Unreachable => "unreachable",
        }
    }
}

pub struct Probe {
    pub verdict: Verdict,
    pub detail: String,
    pub millis: u128,
    /// The region an S3 endpoint said it signs with, when it refused the one used.
    pub expected_region: Option<String>,
}

fn done(started: Instant, verdict: Verdict, detail: String) -> Probe {
    Probe {
        verdict,
        detail,
        millis: started.elapsed().as_millis(),
        expected_region: None,
    }
}

fn failed(started: Instant, error: DriverError) -> Probe {
    match error {
        DriverError::Unreachable(message) | DriverError::Uncertain(message) => {
            done(started, Verdict::Unreachable, message)
        }
        DriverError::Refused(message) => done(started, Verdict::Denied, message),
    }
}

/// S3 `ListBuckets` at `endpoint` with the key pair.
pub async fn s3(
    http: &Http,
    endpoint: &str,
    region: &str,
    access_key: &str,
    secret: &str,
) -> Probe {
    let started = Instant::now();
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let signer = SigV4 {
        access_key,
        secret,
        region: if region.is_empty() {
            "us-east-1"
        } else {
            region
        },
        service: "s3",
    };
    let headers = match signer.headers("GET", &url, &[], b"") {
        Ok(headers) => headers,
        Err(e) => return failed(started, e),
    };
    let mut request = match http.get(&url) {
        Ok(request) => request,
        Err(e) => return failed(started, e),
    };
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            return failed(
                started,
                super::http::not_answered("The S3 endpoint", &url, &e),
            );
        }
    };
    let status = response.status();
    if let Some(refused) = redirected("The S3 endpoint", status) {
        return failed(started, refused);
    }
    let body = response.text().await.unwrap_or_default();
    let code = roxmltree::Document::parse(&body).ok().and_then(|doc| {
        doc.descendants()
            .find(|n| n.tag_name().name() == "Code")
            .and_then(|n| n.text())
            .map(str::to_string)
    });
    if status.is_success() {
        let buckets = body.matches("<Bucket>").count();
        done(
            started,
            Verdict::Ok,
            format!("ListBuckets answered: {buckets} bucket(s)."),
        )
    } else {
        // Only a code S3 documents is named; the endpoint's own text is never repeated.
        let expected_region = super::s3::expected_region(&body);
        let code = code
            .filter(|c| super::known_error_code(c))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        Probe {
            expected_region,
            ..done(
                started,
                Verdict::Denied,
                format!("The S3 endpoint refused the key: {code}."),
            )
        }
    }
}

/// Where and as whom a Keystone token is asked for.
pub struct KeystoneLogin<'a> {
    pub auth_url: &'a str,
    pub username: &'a str,
    pub user_domain: &'a str,
    pub password: &'a str,
    pub project: &'a str,
    pub project_domain: &'a str,
}

/// A Keystone token issued for the user and project.
pub async fn keystone(http: &Http, login: KeystoneLogin<'_>) -> Probe {
    let started = Instant::now();
    let url = v3_url(login.auth_url, "auth/tokens");
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": login.username, "domain": {"name": or_default(login.user_domain)},
            "password": login.password}}},
        "scope": {"project": {"name": login.project, "domain": {"name": or_default(login.project_domain)}}}}});
    let request = match http.post(&url) {
        Ok(request) => request,
        Err(e) => return failed(started, e),
    };
    match request.json(&body).send().await {
        Ok(response) if redirected("Keystone", response.status()).is_some() => {
            let refused = redirected("Keystone", response.status()).expect("a redirect");
            failed(started, refused)
        }
        Ok(response) if response.status().is_success() => {
            done(started, Verdict::Ok, "Keystone issued a token.".into())
        }
        Ok(response) => done(
            started,
            Verdict::Denied,
            format!(
                "Keystone refused the password (HTTP {}).",
                response.status().as_u16()
            ),
        ),
        Err(e) => failed(started, super::http::not_answered("Keystone", &url, &e)),
    }
}
