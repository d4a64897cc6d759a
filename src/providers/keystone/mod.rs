//! The `keystone` driver: OpenStack Keystone v3, which also serves Swift and Swift's S3 API. Each
//! owner is a Keystone user with the member role on the service's project; a credential is that
//! user's password, or one of its EC2 key pairs. Keyport chooses new passwords and EC2 pairs
//! itself (Keystone accepts both), so an interrupted call can always be finished.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod driver;
use zeroize::Zeroizing;

use super::{
    BackendUser, DriverError, Placement,
    http::{Http, redirected, unreachable},
    stored::SECRET_CHARS,
};
use crate::crypto::random_string;

#[derive(Clone, Serialize, Deserialize)]
pub struct KeystoneSettings {
    /// Keystone's v3 URL, e.g. `https://keystone.example.net:5000/v3`.
    pub auth_url: String,
    pub username: String,
    pub password: Zeroizing<String>,
    pub user_domain: String,
    pub project: String,
    pub project_domain: String,
}

/// `path` under Keystone's v3 API, from an auth URL given with or without `/v3`.
pub fn v3_url(auth_url: &str, path: &str) -> String {
    let base = auth_url.trim_end_matches('/');
    let base = base.strip_suffix("/v3").unwrap_or(base);
    format!("{base}/v3/{path}")
}

/// One endpoint of Keystone's catalog.
pub struct CatalogEndpoint {
    pub service_type: String,
    pub region: String,
    pub interface: String,
    pub url: String,
}

pub struct Keystone<'a> {
    settings: &'a KeystoneSettings,
    place: Placement<'a>,
    http: &'a Http,
}

const MEMBER_ROLE: &str = "member";
const HEX: &[u8] = b"0123456789abcdef";

/// A domain name as typed, or Keystone's `Default` domain when left empty.
pub fn or_default(domain: &str) -> &str {
    if domain.trim().is_empty() {
        "Default"
    } else {
        domain
    }
}

fn new_password() -> Zeroizing<String> {
    Zeroizing::new(random_string(32, &SECRET_CHARS[..62]))
}

/// The first object of the list `field` of a Keystone answer, if any.
fn first<'v>(answer: &'v Value, field: &str) -> Option<&'v Value> {
    answer[field].as_array().and_then(|items| items.first())
}

fn id_of(value: Option<&Value>) -> Option<String> {
    value.and_then(|v| v["id"].as_str()).map(str::to_string)
}

