//! The token exchange at `/identity/token`, as IBM Cloud IAM's clients use it: grants and IAM's
//! errors, refresh tokens, what an access token is refused for, forged tokens, signing key and
//! master key rotation, the throttle, and IBM's own Python SDK. Each test has its own portal and
//! database; the same bodies run on SQLite and PostgreSQL.

mod access;
mod exchange;
mod ibm_sdk;
mod refresh;
mod signing_keys;

use std::{path::PathBuf, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use keyport::{
    App,
    crypto::{envelope, jwt, master_key},
    db::{
        self, Db,
        projects::Project,
        users::{NewUser, User},
    },
    domain::roles::Role,
    ops::{
        Ops, Principal,
        api_keys::{self, Created, NewKey},
    },
};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::helpers::{ADMIN_EMAIL, TestDb};

pub const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";
/// What IAM (and Keyport) says for a key that does not work, whatever the reason.
pub const BAD_KEY_MESSAGE: &str =
    "Provided API key could not be found, is disabled or has expired.";

/// A portal served in this process over its own database, with the operations to arrange keys,
/// members and apps as the pages would.
pub struct Portal {
    pub url: String,
    pub db: Db,
    pub ops: Ops,
    pub test_db: TestDb,
    /// The issuer of its tokens.
    pub public_url: String,
    /// The instance admin, owner of the projects made here.
    pub admin: User,
    master_key_file: PathBuf,
    http: reqwest::Client,
    shutdown: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Portal {
    pub async fn start() -> Portal {
        let test_db = TestDb::new().await;
        let key_file = test_db.key_file.clone();
        Portal::serve(test_db, key_file).await
    }

    /// Serves the same database again, under the master key in `key_file`.
    pub async fn restart(self, key_file: PathBuf) -> Portal {
        let test_db = self.stop().await;
        Portal::serve(test_db, key_file).await
    }

    async fn serve(test_db: TestDb, key_file: PathBuf) -> Portal {
        let mut config = test_db.config();
        config.master_key.file = key_file.clone();
        let public_url = config.public_url();
        let app = App::build(config).await.expect("the portal starts");
        let url = format!("http://{}", app.local_addr());
        let db = app.db().clone();
        let master = master_key::read_file(&key_file).expect("the portal's master key");
        let ops = Ops::new(db.clone(), Arc::new(master), public_url.clone());
        let admin = match db::users::find_by_email(&db, ADMIN_EMAIL).await.unwrap() {
            Some(admin) => admin,
            None => {
                let new = NewUser {
                    email: ADMIN_EMAIL,
                    name: "Ada Admin",
                    password_hash: None,
                    is_admin: true,
                };
                db::users::create(db.pool(), new)
                    .await
                    .expect("insert admin")
            }
        };
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(app.serve(async move {
            let _ = stop.await;
        }));
        Portal {
            url,
            db,
            ops,
            test_db,
            public_url,
            admin,
            master_key_file: key_file,
            http: reqwest::Client::new(),
            shutdown,
            served,
        }
    }

    /// Stops serving and waits until the portal has closed its database.
    pub async fn stop(self) -> TestDb {
        let _ = self.shutdown.send(());
        self.served
            .await
            .expect("the portal's task")
            .expect("the portal stops cleanly");
        self.ops.close().await;
        self.test_db
    }

    pub async fn insert_user(&self, email: &str, is_admin: bool) -> User {
        let new = NewUser {
            email,
            name: email.split('@').next().unwrap(),
            password_hash: None,
            is_admin,
        };
        db::users::create(self.db.pool(), new)
            .await
            .expect("insert user")
    }

    /// A project owned by the admin, with `members` as members.
    pub async fn project(&self, slug: &str, members: &[&User]) -> Project {
        let project =
            db::projects::create(&self.db, slug, &format!("Project {slug}"), &self.admin.id)
                .await
                .expect("create project");
        for member in members {
            db::projects::add_member(&self.db, &project.id, &member.id, Role::Member)
                .await
                .expect("add member");
        }
        project
    }

    /// The admin acting in `project` (its owner), from the command line.
    pub async fn owner_of(&self, project: &Project) -> Principal {
        keyport::ops::principal::from_command_line(&self.ops, &self.admin, &project.slug)
            .await
            .expect("read the membership")
            .expect("the admin owns the project")
    }

    /// Disables or enables `user`'s API key `key_id`, as its holder does on the API access page.
    pub async fn change_key(&self, user: &User, key_id: &str, change: api_keys::Change) {
        api_keys::change_personal(&self.ops, user, &Default::default(), key_id, change)
            .await
            .expect("change the key");
    }

    pub async fn personal_key(&self, user: &User) -> Created {
        let freshness = keyport::ops::step_up::Freshness::CommandLine;
        api_keys::create_personal(
            &self.ops,
            user,
            &Default::default(),
            &freshness,
            &key_named("ci"),
        )
        .await
        .expect("create personal key")
    }

    /// An app of `project` and a key of it; returns the app's id and the key.
    pub async fn app_key(&self, project: &Project, app: &str) -> (String, Created) {
        let app_id = db::apps::create(
            &self.db,
            &project.id,
            app,
            "",
            keyport::domain::roles::Role::Member,
        )
        .await
        .expect("create app");
        let key = api_keys::create_for_app(
            &self.ops,
            &self.owner_of(project).await,
            &app_id,
            &key_named("deploy"),
        )
        .await
        .expect("create app key");
        (app_id, key)
    }

    /// Posts the form to `/identity/token`.
    pub async fn exchange(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}/identity/token", self.url))
            .form(form)
            .send()
            .await
            .expect("the token exchange answers")
    }

    /// The answer to exchanging `key`, which must work.
    pub async fn tokens(&self, key: &str) -> Value {
        let response = self
            .exchange(&[("grant_type", APIKEY_GRANT), ("apikey", key)])
            .await;
        assert_eq!(response.status(), StatusCode::OK, "the key is exchanged");
        response.json().await.unwrap()
    }

    pub async fn access_token(&self, key: &str) -> String {
        self.tokens(key).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `GET /api/v1{path}` with `token` as the bearer.
    pub async fn api(&self, path: &str, token: &str) -> Response {
        self.http
            .get(format!("{}/api/v1{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers")
    }

    /// The slugs `/api/v1/projects` lists for `token`, or the status it refused with.
    pub async fn project_slugs(&self, token: &str) -> Result<Vec<String>, StatusCode> {
        let response = self.api("/projects", token).await;
        if response.status() != StatusCode::OK {
            return Err(response.status());
        }
        let projects: Vec<Value> = response.json().await.unwrap();
        Ok(projects
            .iter()
            .map(|p| p["slug"].as_str().unwrap().to_string())
            .collect())
    }

    /// The kids `/identity/keys` publishes.
    pub async fn published_kids(&self) -> Vec<String> {
        let jwks: Value = self
            .http
            .get(format!("{}/identity/keys", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .expect("a JWKS")
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    }

    /// The key that signs now, opened as the portal opens it: for tests that sign tokens the
    /// portal would not have issued.
    pub async fn signing_key(&self) -> jwt::SigningKey {
        let stored = db::tokens::current_signing_key(&self.db)
            .await
            .unwrap()
            .expect("a signing key exists once a key was exchanged");
        let master = master_key::read_file(&self.master_key_file).unwrap();
        let private = envelope::open_signing_key(&master, &stored.kid, &stored.sealed)
            .expect("the signing key opens under the master key");
        jwt::SigningKey::from_pkcs8(stored.kid, private).expect("the signing key parses")
    }

    /// Runs `sql` with `id` as `$2` and now plus `seconds_from_now` as `$1`.
    pub async fn set_time(&self, sql: &str, seconds_from_now: i64, id: &str) {
        let changed = sqlx::query(sql)
            .bind(db::now() + seconds_from_now)
            .bind(id)
            .execute(self.db.pool())
            .await
            .expect("the change applies");
        assert_eq!(changed.rows_affected(), 1, "{sql}");
    }
}

fn key_named(name: &str) -> NewKey {
    NewKey {
        name: name.into(),
        ..NewKey::default()
    }
}

/// The JSON of one part of a JWT (0: header, 1: claims), read without checking anything.
pub fn jwt_part(token: &str, part: usize) -> Value {
    let encoded = token.split('.').nth(part).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("JSON")
}

/// Asserts an answer in IAM's error shape with this status and code; returns its message.
#[track_caller]
pub fn iam_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["errorCode"], code, "{body}");
    assert_eq!(body["context"]["requestType"], "token", "{body}");
    body["errorMessage"]
        .as_str()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| panic!("an errorMessage: {body}"))
        .to_string()
}

/// The status and JSON body of `response`.
pub async fn answer(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.expect("a JSON answer"))
}
