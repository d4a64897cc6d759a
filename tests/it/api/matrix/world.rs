//! The project the matrix acts on: what each operation targets, the answers of the API and of
//! the pages told apart, and everything put back after each operation.

use std::cell::Cell;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Answer, F, N, O, Op, Page, R, Target, U, requests::PageCall};
use crate::{
    api::{ApiApp, error_code},
    helpers::{Visitor, attrs, csrf_token, location, notice},
};

/// What `arrange` made through the pages before the world is filled in.
pub(super) struct Arranged {
    pub api: ApiApp,
    pub service: String,
    pub backup: String,
    pub app_key: String,
    /// The key of app `ci` that the caller "app ci" holds.
    pub ci_key: String,
    pub owner_token: String,
    pub member_token: String,
}

/// Project `team` with an S3 service; the member's key and the app `backup`'s key that the
/// operations act on (made again whenever one was deleted), the app `ci`, and the spare things
/// the operations delete (made again likewise).
pub(super) struct World {
    pub api: ApiApp,
    pub service: String,
    /// The service's first endpoint, which stays.
    pub endpoint: String,
    pub spare_endpoint: String,
    pub spare_service: String,
    pub backup: String,
    pub ci: String,
    ci_key: String,
    pub spare_app: String,
    /// A key of app `ci`, disabled and deleted by the operations.
    pub spare_key: String,
    pub member_key: String,
    pub app_key: String,
    /// A member whose role is changed and who is removed.
    pub pawn: String,
    pub viewer: String,
    owner_token: String,
    member_token: String,
    /// How many projects were made, for a new slug each time.
    pub projects_made: Cell<u32>,
    /// The S3 API the service's first endpoint points at, for the Buckets console's operations.
    pub s3: Option<String>,
}

impl World {
    pub(super) async fn arrange(arranged: Arranged) -> World {
        let Arranged {
            api,
            service,
            backup,
            app_key,
            ci_key,
            owner_token,
            member_token,
        } = arranged;
        let id_of = async |sql: &str, value: &str| -> String {
            sqlx::query_scalar(sql)
                .bind(value.to_string())
                .fetch_one(api.app.db.pool())
                .await
                .unwrap()
        };
        let ci = id_of("select id from apps where name = $1", "ci").await;
        let member_key = id_of("select id from credentials where name = $1", "member key").await;
        let endpoint = id_of("select id from endpoints where service_id = $1", &service).await;
        let pawn = api.app.insert_user("pawn@example.org", "Pawn", false).await;
        api.app
            .insert_user("extra@example.org", "Extra", false)
            .await;
        let viewer = api.app.user_id("viewer@example.org").await;
        let mut world = World {
            api,
            service,
            endpoint,
            spare_endpoint: String::new(),
            spare_service: String::new(),
            backup,
            ci,
            ci_key,
            spare_app: String::new(),
            spare_key: String::new(),
            member_key,
            app_key,
            pawn,
            viewer,
            owner_token,
            member_token,
            projects_made: Cell::new(0),
            s3: None,
        };
        world.restore().await;
        world
    }

    pub(super) fn target(&self, target: Target) -> &str {
        match target {
            Target::MemberKey => &self.member_key,
            Target::AppKey => &self.app_key,
        }
    }

    /// A slug no project has yet.
    pub(super) fn new_slug(&self) -> String {
        let made = self.projects_made.get() + 1;
        self.projects_made.set(made);
        format!("made-{made}")
    }

    pub(super) async fn api_answer(&self, token: Option<&str>, op: Op) -> Answer {
        let (method, path, body) = self.api_request(op);
        let (status, text) = self.api.call(token, method, &path, body.as_ref()).await;
        let (answer, code) = match status.as_u16() {
            200 | 201 | 204 => return O,
            401 => (U, "unauthorized"),
            403 => (F, "forbidden"),
            404 => (N, "not_found"),
            409 => (R, "refused"),
            _ => panic!("{op:?}: {status} {text}"),
        };
        assert_eq!(error_code(&text), code, "{op:?}");
        answer
    }

