//! Each operation of the matrix as an API request, and as the page's form or link that does the
//! same.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Op, world::World};

/// A page's form or link for an operation.
pub(super) struct PageRequest {
    pub path: String,
    /// The fields of a POST; `None` for a GET.
    pub fields: Option<Vec<(&'static str, String)>>,
    /// Where the form leads when it is done (see `redirect_answer`).
    pub done: String,
    pub call: PageCall,
}

/// How a form is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PageCall {
    /// URL-encoded, the CSRF token among its fields.
    Form,
    /// Multipart with a small file, the CSRF token in its URL: the Buckets console's upload.
    Upload,
}

impl PageRequest {
    pub(super) fn get(path: String) -> PageRequest {
        PageRequest {
            path,
            fields: None,
            done: String::new(),
            call: PageCall::Form,
        }
    }
}

fn get(path: String) -> PageRequest {
    PageRequest::get(path)
}

fn post(path: String, fields: &[(&'static str, &str)], done: String) -> PageRequest {
    let fields = fields.iter().map(|(k, v)| (*k, v.to_string())).collect();
    PageRequest {
        path,
        fields: Some(fields),
        done,
        call: PageCall::Form,
    }
}

const CONFIRMED: &[(&str, &str)] = &[("confirm", "yes")];

impl World {
    fn service_path(&self) -> String {
        format!("/projects/team/services/{}", self.service)
    }

    fn ci_path(&self) -> String {
        format!("/projects/team/apps/{}", self.ci)
    }

    pub(super) fn api_request(&self, op: Op) -> (Method, String, Option<Value>) {
        use Method as M;
        let service = self.service_path();
        let list = format!("{service}/credentials");
        let one = |t| format!("/projects/team/credentials/{}", self.target(t));
        let pawn = format!("/projects/team/members/{}", self.pawn);
        let link = format!("{service}/backend/links/user:{}", self.viewer);
        let spare_key = format!("{}/keys/{}", self.ci_path(), self.spare_key);
        let (method, path, body) = match op {
            Op::Projects => (M::GET, "/projects".into(), None),
            Op::Services => (M::GET, "/projects/team/services".into(), None),
            Op::Service => (M::GET, service, None),
            Op::List => (M::GET, list, None),
            Op::Create => (M::POST, list, Some(json!({"name": "made here"}))),
            Op::CreateForApp => {
                let body = json!({"name": "made here", "owner": format!("app:{}", self.ci)});
                (M::POST, list, Some(body))
            }
            Op::Reveal(t) => (M::POST, format!("{}/reveal", one(t)), None),
            Op::Regenerate(t) => (M::POST, format!("{}/regenerate", one(t)), None),
            Op::Rotate(t) => {
                let body = json!({"quiet": "1h"});
                (M::POST, format!("{}/rotation", one(t)), Some(body))
            }
            Op::Delete(t) => (M::DELETE, one(t), None),
            Op::Config(t) => (
                M::GET,
                format!("{}/config?client=aws-credentials", one(t)),
                None,
            ),
            Op::Edit(t) => {
                let path = format!("{list}/{}", self.target(t));
                (M::PATCH, path, Some(json!({"description": "edited"})))
            }
            Op::Audit => (M::GET, "/projects/team/audit".into(), None),
            Op::CreateService => {
                let body = json!({"kind": "api", "name": "made here"});
                (M::POST, "/projects/team/services".into(), Some(body))
            }
            Op::ChangeService => (M::PATCH, service, Some(json!({"description": "changed"}))),
            Op::DeleteService => {
                let path = format!("/projects/team/services/{}", self.spare_service);
                (M::DELETE, path, None)
            }
            Op::AddEndpoint => {
                let body = json!({"site": "Made", "region": "made-1", "interface": "public", "url": "https://made.example.org"});
                (M::POST, format!("{service}/endpoints"), Some(body))
            }
            Op::ChangeEndpoint => {
                let path = format!("{service}/endpoints/{}", self.spare_endpoint);
                (M::PATCH, path, Some(json!({"site": "Changed"})))
            }
            Op::DeleteEndpoint => {
                let path = format!("{service}/endpoints/{}", self.spare_endpoint);
                (M::DELETE, path, None)
            }
            Op::ImportEndpoints => (M::POST, format!("{service}/import-endpoints"), None),
            Op::Backend => (M::GET, format!("{service}/backend"), None),
            Op::SaveBackend => {
                let body = json!({"driver": "stored"});
                (M::PUT, format!("{service}/backend"), Some(body))
            }
            Op::Link => (M::PUT, link, Some(json!({"backend_name": "someone"}))),
            Op::Unlink => (M::DELETE, link, None),
            Op::Members => (M::GET, "/projects/team/members".into(), None),
            Op::AddMember => {
                let body = json!({"email": "extra@example.org", "role": "member"});
                (M::POST, "/projects/team/members".into(), Some(body))
            }
            Op::ChangeRole => (M::PATCH, pawn, Some(json!({"role": "viewer"}))),
            Op::RemoveMember => (M::DELETE, pawn, None),
            Op::Apps => (M::GET, "/projects/team/apps".into(), None),
            Op::CreateApp => {
                let body = json!({"name": "made here"});
                (M::POST, "/projects/team/apps".into(), Some(body))
            }
            Op::DeleteApp => {
                let path = format!("/projects/team/apps/{}", self.spare_app);
                (M::DELETE, path, None)
            }
            Op::AppKeys => (M::GET, format!("{}/keys", self.ci_path()), None),
            Op::CreateAppKey => {
                let body = json!({"name": "made here"});
                (M::POST, format!("{}/keys", self.ci_path()), Some(body))
            }
            Op::DisableAppKey => (M::PATCH, spare_key, Some(json!({"enabled": false}))),
            Op::DeleteAppKey => (M::DELETE, spare_key, None),
            Op::CreateProject => {
                let slug = self.new_slug();
                let body = json!({"name": format!("Project {slug}"), "slug": slug});
                (M::POST, "/projects".into(), Some(body))
            }
            Op::Bucket(op, t) => self.bucket_api_request(op, t),
        };
        (method, path, body)
    }

    /// The page's form or link for `op`.
    pub(super) fn page_request(&self, op: Op) -> PageRequest {
        let credentials = format!("/projects/team/credentials?service={}", self.service);
        let one = |t| format!("/projects/team/credentials/{}", self.target(t));
        let add = |owner: &str| {
            let fields = [
                ("service_id", self.service.as_str()),
                ("name", "made here"),
                ("owner", owner),
            ];
            post(
                "/projects/team/credentials".into(),
                &fields,
                credentials.clone(),
            )
        };
        let service = self.service_path();
        let backend = format!("{service}/backend");
        let members = "/projects/team/members".to_string();
        let pawn = format!("{members}/{}", self.pawn);
        let apps = "/projects/team/apps".to_string();
        let ci = self.ci_path();
        let spare_key = format!("{ci}/keys/{}", self.spare_key);
        let viewer = format!("user:{}", self.viewer);
        match op {
            Op::Projects => get("/projects".into()),
            Op::Services => get("/projects/team/services".into()),
            Op::Service => get(service),
            Op::List => get(credentials),
            Op::Create => add("me"),
            Op::CreateForApp => add(&format!("app:{}", self.ci)),
            Op::Reveal(t) => post(format!("{}/reveal", one(t)), &[], credentials),
            Op::Regenerate(t) => post(format!("{}/regenerate", one(t)), CONFIRMED, credentials),
            Op::Rotate(t) => {
                let rotation = format!("{}/rotation", one(t));
                post(rotation.clone(), &[("quiet", "3600")], rotation)
            }
            Op::Delete(t) => post(format!("{}/delete", one(t)), CONFIRMED, credentials),
            Op::Config(t) => {
                let fields = [("snippet", "aws-credentials"), ("purpose", "download")];
                post(format!("{}/config", one(t)), &fields, credentials)
            }
            Op::Edit(t) => {
                let name = match t {
                    super::Target::MemberKey => "member key",
                    super::Target::AppKey => "app key",
                };
                let fields = [("name", name), ("description", "edited"), ("enabled", "on")];
                post(format!("{}/edit", one(t)), &fields, credentials)
            }
            Op::Audit => get("/projects/team/audit".into()),
            Op::CreateService => {
                let fields = [
                    ("kind", "api"),
                    ("name", "made here"),
                    ("max_keys_per_owner", "2"),
                ];
                post(
                    "/projects/team/services".into(),
                    &fields,
                    "/projects/team/services/".into(),
                )
            }
            Op::ChangeService => {
                let fields = [
                    ("name", "Object storage"),
                    ("description", "changed"),
                    ("max_keys_per_owner", "2"),
                ];
                post(service.clone(), &fields, service)
            }
            Op::DeleteService => post(
                format!("/projects/team/services/{}/delete", self.spare_service),
                &[],
                "/projects/team/services".into(),
            ),
            Op::AddEndpoint => {
                let fields = [
                    ("site", "Made"),
                    ("region", "made-1"),
                    ("interface", "public"),
                    ("url", "https://made.example.org"),
                ];
                post(format!("{service}/endpoints"), &fields, service)
            }
            Op::ChangeEndpoint => {
                let fields = [
                    ("site", "Changed"),
                    ("region", "spare-1"),
                    ("interface", "private"),
                    ("url", "https://spare.example.org"),
                ];
                let path = format!("{service}/endpoints/{}/edit", self.spare_endpoint);
                post(path, &fields, service)
            }
            Op::DeleteEndpoint => {
                let path = format!("{service}/endpoints/{}/delete", self.spare_endpoint);
                post(path, CONFIRMED, service)
            }
            Op::ImportEndpoints => post(format!("{backend}/import-endpoints"), &[], service),
            Op::Backend => get(backend),
            Op::SaveBackend => post(backend.clone(), &[("driver", "stored")], backend),
            Op::Link => {
                let fields = [("owner", viewer.as_str()), ("backend_name", "someone")];
                post(format!("{backend}/link"), &fields, backend)
            }
            Op::Unlink => {
                let fields = [("owner", viewer.as_str()), ("backend_name", "")];
                post(format!("{backend}/link"), &fields, backend)
            }
            Op::Members => get(members),
            Op::AddMember => {
                let fields = [("email", "extra@example.org"), ("role", "member")];
                post(members.clone(), &fields, members)
            }
            Op::ChangeRole => post(format!("{pawn}/role"), &[("role", "viewer")], members),
            Op::RemoveMember => post(format!("{pawn}/remove"), CONFIRMED, members),
            Op::Apps => get(apps),
            Op::CreateApp => post(apps.clone(), &[("name", "made here")], apps),
            Op::DeleteApp => post(format!("{apps}/{}/delete", self.spare_app), CONFIRMED, apps),
            Op::AppKeys => get(ci),
            Op::CreateAppKey => post(format!("{ci}/keys"), &[("name", "made here")], ci),
            Op::DisableAppKey => post(format!("{spare_key}/disable"), &[], ci),
            Op::DeleteAppKey => post(format!("{spare_key}/delete"), CONFIRMED, ci),
            Op::CreateProject => {
                let slug = self.new_slug();
                let name = format!("Project {slug}");
                let fields = [("name", name.as_str()), ("slug", slug.as_str())];
                post("/projects".into(), &fields, format!("/projects/{slug}"))
            }
            Op::Bucket(op, t) => self.bucket_page_request(op, t),
        }
    }
}
