//! Who may do what through the API: every operation for every kind of caller, as tables, and
//! for each caller who can use the pages, the answer the pages give the same person.

mod buckets;
mod requests;
mod world;

use reqwest::StatusCode;

use super::ApiApp;
use crate::{
    credentials::team,
    helpers::{ADMIN_EMAIL, Visitor},
};
use world::World;

/// What a caller gets, whatever the exact success status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// 2xx: done (a page: shown, or done and sent back to where the form leads without a
    /// warning).
    O,
    /// 401 (a page: sent to sign in).
    U,
    /// 403.
    F,
    /// 404.
    N,
    /// 409: refused, nothing changed (a page: that error page, or sent back with a warning or a
    /// failure, or anywhere but where the form leads).
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
    /// Step 1 of a guided rotation.
    Rotate(Target),
    Delete(Target),
    Config(Target),
    Edit(Target),
    Audit,
    CreateService,
    ChangeService,
    /// The service `spare`, which has no credentials.
    DeleteService,
    AddEndpoint,
    ChangeEndpoint,
    /// The service's second endpoint.
    DeleteEndpoint,
    /// Refused: the service's backend is not Keystone.
    ImportEndpoints,
    Backend,
    SaveBackend,
    /// The viewer to a backend user, and back.
    Link,
    Unlink,
    Members,
    /// `extra@example.org`, a user in no project.
    AddMember,
    /// Of `pawn@example.org`, a member.
    ChangeRole,
    RemoveMember,
    Apps,
    CreateApp,
    /// The app `spare`, which holds nothing.
    DeleteApp,
    /// Of the app `ci`; its key `spare` is disabled and deleted.
    AppKeys,
    CreateAppKey,
    DisableAppKey,
    DeleteAppKey,
    CreateProject,
    /// At the service's S3 API through the Buckets console, with a key of `Target`
    /// (`buckets.rs`).
    Bucket(buckets::BucketOp, Target),
}

use Target::{AppKey, MemberKey};

/// The callers, in the order of every table's rows.
const CALLERS: [&str; 13] = [
    "owner",
    "admin",
    "member",
    "other member",
    "viewer",
    "non-member",
    "app backup",
    "app ci",
    "disabled key",
    "removed member",
    "disabled user",
    "tampered token",
    "no token",
];

const CREDENTIAL_OPS: [Op; 19] = [
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
    Op::Edit(MemberKey),
    Op::Reveal(AppKey),
    Op::Regenerate(AppKey),
    Op::Delete(AppKey),
    Op::Config(AppKey),
    Op::Edit(AppKey),
    Op::Audit,
    Op::Rotate(MemberKey),
    Op::Rotate(AppKey),
];

/// The answer each caller of [`CALLERS`] gets for each operation of [`CREDENTIAL_OPS`].
#[rustfmt::skip]
const CREDENTIALS: [[Answer; 19]; 13] = [
    // projects    list   own  ci's | member's key: reveal regen delete config edit | backup's key | audit | rotate: member's, backup's
    //   services service
    [O, O, O,   O,     O,   O,     O, O, O, O, O,                                O, O, O, O, O,  O, O, O], // owner
    [O, O, O,   O,     O,   O,     O, O, O, O, O,                                O, O, O, O, O,  O, O, O], // admin
    [O, O, O,   O,     O,   F,     O, O, O, O, O,                                F, F, F, F, F,  F, O, F], // member
    [O, O, O,   O,     O,   F,     N, N, N, N, N,                                F, F, F, F, F,  F, N, F], // other member
    [O, O, O,   O,     F,   F,     F, F, F, F, F,                                F, F, F, F, F,  F, F, F], // viewer
    [O, N, N,   N,     N,   N,     N, N, N, N, N,                                N, N, N, N, N,  N, N, N], // non-member
    [O, O, O,   O,     O,   F,     N, N, N, N, N,                                O, O, O, O, O,  F, N, O], // app backup
    [O, O, O,   O,     O,   O,     N, N, N, N, N,                                F, F, F, F, F,  F, N, F], // app ci
    [U, U, U,   U,     U,   U,     U, U, U, U, U,                                U, U, U, U, U,  U, U, U], // disabled key
    [O, N, N,   N,     N,   N,     N, N, N, N, N,                                N, N, N, N, N,  N, N, N], // removed member
    [U, U, U,   U,     U,   U,     U, U, U, U, U,                                U, U, U, U, U,  U, U, U], // disabled user
    [U, U, U,   U,     U,   U,     U, U, U, U, U,                                U, U, U, U, U,  U, U, U], // tampered token
    [U, U, U,   U,     U,   U,     U, U, U, U, U,                                U, U, U, U, U,  U, U, U], // no token
];

const SERVICE_OPS: [Op; 11] = [
    Op::CreateService,
    Op::ChangeService,
    Op::DeleteService,
    Op::AddEndpoint,
    Op::ChangeEndpoint,
    Op::DeleteEndpoint,
    Op::ImportEndpoints,
    Op::Backend,
    Op::SaveBackend,
    Op::Link,
    Op::Unlink,
];