    /// What the pages answer the caller for `op`; `None` where they have nothing to say (no
    /// pages, or a form that cannot be posted without a session).
    pub(super) async fn page_answer(&self, page: &Page, op: Op) -> Option<Answer> {
        let request = self.page_request(op);
        let (visitor, response) = match (page, request.fields) {
            (Page::None, _) | (Page::SignedOut(_), Some(_)) => return None,
            (Page::SignedIn(visitor) | Page::SignedOut(visitor), None) => {
                (visitor, visitor.get(&request.path).await)
            }
            (Page::SignedIn(visitor), Some(fields)) if request.call == PageCall::Upload => {
                let token = csrf_token(&visitor.get_text("/projects").await.1).unwrap();
                let mut form = reqwest::multipart::Form::new();
                for (name, value) in fields {
                    form = form.text(name, value);
                }
                let file = reqwest::multipart::Part::bytes(b"up".to_vec()).file_name("up.txt");
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("csrf_token", &token)
                    .finish();
                let url = visitor.url(&format!("{}?{query}", request.path));
                let sent = visitor.client.post(url).multipart(form.part("file", file));
                (visitor, sent.send().await.unwrap())
            }
            (Page::SignedIn(visitor), Some(mut fields)) => {
                let token = csrf_token(&visitor.get_text("/projects").await.1).unwrap();
                fields.push(("csrf_token", token));
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                (visitor, visitor.post(&request.path, &fields).await)
            }
        };
        Some(match response.status() {
            StatusCode::OK | StatusCode::CREATED => O,
            StatusCode::SEE_OTHER if location(&response).starts_with("/login") => U,
            StatusCode::SEE_OTHER => {
                redirect_answer(visitor, &request.done, &location(&response)).await
            }
            StatusCode::FORBIDDEN => F,
            StatusCode::NOT_FOUND => N,
            StatusCode::CONFLICT => R,
            status => panic!("page {op:?}: {status}"),
        })
    }

    /// Puts everything back as it was: what was added goes, what was deleted or changed is made
    /// again.
    pub(super) async fn restore(&mut self) {
        self.restore_credentials().await;
        self.restore_services().await;
        self.restore_people().await;
        self.restore_apps().await;
        self.restore_buckets().await;
    }

    /// The ids `sql` selects, with its parameters `binds`.
    async fn ids(&self, sql: &str, binds: &[&str]) -> Vec<String> {
        let mut query = sqlx::query_scalar(sql);
        for bind in binds {
            query = query.bind(bind.to_string());
        }
        query.fetch_all(self.api.app.db.pool()).await.unwrap()
    }

