//! What the API refuses as input to services, endpoints, backends, members, apps, app keys,
//! projects and a credential's edit: each field told by name, names already taken, fields it
//! does not know; and members, apps and app keys a page at a time.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiApp, error_code, life::credentials_path};
use crate::{credentials::team, helpers::ADMIN_EMAIL};

/// `method` on `path` with `body` answers 422 naming `field` (or, for `None`, 422 without
/// naming one: a body that is not the operation's JSON).
async fn refused(
    api: &ApiApp,
    token: &str,
    (method, path): (Method, &str),
    body: Value,
    field: Option<&str>,
) {
    let (status, text) = api
        .call(Some(token), method.clone(), path, Some(&body))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{method} {path} {body}: {text}"
    );
    assert_eq!(error_code(&text), "invalid");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let fields: Vec<&str> = answer["error"]["fields"]
        .as_array()
        .map(|f| f.iter().map(|f| f["field"].as_str().unwrap()).collect())
        .unwrap_or_default();
    match field {
        Some(field) => assert!(
            fields.contains(&field),
            "{method} {path} {body}: {field} in {text}"
        ),
        None => assert!(fields.is_empty(), "{text}"),
    }
}

#[tokio::test]
async fn bad_input_to_the_management_operations_is_422_with_the_field() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let owner = api.token_of(ADMIN_EMAIL).await;
    let service = format!("/projects/team/services/{}", team.service);
    let app = api
        .json(
            &owner,
            Method::POST,
            "/projects/team/apps",
            Some(&json!({"name": "ci"})),
            StatusCode::CREATED,
        )
        .await;
    let app_keys = format!("/projects/team/apps/{}/keys", app["id"].as_str().unwrap());
    let credential = api
        .json(
            &owner,
            Method::POST,
            &credentials_path(&team.service),
            Some(&json!({"name": "mine"})),
            StatusCode::CREATED,
        )
        .await;
    let credential = format!(
        "{}/{}",
        credentials_path(&team.service),
        credential["id"].as_str().unwrap()
    );
    let member = api.app.user_id("member@example.org").await;
    let member = format!("/projects/team/members/{member}");
    let viewer = api.app.user_id("viewer@example.org").await;
    let link = format!("{service}/backend/links/user:{viewer}");
    let post = |path: &str| (Method::POST, path.to_string());
    let backend = format!("{service}/backend");
    let endpoints = format!("{service}/endpoints");

    let cases: Vec<((Method, String), Value, Option<&str>)> = vec![
        // Services: each field, a name taken, an unknown field, the kind that cannot change.
        (
            post("/projects/team/services"),
            json!({"name": "x"}),
            Some("kind"),
        ),
        (
            post("/projects/team/services"),
            json!({"kind": "api"}),
            Some("name"),
        ),
        (
            post("/projects/team/services"),
            json!({"kind": "tape", "name": "x"}),
            Some("kind"),
        ),
        (
            post("/projects/team/services"),
            json!({"kind": "api", "name": "x", "max_keys_per_owner": 9}),
            Some("max_keys_per_owner"),
        ),
        (
            post("/projects/team/services"),
            json!({"kind": "openstack", "name": "x"}),
            Some("os_project_name"),
        ),
        (
            post("/projects/team/services"),
            json!({"kind": "api", "name": "Object storage"}),
            Some("name"),
        ),
        (
            post("/projects/team/services"),
            json!({"kind": "api", "name": "x", "colour": "red"}),
            None,
        ),
        (
            post("/projects/team/services"),
            json!({"kind": "api", "name": "x", "max_keys_per_owner": "two"}),
            None,
        ),
        (
            (Method::PATCH, service.clone()),
            json!({"name": " "}),
            Some("name"),
        ),
        (
            (Method::PATCH, service.clone()),
            json!({"kind": "api"}),
            None,
        ),
        // Endpoints.
        (
            post(&endpoints),
            json!({"region": "r", "interface": "public", "url": "https://e.example.org"}),
            Some("site"),
        ),
        (
            post(&endpoints),
            json!({"site": "s", "region": "r", "interface": "sideways", "url": "https://e.example.org"}),
            Some("interface"),
        ),
        (
            post(&endpoints),
            json!({"site": "s", "region": "r", "interface": "public", "url": "ftp://e.example.org"}),
            Some("url"),
        ),
        (
            post(&endpoints),
            json!({"site": "s", "region": "r", "interface": "public", "url": "https://e.example.org", "id": "x"}),
            None,
        ),
        // The backend, and its links.
        (
            (Method::PUT, backend.clone()),
            json!({"driver": "keystone"}),
            Some("driver"),
        ),
        (
            (Method::PUT, backend.clone()),
            json!({"driver": "aws_iam", "endpoint": "https://iam.example.org"}),
            Some("access_key"),
        ),
        (
            (Method::PUT, backend.clone()),
            json!({"driver": "aws_iam", "endpoint": "https://iam.example.org", "region": "r", "access_key": "AK"}),
            Some("secret_key"),
        ),
        (
            (Method::PUT, backend.clone()),
            json!({"driver": "stored", "has_secret": true}),
            None,
        ),
        (
            (Method::PUT, link.clone()),
            json!({"backend_name": ""}),
            Some("backend_name"),
        ),
        (
            (Method::PUT, format!("{service}/backend/links/someone")),
            json!({"backend_name": "x"}),
            Some("owner"),
        ),
        (
            (Method::PUT, format!("{service}/backend/links/user:nobody")),
            json!({"backend_name": "x"}),
            Some("owner"),
        ),
        (
            (Method::PUT, link.clone()),
            json!({"backend_name": "x", "password": "p"}),
            None,
        ),
        // Members.
        (
            post("/projects/team/members"),
            json!({"email": "nobody@example.org", "role": "member"}),
            Some("email"),
        ),
        (
            post("/projects/team/members"),
            json!({"email": "not an email", "role": "member"}),
            Some("email"),
        ),
        (
            post("/projects/team/members"),
            json!({"email": "member@example.org", "role": "member"}),
            Some("email"),
        ),
        (
            post("/projects/team/members"),
            json!({"email": "member@example.org", "role": "boss"}),
            Some("role"),
        ),
        (
            post("/projects/team/members"),
            json!({"email": "member@example.org", "role": "member", "name": "x"}),
            None,
        ),
        (
            (Method::PATCH, member.clone()),
            json!({"role": "boss"}),
            Some("role"),
        ),
        (
            (Method::PATCH, member.clone()),
            json!({"role": "admin", "email": "x@example.org"}),
            None,
        ),
        // Apps and their keys.
        (post("/projects/team/apps"), json!({}), Some("name")),
        (
            post("/projects/team/apps"),
            json!({"name": "ci"}),
            Some("name"),
        ),
        (
            post("/projects/team/apps"),
            json!({"name": "x", "role": "owner"}),
            Some("role"),
        ),
        (
            post("/projects/team/apps"),
            json!({"name": "x", "id": "x"}),
            None,
        ),
        (post(&app_keys), json!({"name": ""}), Some("name")),
        (
            post(&app_keys),
            json!({"name": "k", "expires": "2001-01-01"}),
            Some("expires"),
        ),
        (
            post(&app_keys),
            json!({"name": "k", "expires": "soon"}),
            Some("expires"),
        ),
        (
            post(&app_keys),
            json!({"name": "k", "secret": "mine"}),
            None,
        ),
        // A credential's edit.
        (
            (Method::PATCH, credential.clone()),
            json!({"name": ""}),
            Some("name"),
        ),
        (
            (Method::PATCH, credential.clone()),
            json!({"expires": "next week"}),
            Some("expires"),
        ),
        (
            (Method::PATCH, credential.clone()),
            json!({"enabled": "yes"}),
            None,
        ),
        (
            (Method::PATCH, credential.clone()),
            json!({"owner": "me"}),
            None,
        ),
        // Projects.
        (post("/projects"), json!({"name": ""}), Some("name")),
        (
            post("/projects"),
            json!({"name": "Team", "slug": "team"}),
            Some("slug"),
        ),
        (
            post("/projects"),
            json!({"name": "X", "slug": "Not A Slug"}),
            Some("slug"),
        ),
        (
            post("/projects"),
            json!({"name": "X", "owner_email": "nobody@example.org"}),
            Some("owner_email"),
        ),
        (
            post("/projects"),
            json!({"name": "X", "private": true}),
            None,
        ),
    ];
    for ((method, path), body, field) in cases {
        refused(&api, &owner, (method, &path), body, field).await;
    }

    // Nothing was made or changed by any of them.
    let count = async |sql: &str| -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(api.app.db.pool())
            .await
            .unwrap()
    };
    assert_eq!(count("select count(*) from services").await, 1);
    assert_eq!(count("select count(*) from endpoints").await, 1);
    assert_eq!(count("select count(*) from apps").await, 1);
    assert_eq!(count("select count(*) from projects").await, 1);
    assert_eq!(count("select count(*) from backend_users").await, 0);
    assert_eq!(
        count("select count(*) from api_keys where app_id is not null").await,
        0
    );
    let listed = api
        .json(
            &owner,
            Method::GET,
            &credentials_path(&team.service),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (
            &listed["credentials"][0]["name"],
            &listed["credentials"][0]["enabled"]
        ),
        (&json!("mine"), &json!(true))
    );
}

