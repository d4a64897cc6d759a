//! Keystone doing what the API benchmark has Keyport do: tokens from application credentials,
//! and the listing of a user's EC2 credentials.

use anyhow::ensure;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    API_KEYS, CREDENTIALS,
    backends::OpenStack,
    expect_in_body, json_answer,
    load::{Load, Request, client, rotation, wrk_scripted},
};

/// The test Keystone at 64 connections: tokens from application credentials, and
/// `GET /v3/credentials` of a user with 50 EC2 credentials.
pub async fn measure(seconds: u64) -> anyhow::Result<(Load, Load)> {
    const PASSWORD_TOKENS: usize = 8;
    let stack = tokio::task::spawn_blocking(OpenStack::get).await?;
    let user = stack.create_user().await;
    let base = stack.keystone_url.clone();
    let http = client()?;
    let password = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": user.id, "password": user.password}}},
        "scope": {"project": {"id": user.project_id}}
    }});
    let token = keystone_token(&http, &base, &password).await?;

    // The user's application credentials (as `openstack application credential create`).
    let mut issues = Vec::with_capacity(API_KEYS);
    for i in 0..API_KEYS {
        let answer = http
            .post(format!("{base}/users/{}/application_credentials", user.id))
            .header("X-Auth-Token", &token)
            .json(&json!({"application_credential": {"name": format!("bench-{i}")}}))
            .send()
            .await;
        let body = json_answer(answer, StatusCode::CREATED).await?;
        let credential = &body["application_credential"];
        let auth = json!({"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": credential["id"], "secret": credential["secret"]}
        }}});
        if i == 0 {
            keystone_token(&http, &base, &auth).await?;
        }
        issues.push(Request {
            headers: vec![("Content-Type", "application/json".to_string())],
            body: Some(auth.to_string()),
        });
    }
    for _ in 0..CREDENTIALS {
        let answer = http
            .post(format!("{base}/users/{}/credentials/OS-EC2", user.id))
            .header("X-Auth-Token", &token)
            .json(&json!({"tenant_id": user.project_id}))
            .send()
            .await;
        json_answer(answer, StatusCode::CREATED).await?;
    }

    let issue_script = format!(
        "status = 201\n{}{}",
        rotation("POST", &issues),
        expect_in_body(r#""token""#, 0)
    );
    let issue = wrk_scripted(
        &format!("{base}/auth/tokens"),
        64,
        seconds,
        &[],
        &issue_script,
    )?;

    // Keystone hides credentials from tokens of application credentials (delegated tokens), so
    // the listing runs with the user's own password tokens.
    let mut tokens = Vec::with_capacity(PASSWORD_TOKENS);
    for _ in 0..PASSWORD_TOKENS {
        tokens.push(keystone_token(&http, &base, &password).await?);
    }
    let listing = format!("{base}/credentials");
    let answer = http
        .get(&listing)
        .header("X-Auth-Token", &tokens[0])
        .send()
        .await;
    let body = json_answer(answer, StatusCode::OK).await?;
    let listed = body["credentials"].as_array().map_or(0, Vec::len);
    ensure!(listed >= CREDENTIALS, "Keystone lists {listed}: {body}");
    let holders: Vec<_> = tokens
        .into_iter()
        .map(|token| Request {
            headers: vec![("X-Auth-Token", token)],
            body: None,
        })
        .collect();
    let list_script = format!(
        "{}{}",
        rotation("GET", &holders),
        expect_in_body(r#""credentials""#, 0)
    );
    let list = wrk_scripted(&listing, 64, seconds, &[], &list_script)?;
    Ok((issue, list))
}

/// Keystone's token, from the `X-Subject-Token` header of a 201.
async fn keystone_token(
    http: &reqwest::Client,
    base: &str,
    auth: &Value,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/auth/tokens"))
        .json(auth)
        .send()
        .await?;
    let status = response.status();
    let token = response
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.text().await?;
    match token {
        Some(token) if status == StatusCode::CREATED && !token.is_empty() => Ok(token),
        _ => anyhow::bail!("Keystone token: {status}: {body}"),
    }
}
