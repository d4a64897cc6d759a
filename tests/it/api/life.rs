//! A credential's life through the API: added with its secret, revealed (the same secret the
//! page's Show gives), configured, edited, regenerated, deleted; each step audited in the API
//! key's name. Imports.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiApp, error_code};
use crate::{
    credentials::{reveal, revealed_secret, team},
    helpers::{ADMIN_EMAIL, attrs, input_value},
};

pub fn credentials_path(service: &str) -> String {
    format!("/projects/team/services/{service}/credentials")
}

/// The credential `deploy` (described `ci`, expiring on 2999-01-31), added to the service's
/// `list` with `token`.
async fn add_deploy_key(api: &ApiApp, token: &str, list: &str) -> Value {
    let body = json!({"name": "deploy", "description": "ci", "expires": "2999-01-31"});
    api.json(token, Method::POST, list, Some(&body), StatusCode::CREATED)
        .await
}

#[tokio::test]
async fn a_credential_from_create_to_delete_with_its_audit_trail() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let key = api.key("member@example.org", None).await;
    let token = api.token(&key).await;
    let list = credentials_path(&team.service);

    let created = add_deploy_key(&api, &token, &list).await;
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 40, "{created}");
    assert_eq!(created["owner"], "me");
    assert_eq!(
        (&created["kind"], &created["state"]),
        (&json!("key"), &json!("active"))
    );
    assert_eq!(created["expires_at"], 32_474_736_000_i64);

    // Reveal gives the secret the page's Show gives.
    let revealed = api
        .json(
            &token,
            Method::POST,
            &format!("/projects/team/credentials/{id}/reveal"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(revealed["secret"], secret.as_str());
    assert_eq!(revealed["access_key"], created["access_key"]);
    let (status, html) = reveal(&team.member, &team, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        revealed_secret(&html, &id).as_deref(),
        Some(secret.as_str())
    );

    // The client configurations hold the secret and the endpoint; without the secret, they do not.
    let config = format!("/projects/team/credentials/{id}/config");
    let access_key = created["access_key"].as_str().unwrap();
    let (status, text) = api
        .call(
            Some(&token),
            Method::GET,
            &format!("{config}?client=aws-credentials"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains(&secret) && text.contains(access_key),
        "{text}"
    );
    let (status, text) = api
        .call(
            Some(&token),
            Method::GET,
            &format!("{config}?client=aws-env&site=Si%20Racha"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains(&secret) && text.contains("https://s3.example.org"),
        "{text}"
    );
    let (status, text) = api
        .call(
            Some(&token),
            Method::GET,
            &format!("{config}?client=aws-env&variant=without"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !text.contains(&secret) && text.contains("https://s3.example.org"),
        "{text}"
    );

    // Regenerate: a new key; its secret only through reveal.
    let regenerated = api
        .json(
            &token,
            Method::POST,
            &format!("/projects/team/credentials/{id}/regenerate"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_ne!(regenerated["access_key"], created["access_key"]);
    assert!(regenerated.get("secret").is_none() && regenerated["warning"].is_null());
    let again = api
        .json(
            &token,
            Method::POST,
            &format!("/projects/team/credentials/{id}/reveal"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_ne!(again["secret"], secret.as_str());
    assert_eq!(again["access_key"], regenerated["access_key"]);
    let listed = api
        .json(&token, Method::GET, &list, None, StatusCode::OK)
        .await;
    assert_eq!(listed["credentials"][0]["id"], id.as_str());
    assert!(listed["credentials"][0]["rotated_at"].is_i64());

    // Delete: gone for every operation.
    let one = format!("/projects/team/credentials/{id}");
    let (status, text) = api.call(Some(&token), Method::DELETE, &one, None).await;
    assert_eq!((status, text.as_str()), (StatusCode::NO_CONTENT, ""));
    for (method, path) in [
        (Method::DELETE, one.clone()),
        (Method::POST, format!("{one}/reveal")),
        (Method::POST, format!("{one}/regenerate")),
        (Method::GET, format!("{one}/config?client=aws-credentials")),
    ] {
        let (status, text) = api.call(Some(&token), method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {text}");
        assert_eq!(error_code(&text), "not_found");
    }
    let listed = api
        .json(&token, Method::GET, &list, None, StatusCode::OK)
        .await;
    assert_eq!(listed["credentials"], json!([]));

    // Each step is in the project's audit log, in the API key's name.
    let owner = api.token_of(ADMIN_EMAIL).await;
    let actor = format!("member@example.org (API key {})", key.prefix);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("actor", &actor)
        .finish();
    let log = api
        .json(
            &owner,
            Method::GET,
            &format!("/projects/team/audit?{query}"),
            None,
            StatusCode::OK,
        )
        .await;
    let mut actions: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.reverse();
    assert_eq!(
        actions,
        [
            // The secret in the answer to create is the create's: no reveal of its own.
            "credential.create",
            "credential.reveal",
            "credential.download",
            "credential.download",
            "credential.regenerate",
            "credential.reveal",
            "credential.delete",
        ]
    );
    let events = log["events"].as_array().unwrap();
    assert!(events.iter().all(|e| e["actor"] == actor.as_str()));
    assert!(
        events
            .iter()
            .all(|e| e["target"] == "Object storage / deploy"),
        "{log}"
    );
    let downloaded: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "credential.download")
        .map(|e| &e["detail"])
        .collect();
    assert_eq!(downloaded, [&json!("aws-env"), &json!("aws-credentials")]);
    let page_reveal = api
        .json(
            &owner,
            Method::GET,
            "/projects/team/audit?actor=member%40example.org&action=credential.reveal",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        page_reveal["events"].as_array().unwrap().len(),
        1,
        "the page's Show"
    );
}

/// Members record the keys their provider gave them, as admins do.
#[tokio::test]
async fn members_and_admins_record_keys_from_their_provider() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let list = credentials_path(&team.service);
    let member = api.token_of("member@example.org").await;
    let owner = api.token_of(ADMIN_EMAIL).await;
    let import = json!({"name": "legacy", "access_key": "AKIAOLD", "secret": "s3cr3t/with+chars"});

    let recorded = api
        .json(
            &member,
            Method::POST,
            &list,
            Some(&json!({"name": "mine", "access_key": "AKIAMINE", "secret": "m1ne"})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(recorded["access_key"], "AKIAMINE");
    let created = api
        .json(
            &owner,
            Method::POST,
            &list,
            Some(&import),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        (&created["access_key"], &created["secret"]),
        (&json!("AKIAOLD"), &json!("s3cr3t/with+chars"))
    );
    let actions: Vec<String> = sqlx::query_scalar("select action from audit_events order by id")
        .fetch_all(api.app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        actions.last().map(String::as_str),
        Some("credential.import"),
        "the import is recorded once, the secret in its answer with it: {actions:?}"
    );
}

/// An edit through the API is the page's Edit: what is sent changes, what is left out stays,
/// the page shows it, and it is audited in the API key's name.
#[tokio::test]
async fn a_credential_is_edited_as_the_page_edits_it() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let key = api.key("member@example.org", None).await;
    let token = api.token(&key).await;
    let list = credentials_path(&team.service);
    let created = add_deploy_key(&api, &token, &list).await;
    let id = created["id"].as_str().unwrap().to_string();
    let one = format!("{list}/{id}");

    let change = json!({"name": "deploy v2", "enabled": false});
    let edited = api
        .json(&token, Method::PATCH, &one, Some(&change), StatusCode::OK)
        .await;

    assert_eq!(
        (&edited["name"], &edited["enabled"]),
        (&json!("deploy v2"), &json!(false))
    );
    assert_eq!(
        (&edited["description"], &edited["expires_at"]),
        (&json!("ci"), &created["expires_at"]),
        "what was left out stays"
    );
    assert_eq!(edited["access_key"], created["access_key"]);
    let listed = api
        .json(&token, Method::GET, &list, None, StatusCode::OK)
        .await;
    assert_eq!(listed["credentials"][0], edited);
    let (status, html) = team
        .member
        .get_text(&format!("/projects/team/credentials/{id}/edit"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(input_value(&html, "name").as_deref(), Some("deploy v2"));
    assert_eq!(input_value(&html, "expires").as_deref(), Some("2999-01-31"));
    assert!(attrs(&html, "input[name=enabled][checked]", "name").is_empty());

    // Back on, without an expiry; the rest stays.
    let change = json!({"enabled": true, "expires": ""});
    let edited = api
        .json(&token, Method::PATCH, &one, Some(&change), StatusCode::OK)
        .await;
    assert_eq!(
        (&edited["name"], &edited["enabled"], &edited["expires_at"]),
        (&json!("deploy v2"), &json!(true), &Value::Null)
    );

    // Through another service's path, or someone else's key: not there.
    let elsewhere = format!("/projects/team/services/other/credentials/{id}");
    assert_eq!(
        api.refusal(&token, Method::PATCH, &elsewhere, Some(&change))
            .await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let other = api.token_of("viewer@example.org").await;
    assert_eq!(
        api.refusal(&other, Method::PATCH, &one, Some(&change))
            .await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );

    let owner = api.token_of(ADMIN_EMAIL).await;
    let log = api
        .json(
            &owner,
            Method::GET,
            "/projects/team/audit?action=credential.update",
            None,
            StatusCode::OK,
        )
        .await;
    let events: Vec<(&str, &str, &str)> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let field = |name: &str| e[name].as_str().unwrap();
            (field("actor"), field("target"), field("detail"))
        })
        .collect();
    let actor = format!("member@example.org (API key {})", key.prefix);
    assert_eq!(
        events,
        [
            (actor.as_str(), "Object storage / deploy v2", "enabled"),
            (actor.as_str(), "Object storage / deploy v2", "disabled"),
        ]
    );
}
