//! The OpenID provider of these tests: `tests/oidc/provider.mjs` (npm `oidc-provider`, installed
//! by scripts/install-test-deps.sh) started on loopback for one test, a portal registered as its
//! client, and its test switches. A sign-in at the provider goes through its own form, over HTTP.

use std::{
    io::{BufRead, BufReader},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, Visitor, input_value, location};

pub const CLIENT_ID: &str = "keyport-test";
const CLIENT_SECRET: &str = "a client secret of the test provider, long enough";

pub struct Provider {
    pub issuer: String,
    child: Child,
    http: reqwest::Client,
    /// Holds the client secret file.
    dir: tempfile::TempDir,
}

impl Drop for Provider {
    /// Stops the provider: it runs in a process group of its own, and only that group is signalled.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts the provider; it prints its issuer once it listens.
    pub async fn start() -> Provider {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs tests/oidc/provider.mjs (scripts/install-test-deps.sh installs oidc-provider)");
        let stdout = child.stdout.take().unwrap();
        let issuer = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let line = line.expect("the provider's output");
                if let Some(issuer) = line.strip_prefix("listening ") {
                    let issuer = issuer.to_string();
                    // Its later output is not read: drained so that it never blocks on a full pipe.
                    std::thread::spawn(move || lines.for_each(drop));
                    return Some(issuer);
                }
            }
            None
        })
        .await
        .unwrap()
        .expect("the provider says where it listens (is tests/oidc/node_modules installed?)");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("client-secret"),
            format!("{CLIENT_SECRET}\n"),
        )
        .unwrap();
        Provider {
            issuer,
            child,
            http: reqwest::Client::new(),
            dir,
        }
    }

    /// The environment of a `keyport serve` process with single sign-on at this provider.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KEYPORT_OIDC_ISSUER", self.issuer.clone()),
            ("KEYPORT_OIDC_CLIENT_ID", CLIENT_ID.into()),
            (
                "KEYPORT_OIDC_CLIENT_SECRET_FILE",
                self.dir.path().join("client-secret").display().to_string(),
            ),
            ("KEYPORT_OIDC_NAME", "Test provider".into()),
            ("KEYPORT_OIDC_SCOPES", "openid email profile groups".into()),
        ]
    }

    /// Points `config` at this provider, as KEYPORT_OIDC_* would.
    pub fn configure(&self, config: &mut keyport::config::Config) {
        config.sso.issuer = Some(self.issuer.clone());
        config.sso.client_id = Some(CLIENT_ID.into());
        config.sso.client_secret_file = Some(self.dir.path().join("client-secret"));
        config.sso.name = "Test provider".into();
        config.sso.scopes = "openid email profile groups".into();
    }

    /// Registers the portal at `portal` as the provider's client.
    pub async fn register(&self, portal: &str) {
        self.register_with_secret(portal, CLIENT_SECRET).await;
    }

    /// Registers the portal at `portal` with `secret` as its client secret (another than the
    /// portal's own: the provider refuses the client, `invalid_client`). The provider's grants
    /// and refresh tokens stay.
    pub async fn register_with_secret(&self, portal: &str, secret: &str) {
        self.switch(
            "/test/setup",
            json!({
                "client_id": CLIENT_ID,
                "client_secret": secret,
                "redirect_uri": format!("{portal}/login/sso/callback"),
                "backchannel_logout_uri": format!("{portal}/login/sso/logout"),
            }),
        )
        .await;
    }

    async fn switch(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    /// Changes an account of accounts.json (`groups`, `disabled`, `email_verified`, ...).
    pub async fn change_account(&self, id: &str, change: Value) {
        self.switch(&format!("/test/accounts/{id}"), change).await;
    }

    /// The next ID token the provider gives is forged: `foreign-key`, `expired`,
    /// `other-audience` or `wrong-nonce`.
    pub async fn forge_next_id_token(&self, mode: &str) {
        self.switch("/test/id-token", json!({"mode": mode})).await;
    }

    /// Publishes a second key and signs every ID token with it from now on.
    pub async fn rotate_keys(&self) {
        self.switch("/test/rotate", json!({})).await;
    }

    /// How often the provider's keys were fetched.
    pub async fn key_fetches(&self) -> u64 {
        self.switch("/test/stats", json!({})).await["jwks_requests"]
            .as_u64()
            .unwrap()
    }

    /// How often the provider's token endpoint answered an error.
    pub async fn token_errors(&self) -> u64 {
        self.switch("/test/stats", json!({})).await["token_errors"]
            .as_u64()
            .unwrap()
    }

    /// Ends the account's sessions at the provider, which tells its clients by back-channel
    /// logout; returns how many sessions ended.
    pub async fn log_out(&self, id: &str) -> u64 {
        self.switch(&format!("/test/logout/{id}"), json!({})).await["sessions"]
            .as_u64()
            .unwrap()
    }

    /// A browser's visit to the provider: its own cookies, no redirects followed.
    pub fn browser(&self) -> Visitor {
        Visitor::new(&self.issuer)
    }

    /// Signs in at the provider from `at_provider`, starting at the authorization URL the portal
    /// sent the browser to; returns where the provider sends the browser back (the portal's
    /// callback, with code and state).
    pub async fn sign_in(
        &self,
        at_provider: &Visitor,
        authorize: &str,
        login: &str,
        password: &str,
    ) -> String {
        let mut url = authorize.to_string();
        // The provider's redirects, to its form or back to the portal.
        for _ in 0..6 {
            let response = at_provider.client.get(&url).send().await.unwrap();
            match response.status() {
                StatusCode::OK => {
                    let html = response.text().await.unwrap();
                    assert!(html.contains("Sign in to the test provider"), "{html}");
                    let action = crate::helpers::attrs(&html, "form", "action")
                        .pop()
                        .expect("the provider's form");
                    let _ = input_value(&html, "login");
                    let answer = at_provider
                        .client
                        .post(self.absolute(&action))
                        .form(&[("login", login), ("password", password)])
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(
                        answer.status(),
                        StatusCode::SEE_OTHER,
                        "{login} signs in at the provider"
                    );
                    url = self.absolute(&location(&answer));
                }
                status if status.is_redirection() => {
                    let next = self.absolute(&location(&response));
                    if !next.starts_with(&self.issuer) {
                        return next;
                    }
                    url = next;
                }
                status => panic!(
                    "the provider answered {status}: {}",
                    response.text().await.unwrap()
                ),
            }
        }
        panic!("the provider did not send the browser back");
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.issuer)
        } else {
            url.to_string()
        }
    }
}