#[tokio::test]
async fn members_apps_and_app_keys_come_a_page_at_a_time() {
    let api = ApiApp::spawn().await;
    team(&api.app, "s3").await;
    let owner = api.token_of(ADMIN_EMAIL).await;
    for name in ["a", "b", "c"] {
        api.json(
            &owner,
            Method::POST,
            "/projects/team/apps",
            Some(&json!({"name": name})),
            StatusCode::CREATED,
        )
        .await;
    }
    let apps = api
        .json(
            &owner,
            Method::GET,
            "/projects/team/apps",
            None,
            StatusCode::OK,
        )
        .await;
    let app = apps["apps"][0]["id"].as_str().unwrap().to_string();
    let keys = format!("/projects/team/apps/{app}/keys");
    for name in ["k1", "k2", "k3"] {
        api.json(
            &owner,
            Method::POST,
            &keys,
            Some(&json!({"name": name})),
            StatusCode::CREATED,
        )
        .await;
    }

    // Three members (owner, member, viewer), three apps, three keys: pages of two.
    for (path, list, id) in [
        ("/projects/team/members".to_string(), "members", "user_id"),
        ("/projects/team/apps".to_string(), "apps", "id"),
        (keys.clone(), "keys", "id"),
    ] {
        let (items, pages) = api.every_page(&owner, &path, list, 2).await;
        assert_eq!(pages, 2, "{path}");
        let ids: Vec<&str> = items
            .iter()
            .map(|item| item[id].as_str().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!((ids.len(), &ids), (3, &sorted), "{path}: each once, by id");
        for query in ["?limit=0", "?limit=201", "?limit=many"] {
            let (status, text) = api
                .call(Some(&owner), Method::GET, &format!("{path}{query}"), None)
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path}{query}: {text}"
            );
        }
    }
}