#[rustfmt::skip]
const SERVICES: [[Answer; 11]; 13] = [
    // service: create change delete | endpoint: add change delete import | backend: read save link unlink
    [O, O, O,   O, O, O, R,   O, O, O, O], // owner
    [O, O, O,   O, O, O, R,   O, O, O, O], // admin
    [F, F, F,   F, F, F, F,   F, F, F, F], // member
    [F, F, F,   F, F, F, F,   F, F, F, F], // other member
    [F, F, F,   F, F, F, F,   F, F, F, F], // viewer
    [N, N, N,   N, N, N, N,   N, N, N, N], // non-member
    [F, F, F,   F, F, F, F,   F, F, F, F], // app backup
    [F, F, F,   F, F, F, F,   F, F, F, F], // app ci
    [U, U, U,   U, U, U, U,   U, U, U, U], // disabled key
    [N, N, N,   N, N, N, N,   N, N, N, N], // removed member
    [U, U, U,   U, U, U, U,   U, U, U, U], // disabled user
    [U, U, U,   U, U, U, U,   U, U, U, U], // tampered token
    [U, U, U,   U, U, U, U,   U, U, U, U], // no token
];

const PEOPLE_OPS: [Op; 12] = [
    Op::Members,
    Op::AddMember,
    Op::ChangeRole,
    Op::RemoveMember,
    Op::Apps,
    Op::CreateApp,
    Op::DeleteApp,
    Op::AppKeys,
    Op::CreateAppKey,
    Op::DisableAppKey,
    Op::DeleteAppKey,
    Op::CreateProject,
];

#[rustfmt::skip]
const PEOPLE: [[Answer; 12]; 13] = [
    // members: list add role remove | apps: list create delete | ci's keys: list create disable delete | project
    [O, O, O, O,   O, O, O,   O, O, O, O,   O], // owner (an instance admin)
    [O, O, O, O,   O, O, O,   O, O, O, O,   F], // admin
    [O, F, F, F,   O, F, F,   O, F, F, F,   F], // member
    [O, F, F, F,   O, F, F,   O, F, F, F,   F], // other member
    [O, F, F, F,   O, F, F,   O, F, F, F,   F], // viewer
    [N, N, N, N,   N, N, N,   N, N, N, N,   F], // non-member
    [O, F, F, F,   O, F, F,   O, F, F, F,   F], // app backup
    [O, F, F, F,   O, F, F,   O, F, F, F,   F], // app ci
    [U, U, U, U,   U, U, U,   U, U, U, U,   U], // disabled key
    [N, N, N, N,   N, N, N,   N, N, N, N,   F], // removed member
    [U, U, U, U,   U, U, U,   U, U, U, U,   U], // disabled user
    [U, U, U, U,   U, U, U,   U, U, U, U,   U], // tampered token
    [U, U, U, U,   U, U, U,   U, U, U, U,   U], // no token
];

/// How a caller uses the pages, if they can.
enum Page {
    None,
    SignedIn(Visitor),
    /// Pages only send them to sign in; without a session there is no form to post.
    SignedOut(Visitor),
}

struct Caller {
    token: Option<String>,
    page: Page,
}

#[tokio::test]
async fn every_caller_gets_the_answer_the_pages_give() {
    let (mut world, callers) = arrange().await;
    let tables: [(&[Op], Vec<&[Answer]>); 3] = [
        (
            &CREDENTIAL_OPS,
            CREDENTIALS.iter().map(|r| &r[..]).collect(),
        ),
        (&SERVICE_OPS, SERVICES.iter().map(|r| &r[..]).collect()),
        (&PEOPLE_OPS, PEOPLE.iter().map(|r| &r[..]).collect()),
    ];
    let mut wrong = Vec::new();
    for (ops, rows) in tables {
        wrong.extend(compare(&mut world, &callers, ops, rows).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Each caller's answer to each of `ops`, through the API and the pages, against the table's
/// `rows`: what differs.
async fn compare(
    world: &mut World,
    callers: &[Caller],
    ops: &[Op],
    rows: Vec<&[Answer]>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for ((caller, name), expected) in callers.iter().zip(CALLERS).zip(rows) {
        for (op, expected) in ops.iter().zip(expected) {
            let (op, expected) = (*op, *expected);
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
    wrong
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
    let mut ci_key = String::new();
    for app_name in ["backup", "ci"] {
        let key = api.key(ADMIN_EMAIL, Some(app_name)).await;
        tokens.push(api.token(&key).await);
        ci_key = key.id;
    }
    let disabled_key = api.key("member@example.org", None).await;
    tokens.push(api.token(&disabled_key).await);
    tokens.push(api.token_of("gone@example.org").await);
    tokens.push(api.token_of("off@example.org").await);
    tokens.push(tampered(&tokens[0]));

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

    let [boss, other, gone, off] = <[Visitor; 4]>::try_from(people).ok().unwrap();
    let pages = [
        Page::SignedIn(team.owner),
        Page::SignedIn(boss),
        Page::SignedIn(team.member),
        Page::SignedIn(other),
        Page::SignedIn(team.viewer),
        Page::SignedIn(outsider),
        Page::None,
        Page::None,
        Page::None,
        Page::SignedIn(gone),
        Page::SignedOut(off),
        Page::None,
        Page::SignedOut(app.visitor()),
    ];
    let (owner_token, member_token) = (tokens[0].clone(), tokens[2].clone());
    let callers: Vec<Caller> = tokens
        .into_iter()
        .map(Some)
        .chain([None])
        .zip(pages)
        .map(|(token, page)| Caller { token, page })
        .collect();
    let world = World::arrange(world::Arranged {
        api,
        service: team.service,
        backup,
        app_key,
        ci_key,
        owner_token,
        member_token,
    })
    .await;
    (world, callers)
}

/// The token with one character of its signature changed.
fn tampered(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut signature: Vec<char> = signature.chars().collect();
    let middle = signature.len() / 2;
    signature[middle] = if signature[middle] == 'A' { 'B' } else { 'A' };
    format!("{signed}.{}", signature.into_iter().collect::<String>())
}
