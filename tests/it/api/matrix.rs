//! Who may do what through the API: every operation for every kind of caller, as a table, and
//! for each caller who can use the pages, the answer the pages give the same person.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiApp, error_code};
use crate::{
    credentials::team,
    helpers::{ADMIN_EMAIL, Visitor, attrs, csrf_token, location, notice},
};

/// What a caller gets, whatever the exact success status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// 2xx: done (a page: shown, or done and sent back to the service's credentials without a
    /// warning).
    O,
    /// 401 (a page: sent to sign in).
    U,
    /// 403.
    F,
    /// 404.
    N,
    /// A page only: sent back with a warning or a failure, or sent anywhere but back to the
    /// service's credentials: refused, or not done. The table expects it nowhere.
    R,
}
use Answer::{F, N, O, R, U};

/// Whose credential an operation acts on.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// A key of the member `member@example.org`.
    MemberKey,
    /// A key of the app `backup`.
    AppKey,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Projects,
    Services,
    Service,
    List,
    /// A key of the caller's own.
    Create,
    /// A key of the app `ci`.
    CreateForApp,
    Reveal(Target),
    Regenerate(Target),
    Delete(Target),
    Config(Target),
    Audit,
}

use Target::{AppKey, MemberKey};

const OPS: [Op; 15] = [
    Op::Projects,
    Op::Services,
    Op::Service,
    Op::List,
    Op::Create,
    Op::CreateForApp,
    Op::Reveal(MemberKey),
    Op::Regenerate(MemberKey),
    Op::Delete(MemberKey),
    Op::Config(MemberKey),
    Op::Reveal(AppKey),
    Op::Regenerate(AppKey),
    Op::Delete(AppKey),
    Op::Config(AppKey),
    Op::Audit,
];

/// The answer each caller gets for each operation of [`OPS`], in that order.
#[rustfmt::skip]
const TABLE: [(&str, [Answer; 15]); 13] = [
    //                  projects    list   own  ci's | member's key: reveal regen delete config | backup's key | audit
    //                    services service
    ("owner",          [O, O, O,   O,     O,   O,     O, O, O, O,                              O, O, O, O,    O]),
    ("admin",          [O, O, O,   O,     O,   O,     O, O, O, O,                              O, O, O, O,    O]),
    ("member",         [O, O, O,   O,     O,   F,     O, O, O, O,                              F, F, F, F,    F]),
    ("other member",   [O, O, O,   O,     O,   F,     N, N, N, N,                              F, F, F, F,    F]),
    ("viewer",         [O, O, O,   O,     F,   F,     F, F, F, F,                              F, F, F, F,    F]),
    ("non-member",     [O, N, N,   N,     N,   N,     N, N, N, N,                              N, N, N, N,    N]),
    ("app backup",     [O, O, O,   O,     O,   F,     N, N, N, N,                              O, O, O, O,    F]),
    ("app ci",         [O, O, O,   O,     O,   O,     N, N, N, N,                              F, F, F, F,    F]),
    ("disabled key",   [U, U, U,   U,     U,   U,     U, U, U, U,                              U, U, U, U,    U]),
    ("removed member", [O, N, N,   N,     N,   N,     N, N, N, N,                              N, N, N, N,    N]),
    ("disabled user",  [U, U, U,   U,     U,   U,     U, U, U, U,                              U, U, U, U,    U]),
    ("tampered token", [U, U, U,   U,     U,   U,     U, U, U, U,                              U, U, U, U,    U]),
    ("no token",       [U, U, U,   U,     U,   U,     U, U, U, U,                              U, U, U, U,    U]),
];

/// How a caller uses the pages, if they can.
enum Page {
    None,
    SignedIn(Visitor),
    /// Pages only send them to sign in; without a session there is no form to post.
    SignedOut(Visitor),
}

struct Caller {
    name: &'static str,
    token: Option<String>,
    page: Page,
}