/// A portal with single sign-on at `provider`, registered there; `adjust` changes its settings.
pub async fn portal(
    provider: &Provider,
    adjust: impl FnOnce(&mut keyport::config::Config),
) -> TestApp {
    let app = TestApp::spawn_with(|config| {
        provider.configure(config);
        adjust(config);
    })
    .await;
    provider.register(&app.url).await;
    app
}

/// `visitor` presses "Sign in with ..." and comes back from the provider: the callback URL,
/// not yet followed.
pub async fn round_trip(
    provider: &Provider,
    visitor: &Visitor,
    login: &str,
    password: &str,
) -> String {
    let start = visitor.get("/login/sso").await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER, "the sign-in starts");
    let authorize = location(&start);
    assert!(authorize.starts_with(&provider.issuer), "{authorize}");
    provider
        .sign_in(&provider.browser(), &authorize, login, password)
        .await
}

/// Follows the callback URL in `visitor`: the portal's answer.
pub async fn come_back(visitor: &Visitor, callback: &str) -> reqwest::Response {
    visitor.client.get(callback).send().await.unwrap()
}

/// A full sign-in through the provider; panics unless it succeeds.
pub async fn sso_sign_in(
    app: &TestApp,
    provider: &Provider,
    login: &str,
    password: &str,
) -> Visitor {
    let visitor = app.visitor();
    let callback = round_trip(provider, &visitor, login, password).await;
    let answer = come_back(&visitor, &callback).await;
    let status = answer.status();
    let body = if status == StatusCode::SEE_OTHER {
        location(&answer)
    } else {
        answer.text().await.unwrap()
    };
    assert_eq!(status, StatusCode::SEE_OTHER, "{login} signs in: {body}");
    assert_eq!(body, "/projects");
    visitor
}
