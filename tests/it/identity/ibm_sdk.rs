//! IBM's own client, `ibm-cloud-sdk-core` from PyPI (in target/test-venv), against the portal:
//! tests/ibm_sdk_client.py does what a program built on IBM's SDKs does, and checks the token's
//! signature with PyJWT against `/identity/keys`, as a third party verifying offline would.

use std::{path::PathBuf, process::Command};

use keyport::ops::api_keys::Change;
use serde_json::Value;

use super::{BAD_KEY_MESSAGE, Portal};
use crate::backends::test_venv;

/// Runs a step of the script with `env`; its JSON answer.
async fn client(args: &[&str], env: &[(&str, &str)]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ibm_sdk_client.py");
    let mut command = Command::new(test_venv().join("bin/python"));
    command.arg(script).args(args).envs(env.iter().copied());
    // Off the runtime the portal serves on: the script calls the portal while it runs.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("target/test-venv has Python: run scripts/install-test-deps.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ibm_sdk_client.py {}: {}\n{stdout}",
        args[0],
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn ibm_cloud_sdk_core_exchanges_calls_refreshes_and_is_refused_once_the_key_is_disabled() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;

    let works = client(
        &["works", &portal.url, "team"],
        &[("KEYPORT_API_KEY", key.secret.as_str())],
    )
    .await;
    let claims = &works["claims"];
    assert_eq!(claims["key"], key.key.id.as_str());
    assert_eq!(claims["sub"], format!("user:{}", member.id));
    assert_eq!(claims["iss"], portal.public_url.as_str());
    let kids = works["jwks_kids"].as_array().unwrap();
    assert!(kids.contains(&works["kid"]), "{works}");
    // The forced refresh made a second exchange: another token of the same key.
    let second = &works["second_claims"];
    assert_eq!(second["key"], key.key.id.as_str());
    assert!(
        claims["jti"].is_string() && claims["jti"] != second["jti"],
        "{works}"
    );

    portal
        .change_key(&member, &key.key.id, Change::Disable)
        .await;
    let refused = client(
        &["refused", &portal.url],
        &[
            ("KEYPORT_API_KEY", key.secret.as_str()),
            (
                "KEYPORT_ACCESS_TOKEN",
                works["access_token"].as_str().unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!(refused["exchange"]["status"], 401, "{refused}");
    assert_eq!(refused["exchange"]["message"], BAD_KEY_MESSAGE, "{refused}");
    assert_eq!(refused["bearer"]["status"], 401, "{refused}");
}
