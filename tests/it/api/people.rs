//! Who is in a project, through the API: members added, given another role and removed; apps
//! created with an API key that acts as the app until it is disabled; projects created. Each
//! step on the pages too, and audited.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{ApiApp, Key, error_code, services::actions_of};
use crate::{
    credentials::team,
    helpers::{ADMIN_EMAIL, attrs, page_text, texts},
};

#[tokio::test]
async fn a_member_from_added_to_removed() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    api.app
        .insert_user("new@example.org", "Newton", false)
        .await;
    let key = api.key(ADMIN_EMAIL, None).await;
    let token = api.token(&key).await;

    let body = json!({"email": "New@Example.org", "role": "viewer"});
    let added = api
        .json(
            &token,
            Method::POST,
            "/projects/team/members",
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    let user_id = added["user_id"].as_str().unwrap().to_string();
    assert_eq!(
        (&added["email"], &added["name"], &added["role"]),
        (
            &json!("new@example.org"),
            &json!("Newton"),
            &json!("viewer")
        )
    );
    let listed = api
        .json(
            &token,
            Method::GET,
            "/projects/team/members",
            None,
            StatusCode::OK,
        )
        .await;
    assert!(listed["members"].as_array().unwrap().contains(&added));
    let role_on_page = async || {
        let (_, html) = team.owner.get_text("/projects/team/members").await;
        attrs(
            &html,
            "select[aria-label=\"Role of new@example.org\"] option[selected]",
            "value",
        )
    };
    assert_eq!(role_on_page().await, ["viewer"]);
    let newcomer = api.token_of("new@example.org").await;
    api.json(
        &newcomer,
        Method::GET,
        "/projects/team/services",
        None,
        StatusCode::OK,
    )
    .await;

    let one = format!("/projects/team/members/{user_id}");
    let changed = api
        .json(
            &token,
            Method::PATCH,
            &one,
            Some(&json!({"role": "admin"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(changed["role"], "admin");
    assert_eq!(role_on_page().await, ["admin"]);
    // The new admin manages members, but not owners.
    let owner_id = api.app.user_id(ADMIN_EMAIL).await;
    assert_eq!(
        api.refusal(
            &newcomer,
            Method::PATCH,
            &format!("/projects/team/members/{owner_id}"),
            Some(&json!({"role": "member"}))
        )
        .await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    // The last owner stays one.
    assert_eq!(
        api.refusal(
            &token,
            Method::PATCH,
            &format!("/projects/team/members/{owner_id}"),
            Some(&json!({"role": "member"}))
        )
        .await,
        (StatusCode::CONFLICT, "refused".into())
    );

    let (status, _) = api.call(Some(&token), Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(role_on_page().await.is_empty());
    let (status, _) = api
        .call(
            Some(&newcomer),
            Method::GET,
            "/projects/team/services",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "removed at once");
    let (status, _) = api.call(Some(&token), Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let actor = format!("{ADMIN_EMAIL} (API key {})", key.prefix);
    let actions = actions_of(&api, &token, &actor).await;
    let expected = ["member.add", "member.role", "member.remove"]
        .map(|a| (a.to_string(), "new@example.org".to_string()));
    assert_eq!(actions, expected);
}

#[tokio::test]
async fn an_app_and_its_key_from_created_to_deleted() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let key = api.key(ADMIN_EMAIL, None).await;
    let token = api.token(&key).await;

    let body = json!({"name": "nightly", "description": "backups", "role": "viewer"});
    let app = api
        .json(
            &token,
            Method::POST,
            "/projects/team/apps",
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    let app_id = app["id"].as_str().unwrap().to_string();
    assert_eq!(
        (&app["name"], &app["role"]),
        (&json!("nightly"), &json!("viewer"))
    );
    let listed = api
        .json(
            &token,
            Method::GET,
            "/projects/team/apps",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(listed["apps"], json!([app]));
    let (_, html) = team.member.get_text("/projects/team/apps").await;
    assert_eq!(
        texts(&html, "tbody td")[..3],
        ["nightly", "viewer", "backups"]
    );

    // A key, shown once, that acts as the app.
    let keys = format!("/projects/team/apps/{app_id}/keys");
    let made = api
        .json(
            &token,
            Method::POST,
            &keys,
            Some(&json!({"name": "cron", "expires": "2999-12-31"})),
            StatusCode::CREATED,
        )
        .await;
    let secret = made["secret"].as_str().unwrap().to_string();
    let key_id = made["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with(made["prefix"].as_str().unwrap()));
    assert_eq!(made["enabled"], true);
    let app_key = Key {
        id: key_id.clone(),
        secret: secret.clone(),
        prefix: made["prefix"].as_str().unwrap().to_string(),
    };
    let as_app = api.token(&app_key).await;
    let projects = api
        .json(&as_app, Method::GET, "/projects", None, StatusCode::OK)
        .await;
    assert_eq!(projects[0]["role"], "viewer");
    let listed = api
        .json(&token, Method::GET, &keys, None, StatusCode::OK)
        .await;
    let listed = listed["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].to_string().contains(&secret), "shown once only");
    let (_, html) = team
        .owner
        .get_text(&format!("/projects/team/apps/{app_id}"))
        .await;
    let row = texts(&html, &format!("tr#key-{key_id}")).join(" ");
    assert!(row.contains("cron") && row.contains("enabled"), "{row}");
    // Members see the app, not its keys.
    let member = api.token_of("member@example.org").await;
    let hidden = api
        .json(&member, Method::GET, &keys, None, StatusCode::OK)
        .await;
    assert_eq!(hidden["keys"], json!([]));

    // Disabled: the app's token is refused at once.
    let one_key = format!("{keys}/{key_id}");
    let disabled = api
        .json(
            &token,
            Method::PATCH,
            &one_key,
            Some(&json!({"enabled": false})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(disabled["enabled"], false);
    let (status, _) = api
        .call(Some(&as_app), Method::GET, "/projects", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, html) = team
        .owner
        .get_text(&format!("/projects/team/apps/{app_id}"))
        .await;
    assert!(
        texts(&html, &format!("tr#key-{key_id}"))
            .join(" ")
            .contains("disabled")
    );

    // Deleted, the key and then the app.
    let (status, _) = api.call(Some(&token), Method::DELETE, &one_key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let listed = api
        .json(&token, Method::GET, &keys, None, StatusCode::OK)
        .await;
    assert_eq!(listed["keys"], json!([]));
    let app_path = format!("/projects/team/apps/{app_id}");
    let (status, _) = api
        .call(Some(&token), Method::DELETE, &app_path, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        team.owner.get(&app_path).await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = api.call(Some(&token), Method::GET, &keys, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let actor = format!("{ADMIN_EMAIL} (API key {})", key.prefix);
    let actions = actions_of(&api, &token, &actor).await;
    let expected = [
        ("app.create", "nightly"),
        ("api_key.create", "nightly / cron"),
        ("api_key.disable", "nightly / cron"),
        ("api_key.delete", "nightly / cron"),
        ("app.delete", "nightly"),
    ]
    .map(|(a, t)| (a.to_string(), t.to_string()));
    assert_eq!(actions, expected);
}

/// An app that still holds a credential is kept.
#[tokio::test]
async fn an_app_holding_credentials_is_not_deleted() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let (app_id, _) = team.add_app_key(&api.app, "backup key").await;
    let token = api.token_of(ADMIN_EMAIL).await;

    let (status, text) = api
        .call(
            Some(&token),
            Method::DELETE,
            &format!("/projects/team/apps/{app_id}"),
            None,
        )
        .await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&text), "refused");
    assert!(text.contains("still holds keys"), "{text}");
}

#[tokio::test]
async fn instance_admins_create_projects_and_nobody_else_does() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let admin = api.token_of(ADMIN_EMAIL).await;

    let created = api
        .json(
            &admin,
            Method::POST,
            "/projects",
            Some(&json!({"name": "Data Lake (TH)"})),
            StatusCode::CREATED,
        )
        .await;

    assert_eq!(
        (&created["slug"], &created["role"]),
        (&json!("data-lake-th"), &json!("owner")),
        "the slug made from the name, as the page makes it"
    );
    let projects = api
        .json(&admin, Method::GET, "/projects", None, StatusCode::OK)
        .await;
    assert!(
        projects
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["slug"] == "data-lake-th" && p["role"] == "owner")
    );
    let (status, html) = team.owner.get_text("/projects/data-lake-th").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page_text(&html).contains("Data Lake (TH)"));
    // Audited in the new project's log, in the API key's name.
    let log = api
        .json(
            &admin,
            Method::GET,
            "/projects/data-lake-th/audit",
            None,
            StatusCode::OK,
        )
        .await;
    let event = &log["events"][0];
    assert_eq!(event["action"], "project.create", "{log}");
    assert_eq!(event["target"], "data-lake-th");
    assert!(
        event["actor"].as_str().unwrap().contains("API key"),
        "{event}"
    );

    // For someone else: they own it, the creator is not in it.
    let body = json!({"name": "Ops", "slug": "ops", "owner_email": "member@example.org"});
    let created = api
        .json(
            &admin,
            Method::POST,
            "/projects",
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    assert!(created["role"].is_null(), "{created}");
    let member = api.token_of("member@example.org").await;
    let theirs = api
        .json(&member, Method::GET, "/projects", None, StatusCode::OK)
        .await;
    assert!(
        theirs
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["slug"] == "ops" && p["role"] == "owner")
    );

    // Members who are not instance admins, even owners of a project, and apps may not.
    let body = json!({"name": "Mine"});
    assert_eq!(
        api.refusal(&member, Method::POST, "/projects", Some(&body))
            .await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    team.add_app_key(&api.app, "app key").await;
    let app_key = api.key(ADMIN_EMAIL, Some("backup")).await;
    let as_app = api.token(&app_key).await;
    assert_eq!(
        api.refusal(&as_app, Method::POST, "/projects", Some(&body))
            .await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    let count: i64 = sqlx::query_scalar("select count(*) from projects")
        .fetch_one(api.app.db.pool())
        .await
        .unwrap();
    assert_eq!(count, 3, "team, data-lake-th and ops");
}