impl<'a> Keystone<'a> {
    pub fn new(settings: &'a KeystoneSettings, place: Placement<'a>, http: &'a Http) -> Self {
        Keystone {
            settings,
            place,
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        v3_url(&self.settings.auth_url, path)
    }

    /// Issues a token; `Ok(None)` when Keystone refuses the credentials.
    async fn token_for(&self, auth: Value) -> Result<Option<String>, DriverError> {
        let url = self.url("auth/tokens");
        let request = self.http.post(&url)?.json(&json!({ "auth": auth }));
        let response = send(request, true, &url).await?;
        match response.status() {
            StatusCode::CREATED | StatusCode::OK => Ok(response
                .headers()
                .get("x-subject-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(None),
            status => Err(DriverError::Refused(format!(
                "Keystone answered HTTP {status} to a token request."
            ))),
        }
    }

    /// A token for Keyport's admin user, scoped to the admin project.
    async fn admin_token(&self) -> Result<String, DriverError> {
        let s = self.settings;
        let auth = json!({
            "identity": {"methods": ["password"], "password": {"user": {
                "name": s.username, "domain": {"name": or_default(&s.user_domain)},
                "password": s.password.as_str()}}},
            "scope": {"project": {"name": s.project, "domain": {"name": or_default(&s.project_domain)}}},
        });
        self.token_for(auth).await?.ok_or_else(|| {
            DriverError::Refused(
                "Keystone refused Keyport's admin credentials. Check the service's backend settings."
                    .into(),
            )
        })
    }

    /// One admin call; a refusal reads "Keystone refused to `what`".
    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<(StatusCode, Value), DriverError> {
        let url = self.url(path);
        // Creating twice is not the same as creating once; everything else Keyport asks is.
        let repeatable = method != Method::POST;
        let mut request = self
            .http
            .request(method, &url)?
            .header("x-auth-token", token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = send(request, repeatable, &url).await?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable("Keystone", &url, &e))?;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok((status, answer));
        }
        // Keystone's own words are not repeated (they may quote the request, or come from
        // whatever answers at that URL): a refusal is summarised by its status.
        Err(DriverError::Refused(format!(
            "Keystone refused to {what} (HTTP {status})."
        )))
    }

    async fn get(&self, token: &str, path: &str, what: &str) -> Result<Value, DriverError> {
        Ok(self.call(token, Method::GET, path, None, what).await?.1)
    }

    async fn domain_id(&self, token: &str, name: &str) -> Result<String, DriverError> {
        let path = format!("domains?name={}", urlencode(name));
        id_of(first(
            &self.get(token, &path, "list domains").await?,
            "domains",
        ))
        .ok_or_else(|| DriverError::Refused(format!("Keystone has no domain named {name}.")))
    }

    /// The id of the service's project, where owners get the member role.
    async fn project_id(&self, token: &str) -> Result<String, DriverError> {
        let name = self.place.project;
        if name.trim().is_empty() {
            return Err(DriverError::Refused(
                "Set the service's OpenStack project first.".into(),
            ));
        }
        let domain = self
            .domain_id(token, or_default(self.place.project_domain))
            .await?;
        let path = format!("projects?name={}&domain_id={domain}", urlencode(name));
        id_of(first(
            &self.get(token, &path, "list projects").await?,
            "projects",
        ))
        .ok_or_else(|| DriverError::Refused(format!("Keystone has no project named {name}.")))
    }

    async fn grant_member(
        &self,
        token: &str,
        project: &str,
        user: &str,
    ) -> Result<(), DriverError> {
        let path = format!("roles?name={MEMBER_ROLE}");
        let role = id_of(first(&self.get(token, &path, "list roles").await?, "roles"))
            .ok_or_else(|| DriverError::Refused("Keystone has no member role.".into()))?;
        let (status, _) = self
            .call(
                token,
                Method::PUT,
                &format!("projects/{project}/users/{user}/roles/{role}"),
                None,
                "grant the member role",
            )
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Err(DriverError::Refused(
                "Keystone could not grant the member role (HTTP 404).".into(),
            ));
        }
        Ok(())
    }

    async fn set_password(
        &self,
        token: &str,
        user: &BackendUser,
        password: &str,
    ) -> Result<(), DriverError> {
        let (status, _) = self
            .call(
                token,
                Method::PATCH,
                &format!("users/{}", user.id),
                Some(json!({"user": {"password": password}})),
                "set the user's password",
            )
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Err(missing_user(user));
        }
        Ok(())
    }

    /// The catalog's identity and object-store endpoints.
    pub async fn catalog(&self) -> Result<Vec<CatalogEndpoint>, DriverError> {
        let token = self.admin_token().await?;
        let answer = self.get(&token, "auth/catalog", "show its catalog").await?;
        let mut endpoints = Vec::new();
        for service in answer["catalog"].as_array().into_iter().flatten() {
            let service_type = service["type"].as_str().unwrap_or_default();
            if !matches!(service_type, "identity" | "object-store") {
                continue;
            }
            for endpoint in service["endpoints"].as_array().into_iter().flatten() {
                let field = |name: &str| endpoint[name].as_str().unwrap_or_default().to_string();
                endpoints.push(CatalogEndpoint {
                    service_type: service_type.to_string(),
                    region: field("region"),
                    interface: field("interface"),
                    url: field("url"),
                });
            }
        }
        Ok(endpoints)
    }
}

/// Sends a request. A 5xx answer to a request that is safe to repeat is tried once more after a
/// short pause: Keystone answers 500 now and then under load ("database is locked" on SQLite,
/// a lost database connection elsewhere), and one retry hides that from the user.
async fn send(
    request: reqwest::RequestBuilder,
    repeatable: bool,
    url: &str,
) -> Result<reqwest::Response, DriverError> {
    let again = if repeatable {
        request.try_clone()
    } else {
        None
    };
    let response = request
        .send()
        .await
        .map_err(|e| unreachable("Keystone", url, &e))?;
    if let Some(refused) = redirected("Keystone", response.status()) {
        return Err(refused);
    }
    match again {
        Some(again) if response.status().is_server_error() => {
            tracing::warn!(status = %response.status(), "Keystone answered a server error; trying once more");
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            again
                .send()
                .await
                .map_err(|e| unreachable("Keystone", url, &e))
        }
        _ => Ok(response),
    }
}

fn missing_user(user: &BackendUser) -> DriverError {
    DriverError::Refused(format!(
        "Keystone has no user {} any more. Reconcile the service.",
        user.name
    ))
}

fn urlencode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