/// Project `team` with an S3 service; the member's key and the app `backup`'s key that the
/// operations act on (made again whenever one was deleted), and the app `ci`.
struct World {
    api: ApiApp,
    service: String,
    backup: String,
    ci: String,
    member_key: String,
    app_key: String,
    owner_token: String,
    member_token: String,
}

#[tokio::test]
async fn every_caller_gets_the_answer_the_pages_give() {
    let (mut world, callers) = arrange().await;
    let mut wrong = Vec::new();
    for (caller, (name, expected)) in callers.iter().zip(TABLE) {
        assert_eq!(caller.name, name);
        for (op, expected) in OPS.into_iter().zip(expected) {
            let got = world.api_answer(caller.token.as_deref(), op).await;
            if got != expected {
                wrong.push(format!(
                    "API: {name}, {op:?}: {got:?}, expected {expected:?}"
                ));
            }
            world.restore().await;
            if let Some(got) = world.page_answer(&caller.page, op).await {
                if got != expected {
                    wrong.push(format!(
                        "page: {name}, {op:?}: {got:?}, expected {expected:?}"
                    ));
                }
                world.restore().await;
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

async fn arrange() -> (World, Vec<Caller>) {
    let api = ApiApp::spawn().await;
    let app = &api.app;
    let team = team(app, "s3").await;
    let mut people = Vec::new();
    for (email, role) in [
        ("boss@example.org", "admin"),
        ("other@example.org", "member"),
        ("gone@example.org", "member"),
        ("off@example.org", "member"),
    ] {
        people.push(app.user(email, role).await);
        let fields = [("email", email), ("role", role)];
        let response = team
            .owner
            .submit("/projects/team/members", "/projects/team/members", &fields)
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email} joins");
    }
    let outsider = app.user("out@example.org", "Out").await;
    team.add(&team.member, "member key", &[]).await;
    let (backup, app_key) = team.add_app_key(app, "app key").await;
    let response = team
        .owner
        .submit(
            "/projects/team/apps",
            "/projects/team/apps",
            &[("name", "ci")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "app ci made");
    let id_of = async |sql: &str, value: &str| -> String {
        sqlx::query_scalar(sql)
            .bind(value.to_string())
            .fetch_one(app.db.pool())
            .await
            .unwrap()
    };
    let ci = id_of("select id from apps where name = $1", "ci").await;
    let member_key = id_of("select id from credentials where name = $1", "member key").await;

    let mut tokens = Vec::new();
    for email in [
        ADMIN_EMAIL,
        "boss@example.org",
        "member@example.org",
        "other@example.org",
        "viewer@example.org",
        "out@example.org",
    ] {
        tokens.push(api.token_of(email).await);
    }
    for app_name in ["backup", "ci"] {
        let key = api.key(ADMIN_EMAIL, Some(app_name)).await;
        tokens.push(api.token(&key).await);
    }
    let disabled_key = api.key("member@example.org", None).await;
    tokens.push(api.token(&disabled_key).await);
    tokens.push(api.token_of("gone@example.org").await);
    tokens.push(api.token_of("off@example.org").await);
    let tampered = tampered(&tokens[0]);

    // Then the key is disabled, the member removed and the user disabled, as an admin would.
    assert!(
        keyport::db::api_keys::set_enabled(&app.db, &disabled_key.id, false)
            .await
            .unwrap()
    );
    let gone = app.user_id("gone@example.org").await;
    let remove = format!("/projects/team/members/{gone}/remove");
    let response = team
        .owner
        .submit("/projects/team/members", &remove, &[("confirm", "yes")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "removed");
    let off = app.user_id("off@example.org").await;
    let disable = format!("/admin/users/{off}/disable");
    let response = team
        .owner
        .submit("/admin/users", &disable, &[("confirm", "yes")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "disabled");

    let [
        owner_token,
        boss_token,
        member_token,
        other_token,
        viewer_token,
        out_token,
    ] = <[String; 6]>::try_from(tokens.drain(..6).collect::<Vec<_>>()).unwrap();
    let [
        backup_token,
        ci_token,
        disabled_key_token,
        gone_token,
        off_token,
    ] = <[String; 5]>::try_from(tokens).unwrap();
    let [boss, other, gone, off] = <[Visitor; 4]>::try_from(people).ok().unwrap();
    let callers = vec![
        caller("owner", Some(&owner_token), Page::SignedIn(team.owner)),
        caller("admin", Some(&boss_token), Page::SignedIn(boss)),
        caller("member", Some(&member_token), Page::SignedIn(team.member)),
        caller("other member", Some(&other_token), Page::SignedIn(other)),
        caller("viewer", Some(&viewer_token), Page::SignedIn(team.viewer)),
        caller("non-member", Some(&out_token), Page::SignedIn(outsider)),
        caller("app backup", Some(&backup_token), Page::None),
        caller("app ci", Some(&ci_token), Page::None),
        caller("disabled key", Some(&disabled_key_token), Page::None),
        caller("removed member", Some(&gone_token), Page::SignedIn(gone)),
        caller("disabled user", Some(&off_token), Page::SignedOut(off)),
        caller("tampered token", Some(&tampered), Page::None),
        caller("no token", None, Page::SignedOut(app.visitor())),
    ];
    let world = World {
        api,
        service: team.service,
        backup,
        ci,
        member_key,
        app_key,
        owner_token,
        member_token,
    };
    (world, callers)
}

fn caller(name: &'static str, token: Option<&String>, page: Page) -> Caller {
    Caller {
        name,
        token: token.cloned(),
        page,
    }
}

/// The token with one character of its signature changed.
fn tampered(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut signature: Vec<char> = signature.chars().collect();
    let middle = signature.len() / 2;
    signature[middle] = if signature[middle] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", signature.into_iter().collect::<String>())
}

impl World {
    fn target(&self, target: Target) -> &str {
        match target {
            MemberKey => &self.member_key,
            AppKey => &self.app_key,
        }
    }

    fn api_request(&self, op: Op) -> (Method, String, Option<Value>) {
        let list = format!("/projects/team/services/{}/credentials", self.service);
        let one = |t: Target| format!("/projects/team/credentials/{}", self.target(t));
        match op {
            Op::Projects => (Method::GET, "/projects".into(), None),
            Op::Services => (Method::GET, "/projects/team/services".into(), None),
            Op::Service => (
                Method::GET,
                format!("/projects/team/services/{}", self.service),
                None,
            ),
            Op::List => (Method::GET, list, None),
            Op::Create => (Method::POST, list, Some(json!({"name": "made here"}))),
            Op::CreateForApp => {
                let body = json!({"name": "made here", "owner": format!("app:{}", self.ci)});
                (Method::POST, list, Some(body))
            }
            Op::Reveal(t) => (Method::POST, format!("{}/reveal", one(t)), None),
            Op::Regenerate(t) => (Method::POST, format!("{}/regenerate", one(t)), None),
            Op::Delete(t) => (Method::DELETE, one(t), None),
            Op::Config(t) => (
                Method::GET,
                format!("{}/config?client=aws-credentials", one(t)),
                None,
            ),
            Op::Audit => (Method::GET, "/projects/team/audit".into(), None),
        }
    }

    async fn api_answer(&self, token: Option<&str>, op: Op) -> Answer {
        let (method, path, body) = self.api_request(op);
        let (status, text) = self.api.call(token, method, &path, body.as_ref()).await;
        let (answer, code) = match status.as_u16() {
            200 | 201 | 204 => return O,
            401 => (U, "unauthorized"),
            403 => (F, "forbidden"),
            404 => (N, "not_found"),
            _ => panic!("{op:?}: {status} {text}"),
        };
        assert_eq!(error_code(&text), code, "{op:?}");
        answer
    }

    /// The page's form or link for `op`: the path, and the fields of a POST (`None` for a GET).
    fn page_request(&self, op: Op) -> (String, Option<Vec<(&'static str, String)>>) {
        let one = |t: Target| format!("/projects/team/credentials/{}", self.target(t));
        let add = |owner: String| {
            let fields = vec![
                ("service_id", self.service.clone()),
                ("name", "made here".to_string()),
                ("owner", owner),
            ];
            ("/projects/team/credentials".to_string(), Some(fields))
        };
        let confirmed = || Some(vec![("confirm", "yes".to_string())]);
        match op {
            Op::Projects => ("/projects".into(), None),
            Op::Services => ("/projects/team/services".into(), None),
            Op::Service => (format!("/projects/team/services/{}", self.service), None),
            Op::List => (
                format!("/projects/team/credentials?service={}", self.service),
                None,
            ),
            Op::Create => add("me".into()),
            Op::CreateForApp => add(format!("app:{}", self.ci)),
            Op::Reveal(t) => (format!("{}/reveal", one(t)), Some(Vec::new())),
            Op::Regenerate(t) => (format!("{}/regenerate", one(t)), confirmed()),
            Op::Delete(t) => (format!("{}/delete", one(t)), confirmed()),
            Op::Config(t) => {
                let fields = vec![
                    ("snippet", "aws-credentials".to_string()),
                    ("purpose", "download".to_string()),
                ];
                (format!("{}/config", one(t)), Some(fields))
            }
            Op::Audit => ("/projects/team/audit".into(), None),
        }
    }

    /// What the pages answer the caller for `op`; `None` where they have nothing to say (no
    /// pages, or a form that cannot be posted without a session).
    async fn page_answer(&self, page: &Page, op: Op) -> Option<Answer> {
        let (path, fields) = self.page_request(op);
        let (visitor, response) = match (page, fields) {
            (Page::None, _) | (Page::SignedOut(_), Some(_)) => return None,
            (Page::SignedIn(visitor) | Page::SignedOut(visitor), None) => {
                (visitor, visitor.get(&path).await)
            }
            (Page::SignedIn(visitor), Some(mut fields)) => {
                let token = csrf_token(&visitor.get_text("/projects").await.1).unwrap();
                fields.push(("csrf_token", token));
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                (visitor, visitor.post(&path, &fields).await)
            }
        };
        Some(match response.status() {
            StatusCode::OK => O,
            StatusCode::SEE_OTHER if location(&response).starts_with("/login") => U,
            StatusCode::SEE_OTHER => self.redirect_answer(visitor, &location(&response)).await,
            StatusCode::FORBIDDEN => F,
            StatusCode::NOT_FOUND => N,
            status => panic!("page {op:?}: {status}"),
        })
    }

    /// A page's redirect after a form, told apart: done when it leads back to the service's
    /// credentials and the notice there is no warning or failure; refused (or not done) else.
    async fn redirect_answer(&self, visitor: &Visitor, to: &str) -> Answer {
        let back = format!("/projects/team/credentials?service={}", self.service);
        if to != back && !to.starts_with(&format!("{back}&")) {
            return R;
        }
        let (status, html) = visitor.get_text(to).await;
        assert_eq!(status, StatusCode::OK, "{to}");
        let class = attrs(&html, "p.notice[role=status]", "class").join(" ");
        let said = notice(&html);
        if class.contains("warning") || class.contains("failed") || said.starts_with(['⚠', '✗'])
        {
            return R;
        }
        O
    }

    /// Puts the two keys back as they were: anything added is deleted, a deleted key made again.
    async fn restore(&mut self) {
        let ids: Vec<String> = sqlx::query_scalar("select id from credentials")
            .fetch_all(self.api.app.db.pool())
            .await
            .unwrap();
        for id in &ids {
            if *id != self.member_key && *id != self.app_key {
                let path = format!("/projects/team/credentials/{id}");
                let (status, text) = self
                    .api
                    .call(Some(&self.owner_token), Method::DELETE, &path, None)
                    .await;
                assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
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
            let made = self
                .api
                .json(
                    &self.owner_token,
                    Method::POST,
                    &list,
                    Some(&body),
                    StatusCode::CREATED,
                )
                .await;
            self.app_key = made["id"].as_str().unwrap().to_string();
        }
    }
}