    /// `method` on `path` as the owner, which must succeed; the answer's `id` (a service's
    /// `instance_id`), if any.
    async fn as_owner(&self, method: Method, path: &str, body: Option<Value>) -> String {
        let (status, text) = self
            .api
            .call(Some(&self.owner_token), method.clone(), path, body.as_ref())
            .await;
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                let id = v.get("id").or_else(|| v.get("instance_id"))?;
                id.as_str().map(str::to_string)
            })
            .unwrap_or_default()
    }

    async fn restore_credentials(&mut self) {
        // A rotation holds its keys: abandoned first, which deletes its second key.
        for id in self.ids("select credential_id from rotations", &[]).await {
            let path = format!("/projects/team/credentials/{id}/rotation/abandon");
            self.as_owner(Method::POST, &path, None).await;
        }
        let ids = self.ids("select id from credentials", &[]).await;
        for id in &ids {
            if *id != self.member_key && *id != self.app_key {
                let path = format!("/projects/team/credentials/{id}");
                self.as_owner(Method::DELETE, &path, None).await;
            }
        }
        let list = format!("/projects/team/services/{}/credentials", self.service);
        if !ids.contains(&self.member_key) {
            let body = json!({"name": "member key"});
            let made = self
                .api
                .json(
                    &self.member_token,
                    Method::POST,
                    &list,
                    Some(&body),
                    StatusCode::CREATED,
                )
                .await;
            self.member_key = made["id"].as_str().unwrap().to_string();
        }
        if !ids.contains(&self.app_key) {
            let body = json!({"name": "app key", "owner": format!("app:{}", self.backup)});
            self.app_key = self.as_owner(Method::POST, &list, Some(body)).await;
        }
    }

    async fn restore_services(&mut self) {
        let services = self.ids("select id from services", &[]).await;
        for id in &services {
            if *id != self.service && *id != self.spare_service {
                let path = format!("/projects/team/services/{id}");
                self.as_owner(Method::DELETE, &path, None).await;
            }
        }
        if !services.contains(&self.spare_service) {
            let body = json!({"kind": "api", "name": "spare"});
            self.spare_service = self
                .as_owner(Method::POST, "/projects/team/services", Some(body))
                .await;
        }
        let service = format!("/projects/team/services/{}", self.service);
        let endpoints = self
            .ids(
                "select id from endpoints where service_id = $1",
                &[&self.service],
            )
            .await;
        for id in &endpoints {
            if *id != self.endpoint && *id != self.spare_endpoint {
                let path = format!("{service}/endpoints/{id}");
                self.as_owner(Method::DELETE, &path, None).await;
            }
        }
        if !endpoints.contains(&self.spare_endpoint) {
            let body = json!({"site": "Spare", "region": "spare-1", "interface": "private", "url": "https://spare.example.org"});
            let path = format!("{service}/endpoints");
            self.spare_endpoint = self.as_owner(Method::POST, &path, Some(body)).await;
        }
        let linked = self
            .ids(
                "select owner_user_id from backend_users where service_id = $1",
                &[&self.service],
            )
            .await;
        for user_id in linked {
            let path = format!("{service}/backend/links/user:{user_id}");
            self.as_owner(Method::DELETE, &path, None).await;
        }
    }

    async fn restore_people(&self) {
        let role_of = async |user_id: &str| -> Option<String> {
            sqlx::query_scalar(
                "select m.role from memberships m join projects p on p.id = m.project_id
                 where p.slug = 'team' and m.user_id = $1",
            )
            .bind(user_id.to_string())
            .fetch_optional(self.api.app.db.pool())
            .await
            .unwrap()
        };
        match role_of(&self.pawn).await.as_deref() {
            Some("member") => {}
            Some(_) => {
                let path = format!("/projects/team/members/{}", self.pawn);
                let body = json!({"role": "member"});
                self.as_owner(Method::PATCH, &path, Some(body)).await;
            }
            None => {
                let body = json!({"email": "pawn@example.org", "role": "member"});
                self.as_owner(Method::POST, "/projects/team/members", Some(body))
                    .await;
            }
        }
        let extra = self.api.app.user_id("extra@example.org").await;
        if role_of(&extra).await.is_some() {
            let path = format!("/projects/team/members/{extra}");
            self.as_owner(Method::DELETE, &path, None).await;
        }
    }

    async fn restore_apps(&mut self) {
        let apps = self.ids("select id from apps", &[]).await;
        for id in &apps {
            if ![&self.backup, &self.ci, &self.spare_app].contains(&id) {
                self.as_owner(Method::DELETE, &format!("/projects/team/apps/{id}"), None)
                    .await;
            }
        }
        if !apps.contains(&self.spare_app) {
            let body = json!({"name": "spare"});
            self.spare_app = self
                .as_owner(Method::POST, "/projects/team/apps", Some(body))
                .await;
        }
        let keys_path = format!("/projects/team/apps/{}/keys", self.ci);
        let keys = self
            .ids("select id from api_keys where app_id = $1", &[&self.ci])
            .await;
        for id in &keys {
            if *id != self.ci_key && *id != self.spare_key {
                self.as_owner(Method::DELETE, &format!("{keys_path}/{id}"), None)
                    .await;
            }
        }
        if !keys.contains(&self.spare_key) {
            let body = json!({"name": "spare"});
            self.spare_key = self.as_owner(Method::POST, &keys_path, Some(body)).await;
        }
        let disabled = self
            .ids(
                "select id from api_keys where id = $1 and enabled = 0",
                &[&self.spare_key],
            )
            .await;
        if !disabled.is_empty() {
            let path = format!("{keys_path}/{}", self.spare_key);
            let body = json!({"enabled": true});
            self.as_owner(Method::PATCH, &path, Some(body)).await;
        }
    }
}

/// A page's redirect after a form, told apart: done when it leads where the form leads when it
/// succeeds (`done`, with a query or, for a `done` ending in `/`, anything after it) and the
/// notice there is no warning or failure; refused (or not done) else.
async fn redirect_answer(visitor: &Visitor, done: &str, to: &str) -> Answer {
    if !to.starts_with('/') {
        // Sent elsewhere (a presigned download): done when it leads where the form leads.
        return if to.starts_with(done) { O } else { R };
    }
    let there = to == done
        || to.starts_with(&format!("{done}&"))
        || to.starts_with(&format!("{done}?"))
        || (done.ends_with('/') && to.starts_with(done));
    if !there {
        return R;
    }
    let (status, html) = visitor.get_text(to).await;
    assert_eq!(status, StatusCode::OK, "{to}");
    let class = attrs(&html, "p.notice[role=status]", "class").join(" ");
    let said = notice(&html);
    if class.contains("warning") || class.contains("failed") || said.starts_with(['⚠', '✗']) {
        return R;
    }
    O
}
