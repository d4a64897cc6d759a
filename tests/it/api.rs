//! The REST API at `/api/v1`, over the same operations as the pages: who may do what (each
//! caller gets the pages' answer), the life of a credential, a service, a member and an app
//! through the API with their audit records, what it refuses as input, and the OpenAPI
//! document, checked by schemathesis against a running portal. Each test has its
//! own portal and database; the same bodies run on SQLite and PostgreSQL.

mod fields;
mod input;
mod life;
mod matrix;
mod people;
mod schema;
mod services;

use keyport::{
    commands::{ApiKeyRequest, create_api_key},
    config::Config,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;

/// A portal, with what is needed to make API keys for its users as `keyport api-key create`
/// does, and to call its API.
pub struct ApiApp {
    pub app: TestApp,
    config: Config,
    http: reqwest::Client,
}

/// An API key just made: its id (to disable it) and the key itself.
pub struct Key {
    pub id: String,
    pub secret: String,
    /// What the audit log calls its holder.
    pub prefix: String,
}

impl ApiApp {
    pub async fn spawn() -> ApiApp {
        ApiApp::spawn_with(|_| {}).await
    }

    /// A portal whose configuration `change` sets first.
    pub async fn spawn_with(change: impl FnOnce(&mut Config)) -> ApiApp {
        let mut config = None;
        let app = TestApp::spawn_with(|c| {
            change(c);
            config = Some(c.clone());
        })
        .await;
        ApiApp {
            app,
            config: config.expect("the portal's configuration"),
            // Idle connections dropped before the portal's keep-alive closes them.
            http: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// A personal API key of `email`, or with `app`, a key of that app of project `team` made
    /// by `email`.
    pub async fn key(&self, email: &str, app: Option<&str>) -> Key {
        let request = ApiKeyRequest {
            email,
            name: "tests",
            description: "",
            expires: "",
            project: app.map(|_| "team"),
            app,
        };
        let created = create_api_key(&self.config.data(), request)
            .await
            .unwrap_or_else(|e| panic!("an API key for {email} {app:?}: {e:#}"));
        Key {
            id: created.key.id.clone(),
            secret: created.secret.to_string(),
            prefix: created.key.prefix.clone(),
        }
    }

    /// An access token for `key`, from `POST /identity/token`.
    pub async fn token(&self, key: &Key) -> String {
        let response = self
            .http
            .post(format!("{}/identity/token", self.app.url))
            .form(&[("grant_type", "apikey"), ("apikey", key.secret.as_str())])
            .send()
            .await
            .expect("the token exchange answers");
        assert_eq!(response.status(), StatusCode::OK, "the key is exchanged");
        let tokens: Value = response.json().await.unwrap();
        tokens["access_token"].as_str().unwrap().to_string()
    }

    /// A new personal key of `email` and an access token for it.
    pub async fn token_of(&self, email: &str) -> String {
        let key = self.key(email, None).await;
        self.token(&key).await
    }

    /// `method` on `/api/v1{path}` with `token` (if any) and a JSON `body` (if any); the status
    /// and the answer's text.
    pub async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, String) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.app.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// A `PUT` of raw `bytes` to `/api/v1{path}` with `token`: the status and the answer's text.
    pub async fn put_bytes(&self, token: &str, path: &str, bytes: Vec<u8>) -> (StatusCode, String) {
        let response = self
            .http
            .put(format!("{}/api/v1{path}", self.app.url))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// Like [`ApiApp::call`], for an answer that must have `expected` status and JSON.
    pub async fn json(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> Value {
        let (status, text) = self.call(Some(token), method.clone(), path, body).await;
        assert_eq!(status, expected, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    }
}

impl ApiApp {
    /// The status and `error.code` of a call that is refused.
    pub async fn refusal(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, String) {
        let (status, text) = self.call(Some(token), method, path, body).await;
        (status, error_code(&text))
    }

    /// Every item of the list `list` at `path`, asked for `limit` at a time and following
    /// `next`; and how many pages that took.
    pub async fn every_page(
        &self,
        token: &str,
        path: &str,
        list: &str,
        limit: usize,
    ) -> (Vec<Value>, usize) {
        let (mut items, mut pages, mut after) = (Vec::new(), 0, String::new());
        loop {
            let page = self
                .json(
                    token,
                    Method::GET,
                    &format!("{path}?limit={limit}{after}"),
                    None,
                    StatusCode::OK,
                )
                .await;
            pages += 1;
            let listed = page[list].as_array().unwrap();
            assert!(listed.len() <= limit, "{page}");
            items.extend(listed.iter().cloned());
            match page["next"].as_str() {
                Some(next) => after = format!("&after={next}"),
                None => return (items, pages),
            }
        }
    }
}

/// The `error.code` of an API error answer.
pub fn error_code(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("an API error: {text}"))
}
