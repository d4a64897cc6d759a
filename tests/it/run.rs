//! `keyport run`: a program gets its credential through the API with an app's key, never
//! written to disk, and a disabled key gets nothing.

use reqwest::StatusCode;

use crate::{
    api::ApiApp,
    backends::Moto,
    helpers::ADMIN_EMAIL,
    s3_clients::{AWS, Home, assert_ok, assert_refused, run},
};

// The portal serves from the test's runtime while `keyport run` talks to it: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyport_run_gives_the_aws_cli_the_key_of_an_app() {
    let (moto, key) = Moto::start().await;
    let api = ApiApp::spawn().await;
    let app = &api.app;
    let owner = app.admin().await;
    app.project(&owner, "team", "").await;
    let service_path = app.service(&owner, "s3", "Object storage", "").await;
    app.endpoint(
        &owner,
        &service_path,
        ["Loopback", "us-east-1", "public", &moto.url],
    )
    .await;
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
    let response = owner
        .submit(
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", service),
                ("owner", &owner_field),
                ("name", "backup"),
                ("mode", "import"),
                ("access_key", &key.access_key),
                ("secret", &key.secret),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the app's key is imported"
    );
    let app_key = api.key(ADMIN_EMAIL, Some("nightly")).await;

    let home = Home::new();
    let keyport_run = |api_key: &str| {
        let script = format!(
            "{AWS} --endpoint-url \"$AWS_ENDPOINT_URL\" s3 mb s3://keyport-run && {AWS} --endpoint-url \"$AWS_ENDPOINT_URL\" s3 ls"
        );
        tokio::task::block_in_place(|| {
            run(home
                .command(env!("CARGO_BIN_EXE_keyport"))
                .args([
                    "run",
                    "--project",
                    "team",
                    "--service",
                    "Object storage",
                    "--",
                ])
                .args(["bash", "-c", &script])
                .env("KEYPORT_URL", &app.url)
                .env("KEYPORT_API_KEY", api_key))
        })
    };
    let listing = assert_ok(
        &keyport_run(&app_key.secret),
        "keyport run with the app's key",
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
    .fetch_all(app.db.pool())
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

    sqlx::query("update api_keys set enabled = 0 where id = $1")
        .bind(&app_key.id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let refused = keyport_run(&app_key.secret);
    assert_refused(&refused, "keyport run with a disabled key");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("refused"), "{said}");
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
