//! What the API refuses as input (each field of an add, the key limit, query parameters), and
//! credentials and the audit log a page at a time.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiApp, error_code, life::credentials_path};
use crate::{credentials::team, helpers::ADMIN_EMAIL};

#[tokio::test]
async fn bad_input_is_422_and_the_limit_holds() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let list = credentials_path(&team.service);
    let member = api.token_of("member@example.org").await;

    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "expires": "tomorrow"}), "expires"),
        (json!({"name": "x", "kind": "ec2"}), "kind"),
        (json!({"name": "x", "owner": "someone"}), "owner"),
        (json!({"name": "x", "owner": "app:no-such-app"}), "owner"),
    ] {
        let (status, text) = api
            .call(Some(&member), Method::POST, &list, Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["error"]["code"], "invalid");
        assert_eq!(answer["error"]["fields"][0]["field"], field, "{text}");
    }
    for body in [
        json!({"description": "no name"}),
        json!({"name": 5}),
        json!({"name": "x", "extra": 1}),
    ] {
        let (status, text) = api
            .call(Some(&member), Method::POST, &list, Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {text}");
        assert_eq!(error_code(&text), "invalid");
    }
    let (status, _) = api
        .call(
            Some(&member),
            Method::POST,
            "/projects/team/services/no-such-service/credentials",
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for name in ["one", "two"] {
        api.json(
            &member,
            Method::POST,
            &list,
            Some(&json!({"name": name})),
            StatusCode::CREATED,
        )
        .await;
    }
    let (status, text) = api
        .call(
            Some(&member),
            Method::POST,
            &list,
            Some(&json!({"name": "three"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(
        text.contains("a maximum of two credentials at once"),
        "{text}"
    );

    let id: String = sqlx::query_scalar("select id from credentials where name = 'one'")
        .fetch_one(api.app.db.pool())
        .await
        .unwrap();
    let config = format!("/projects/team/credentials/{id}/config");
    for query in [
        "",
        "?client=openrc-v3",
        "?client=aws-credentials&variant=maybe",
    ] {
        let (status, text) = api
            .call(
                Some(&member),
                Method::GET,
                &format!("{config}{query}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {text}");
    }
    let (_, text) = api
        .call(
            Some(&member),
            Method::GET,
            &format!("{config}?client=nope"),
            None,
        )
        .await;
    assert!(
        text.contains("aws-credentials, aws-config"),
        "the offered clients: {text}"
    );
    for query in ["?limit=0", "?limit=201", "?limit=ten"] {
        let (status, text) = api
            .call(Some(&member), Method::GET, &format!("{list}{query}"), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {text}");
    }
    let downloads: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'credential.download'",
    )
    .fetch_one(api.app.db.pool())
    .await
    .unwrap();
    assert_eq!(downloads, 0, "nothing was downloaded");
}

#[tokio::test]
async fn credentials_and_the_audit_log_come_a_page_at_a_time() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let list = credentials_path(&team.service);
    let member = api.token_of("member@example.org").await;
    let owner = api.token_of(ADMIN_EMAIL).await;
    for (token, name) in [
        (&member, "m1"),
        (&member, "m2"),
        (&owner, "o1"),
        (&owner, "o2"),
    ] {
        api.json(
            token,
            Method::POST,
            &list,
            Some(&json!({"name": name})),
            StatusCode::CREATED,
        )
        .await;
    }

    let (listed, pages) = api.every_page(&owner, &list, "credentials", 3).await;
    assert_eq!(pages, 2);
    let ids: Vec<&str> = listed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        (ids.len(), &ids),
        (4, &sorted),
        "every credential once, by id"
    );
    let owners: Vec<&str> = listed
        .iter()
        .map(|c| c["owner"].as_str().unwrap())
        .collect();
    assert_eq!(owners.iter().filter(|o| **o == "me").count(), 2);
    assert_eq!(
        owners.iter().filter(|o| **o == "member").count(),
        2,
        "{owners:?}"
    );
    // The member sees their own keys only.
    let mine = api
        .json(&member, Method::GET, &list, None, StatusCode::OK)
        .await;
    assert_eq!(mine["credentials"].as_array().unwrap().len(), 2);

    let page = api
        .json(
            &owner,
            Method::GET,
            "/projects/team/audit?limit=3",
            None,
            StatusCode::OK,
        )
        .await;
    let before = page["next"].as_i64().expect("older events");
    let older = api
        .json(
            &owner,
            Method::GET,
            &format!("/projects/team/audit?limit=50&before={before}"),
            None,
            StatusCode::OK,
        )
        .await;
    let newest: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(newest.len(), 3);
    assert!(newest.windows(2).all(|w| w[0] > w[1]), "newest first");
    let oldest = older["events"].as_array().unwrap();
    assert!(oldest.iter().all(|e| e["id"].as_i64().unwrap() < before));
    assert!(!oldest.is_empty());
    let (status, _) = api
        .call(
            Some(&owner),
            Method::GET,
            "/projects/team/audit?limit=51",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_method_a_path_does_not_take_is_405_in_the_apis_shape() {
    let api = ApiApp::spawn().await;
    team(&api.app, "s3").await;
    let token = api.token_of(ADMIN_EMAIL).await;
    for (method, path) in [
        (Method::DELETE, "/projects"),
        (Method::PUT, "/projects/team/services"),
        (Method::POST, "/openapi.json"),
    ] {
        let (status, text) = api.call(Some(&token), method.clone(), path, None).await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {text}"
        );
        assert_eq!(error_code(&text), "method_not_allowed", "{method} {path}");
    }
}
