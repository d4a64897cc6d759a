//! `keyport run`: a program gets its credential through the API with an app's key, never
//! written to disk, and a disabled key gets nothing. Proven with the AWS CLI against moto and
//! with the OpenStack client against the test Keystone.

use reqwest::StatusCode;

use crate::{
    api::{ApiApp, Key},
    backends::{Moto, OpenStack, S3Key},
    helpers::ADMIN_EMAIL,
    s3_clients::{AWS, Home, assert_ok, assert_refused, run},
};

/// A portal whose project `team` has the service `Cloud` of `kind` (OpenStack project
/// `os_project`) at `endpoint` (site, region, interface, URL), with `key` imported as a
/// credential of the app `nightly`; and an API key of that app.
async fn app_holding(
    kind: &str,
    os_project: &str,
    endpoint: [&str; 4],
    key: &S3Key,
) -> (ApiApp, Key) {
    let api = ApiApp::spawn().await;
    let app = &api.app;
    let owner = app.admin().await;
    app.project(&owner, "team", "").await;
    let service_path = app.service(&owner, kind, "Cloud", os_project).await;
    app.endpoint(&owner, &service_path, endpoint).await;
    let response = owner
        .submit(
            "/projects/team/apps",
            "/projects/team/apps",
            &[("name", "nightly")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the app is made");
    let app_id: String = sqlx::query_scalar("select id from apps where name = 'nightly'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let service = service_path.rsplit('/').next().unwrap();
    let page = format!("/projects/team/credentials?service={service}");
    let owner_field = format!("app:{app_id}");
    let fields = [
        ("service_id", service),
        ("owner", owner_field.as_str()),
        ("name", "backup"),
        ("mode", "import"),
        ("access_key", key.access_key.as_str()),
        ("secret", key.secret.as_str()),
    ];
    let response = owner
        .submit(&page, "/projects/team/credentials", &fields)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the app's key is imported"
    );
    let app_key = api.key(ADMIN_EMAIL, Some("nightly")).await;
    (api, app_key)
}

/// `keyport run --project team --service Cloud -- bash -c SCRIPT` with `api_key`, in `home`.
fn keyport_run(api: &ApiApp, home: &Home, api_key: &str, script: &str) -> std::process::Output {
    // The portal serves from the test's runtime while the command waits for it.
    tokio::task::block_in_place(|| {
        run(home
            .command(env!("CARGO_BIN_EXE_keyport"))
            .args(["run", "--project", "team", "--service", "Cloud", "--"])
            .args(["bash", "-c", script])
            .env("KEYPORT_URL", &api.app.url)
            .env("KEYPORT_API_KEY", api_key))
    })
}

async fn disable(api: &ApiApp, key: &Key) {
    sqlx::query("update api_keys set enabled = 0 where id = $1")
        .bind(&key.id)
        .execute(api.app.db.pool())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyport_run_gives_the_aws_cli_the_key_of_an_app() {
    let (moto, key) = Moto::start().await;
    let endpoint = ["Loopback", "us-east-1", "public", moto.url.as_str()];
    let (api, app_key) = app_holding("s3", "", endpoint, &key).await;
    let home = Home::new();
    let script = format!(
        "{AWS} --endpoint-url \"$AWS_ENDPOINT_URL\" s3 mb s3://keyport-run && {AWS} --endpoint-url \"$AWS_ENDPOINT_URL\" s3 ls"
    );

    let listing = assert_ok(
        &keyport_run(&api, &home, &app_key.secret, &script),
        "keyport run",
    );
    assert!(listing.contains("keyport-run"), "{listing}");
    let written: Vec<_> = walk(home.path())
        .into_iter()
        .filter(|path| {
            std::fs::read(path).is_ok_and(|bytes| contains(&bytes, key.secret.as_bytes()))
        })
        .collect();
    assert!(written.is_empty(), "the secret was written to {written:?}");
    let audited: Vec<(String, String)> = sqlx::query_as(
        "select actor, action from audit_events where action like 'credential.%' order by id",
    )
    .fetch_all(api.app.db.pool())
    .await
    .unwrap();
    assert!(
        audited
            .iter()
            .any(|(actor, action)| actor.contains("nightly")
                && actor.contains(&app_key.prefix)
                && action == "credential.download"),
        "the fetch is audited as the app's key: {audited:?}"
    );

    disable(&api, &app_key).await;
    let refused = keyport_run(&api, &home, &app_key.secret, &script);
    assert_refused(&refused, "keyport run with a disabled key");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("refused"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyport_run_gives_the_openstack_client_the_password_of_an_app() {
    let stack = OpenStack::get();
    let user = stack.create_user().await;
    let key = S3Key {
        access_key: user.name.clone(),
        secret: user.password.clone(),
    };
    let endpoint = [
        "Loopback",
        stack.region.as_str(),
        "auth",
        stack.keystone_url.as_str(),
    ];
    let (api, app_key) = app_holding("openstack", &user.project, endpoint, &key).await;
    let home = Home::new();
    let script = "/usr/bin/openstack token issue -f value -c project_id";

    let issued = assert_ok(
        &keyport_run(&api, &home, &app_key.secret, script),
        "keyport run",
    );
    assert_eq!(
        issued.trim(),
        user.project_id,
        "a token of the user's project"
    );

    disable(&api, &app_key).await;
    assert_refused(
        &keyport_run(&api, &home, &app_key.secret, script),
        "keyport run with a disabled key",
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
