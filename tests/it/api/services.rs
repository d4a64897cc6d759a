//! A service's life through the API: added, changed, given endpoints and a backend, deleted;
//! each step on the service's pages too, and audited in the API key's name. A backend's secrets
//! go in and never come out.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::ApiApp;
use crate::{
    backends::Moto,
    credentials::team,
    helpers::{ADMIN_EMAIL, page_text, raw_text},
};

/// The actions of the project's audit log, oldest first, that `actor` did.
pub async fn actions_of(api: &ApiApp, token: &str, actor: &str) -> Vec<(String, String)> {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("actor", actor)
        .finish();
    let log = api
        .json(
            token,
            Method::GET,
            &format!("/projects/team/audit?{query}"),
            None,
            StatusCode::OK,
        )
        .await;
    let mut actions: Vec<(String, String)> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let field = |name: &str| e[name].as_str().unwrap().to_string();
            (field("action"), field("target"))
        })
        .collect();
    actions.reverse();
    actions
}

#[tokio::test]
async fn a_service_from_create_to_delete_with_its_endpoints_and_backend() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let key = api.key(ADMIN_EMAIL, None).await;
    let token = api.token(&key).await;

    let body = json!({
        "kind": "openstack", "name": "Cloud", "description": "the lab",
        "os_user_domain": "Default", "os_project_name": "lab", "os_project_domain": "Default",
    });
    let created = api
        .json(
            &token,
            Method::POST,
            "/projects/team/services",
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    let id = created["instance_id"].as_str().unwrap().to_string();
    let one = format!("/projects/team/services/{id}");
    assert_eq!(
        (
            &created["kind"],
            &created["max_keys_per_owner"],
            &created["endpoints"]
        ),
        (&json!("openstack"), &json!(2), &json!([]))
    );
    let read = api
        .json(&token, Method::GET, &one, None, StatusCode::OK)
        .await;
    assert_eq!(read, created);

    // Changed: what is sent; the kind stays.
    let change = json!({"name": "Lab cloud", "max_keys_per_owner": 3});
    let changed = api
        .json(&token, Method::PATCH, &one, Some(&change), StatusCode::OK)
        .await;
    assert_eq!(
        (&changed["name"], &changed["max_keys_per_owner"]),
        (&json!("Lab cloud"), &json!(3))
    );
    assert_eq!(
        (&changed["description"], &changed["os_project_name"]),
        (&json!("the lab"), &json!("lab"))
    );
    let (_, html) = team.owner.get_text(&one).await;
    let shown = page_text(&html);
    assert!(
        shown.contains("Lab cloud") && shown.contains("at most 3 keys per owner"),
        "{shown}"
    );

    // Endpoints: added, seen by everyone in the project, removed.
    let endpoint = json!({"site": "Lab", "region": "lab-1", "interface": "auth", "url": "https://keystone.example.org/v3"});
    let added = api
        .json(
            &token,
            Method::POST,
            &format!("{one}/endpoints"),
            Some(&endpoint),
            StatusCode::CREATED,
        )
        .await;
    let endpoint_id = added["id"].as_str().unwrap().to_string();
    assert_eq!(added["url"], "https://keystone.example.org/v3");
    let member = api.token_of("member@example.org").await;
    let seen = api
        .json(&member, Method::GET, &one, None, StatusCode::OK)
        .await;
    assert_eq!(seen["endpoints"], json!([added]));
    let (_, html) = team.member.get_text("/projects/team/endpoints").await;
    assert!(page_text(&html).contains("https://keystone.example.org/v3"));
    assert_eq!(
        api.refusal(
            &member,
            Method::DELETE,
            &format!("{one}/endpoints/{endpoint_id}"),
            None
        )
        .await,
        (StatusCode::FORBIDDEN, "forbidden".into()),
        "members read endpoints, admins change them"
    );
    let (status, _) = api
        .call(
            Some(&token),
            Method::DELETE,
            &format!("{one}/endpoints/{endpoint_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, html) = team.owner.get_text(&one).await;
    assert!(page_text(&html).contains("No endpoints yet."));

    // The backend: Keyport keeps the keys; a member of the project is linked to a backend user
    // and unlinked again (the page offers links for remote backends only, the operation takes
    // them for any). Only Keystone has a catalog to import.
    let backend = format!("{one}/backend");
    let kept = api
        .json(&token, Method::GET, &backend, None, StatusCode::OK)
        .await;
    assert_eq!(
        kept,
        json!({"driver": "stored", "has_secret": false, "links": []})
    );
    let saved = api
        .json(
            &token,
            Method::PUT,
            &backend,
            Some(&json!({"driver": "stored"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(saved, kept);
    let viewer = api.app.user_id("viewer@example.org").await;
    let link = format!("{backend}/links/user:{viewer}");
    let linked = api
        .json(
            &token,
            Method::PUT,
            &link,
            Some(&json!({"backend_name": "lab-viewer"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        linked["links"],
        json!([{"owner": format!("user:{viewer}"), "owner_name": "viewer", "backend_name": "lab-viewer", "created_by_keyport": false}])
    );
    let (status, _) = api.call(Some(&token), Method::DELETE, &link, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.refusal(
            &token,
            Method::POST,
            &format!("{one}/import-endpoints"),
            None
        )
        .await,
        (StatusCode::CONFLICT, "refused".into())
    );

    // Deleted: gone from the API and the pages. The first service still has credentials.
    let (status, _) = api.call(Some(&token), Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call(Some(&token), Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(team.owner.get(&one).await.status(), StatusCode::NOT_FOUND);
    let first = format!("/projects/team/services/{}", team.service);
    let list = format!("{first}/credentials");
    api.json(
        &member,
        Method::POST,
        &list,
        Some(&json!({"name": "in use"})),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        api.refusal(&token, Method::DELETE, &first, None).await,
        (StatusCode::CONFLICT, "refused".into())
    );

    let actor = format!("{ADMIN_EMAIL} (API key {})", key.prefix);
    let actions: Vec<(String, String)> = actions_of(&api, &token, &actor).await;
    let expected = [
        ("service.create", "Cloud"),
        ("service.update", "Lab cloud"),
        ("endpoint.add", "Lab cloud"),
        ("endpoint.delete", "Lab cloud"),
        ("service.backend", "Lab cloud"),
        ("service.backend_link", "Lab cloud"),
        ("service.backend_unlink", "Lab cloud"),
        ("service.delete", "Lab cloud"),
    ]
    .map(|(a, t)| (a.to_string(), t.to_string()));
    assert_eq!(actions, expected);
}

/// Backend settings are written whole and read back without their secret: a secret left out is
/// kept for the same endpoint and key, asked for again when they change, and never answered.
/// An endpoint's S3 region through the API, for an S3 API the portal cannot reach to learn it:
/// checked as a region, given back with the endpoint, and what the S3 snippets sign with.
#[tokio::test]
async fn an_endpoint_is_given_its_s3_region_through_the_api() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "openstack").await;
    let key = api.key(ADMIN_EMAIL, None).await;
    let token = api.token(&key).await;
    let service = format!("/projects/team/services/{}", team.service);
    let endpoints = format!("{service}/endpoints");
    let mut body = json!({
        "site": "Bangkok", "region": "RegionOne", "interface": "public",
        "url": "https://swift.bkk.example.org/v1/AUTH_lab", "s3_region": "us east 1",
    });
    let (status, text) = api
        .call(Some(&token), Method::POST, &endpoints, Some(&body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["fields"][0]["field"], "s3_region", "{text}");

    body["s3_region"] = json!("us-east-1");
    let added = api
        .json(
            &token,
            Method::POST,
            &endpoints,
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        (&added["region"], &added["s3_region"]),
        (&json!("RegionOne"), &json!("us-east-1"))
    );
    let read = api
        .json(&token, Method::GET, &service, None, StatusCode::OK)
        .await;
    let listed = read["endpoints"].as_array().unwrap();
    assert!(listed.contains(&added), "{read}");
    assert!(
        listed
            .iter()
            .any(|e| e["region"] == "th-1" && e["s3_region"] == ""),
        "an endpoint without one says so: {read}"
    );

    team.add(&team.member, "s3 tools", &[("kind", "ec2")]).await;
    let id: String = sqlx::query_scalar("select id from credentials")
        .fetch_one(api.app.db.pool())
        .await
        .unwrap();
    let html = team
        .member
        .get_text(&format!("{}&site=Bangkok&configure={id}", team.page))
        .await
        .1;
    let config = raw_text(&html, &format!("pre#snippet-{id}-aws-config")).unwrap();
    assert!(config.contains("region = us-east-1\n"), "{config}");
}

#[tokio::test]
async fn a_backend_secret_goes_in_and_never_comes_out() {
    let (moto, admin) = Moto::start().await;
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let token = api.token_of(ADMIN_EMAIL).await;
    let backend = format!("/projects/team/services/{}/backend", team.service);
    let settings = json!({
        "driver": "aws_iam", "endpoint": moto.url, "region": "us-east-1",
        "access_key": admin.access_key, "secret_key": admin.secret,
    });

    let saved = api
        .json(
            &token,
            Method::PUT,
            &backend,
            Some(&settings),
            StatusCode::OK,
        )
        .await;

    let expected = json!({
        "driver": "aws_iam", "has_secret": true, "endpoint": moto.url, "region": "us-east-1",
        "access_key": admin.access_key, "links": [],
    });
    assert_eq!(saved, expected);
    let (status, text) = api.call(Some(&token), Method::GET, &backend, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
    assert!(!text.contains(&admin.secret));
    let (_, html) = team.owner.get_text(&backend).await;
    assert!(!html.contains(&admin.secret), "nor on the page");

    // Left out, the secret is kept for the same endpoint and access key.
    let mut again = settings.clone();
    again.as_object_mut().unwrap().remove("secret_key");
    let kept = api
        .json(&token, Method::PUT, &backend, Some(&again), StatusCode::OK)
        .await;
    assert_eq!(kept, expected);
    // Another access key without its secret is refused, and nothing changes.
    again["access_key"] = json!("AKIAOTHER");
    let (status, text) = api
        .call(Some(&token), Method::PUT, &backend, Some(&again))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["fields"][0]["field"], "secret_key");
    let read = api
        .json(&token, Method::GET, &backend, None, StatusCode::OK)
        .await;
    assert_eq!(read, expected);
    // A wrong secret is refused by the backend before anything is saved.
    let mut wrong = settings.clone();
    wrong["secret_key"] = json!("not-the-secret");
    let (status, text) = api
        .call(Some(&token), Method::PUT, &backend, Some(&wrong))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("\"field\":\"driver\""), "{text}");

    // Keyport's own admin user is no member's.
    let viewer = api.app.user_id("viewer@example.org").await;
    assert_eq!(
        api.refusal(
            &token,
            Method::PUT,
            &format!("{backend}/links/user:{viewer}"),
            Some(&json!({"backend_name": "tester"}))
        )
        .await,
        (StatusCode::CONFLICT, "refused".into())
    );

    // The secret is nowhere in the database in clear, nor in the audit log.
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar(
        "select driver_settings from services where driver_settings is not null",
    )
    .fetch_all(api.app.db.pool())
    .await
    .unwrap();
    assert_eq!(sealed.len(), 1);
    assert!(
        !sealed[0]
            .windows(admin.secret.len())
            .any(|w| w == admin.secret.as_bytes())
    );
    let log = api
        .json(
            &token,
            Method::GET,
            "/projects/team/audit?action=service.backend",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(log["events"].as_array().unwrap().len(), 2, "{log}");
    assert!(!log.to_string().contains(&admin.secret));
}

#[tokio::test]
async fn a_services_rotation_policy_is_set_changed_and_taken_away() {
    let api = ApiApp::spawn().await;
    team(&api.app, "s3").await;
    let owner = api.token_of(ADMIN_EMAIL).await;
    let body =
        json!({"kind": "s3", "name": "Vault", "max_key_age_days": 90, "rotation_warning_days": 14});
    let made = api
        .json(
            &owner,
            Method::POST,
            "/projects/team/services",
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        (
            made["max_key_age_days"].as_i64(),
            made["rotation_warning_days"].as_i64()
        ),
        (Some(90), Some(14))
    );
    let service = format!(
        "/projects/team/services/{}",
        made["instance_id"].as_str().unwrap()
    );

    // Left out, it stays; changed, it shows on the service's page; null takes it away.
    let renamed = api
        .json(
            &owner,
            Method::PATCH,
            &service,
            Some(&json!({"name": "Vault 2"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(renamed["max_key_age_days"], 90);
    let changed = api
        .json(
            &owner,
            Method::PATCH,
            &service,
            Some(&json!({"max_key_age_days": 30, "rotation_warning_days": 7})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (
            changed["max_key_age_days"].as_i64(),
            changed["rotation_warning_days"].as_i64()
        ),
        (Some(30), Some(7))
    );
    let gone = api
        .json(
            &owner,
            Method::PATCH,
            &service,
            Some(&json!({"max_key_age_days": null, "rotation_warning_days": null})),
            StatusCode::OK,
        )
        .await;
    assert!(
        gone["max_key_age_days"].is_null() && gone["rotation_warning_days"].is_null(),
        "{gone}"
    );

    for (body, field) in [
        (json!({"max_key_age_days": 0}), "max_key_age_days"),
        (
            json!({"max_key_age_days": 10, "rotation_warning_days": 10}),
            "rotation_warning_days",
        ),
    ] {
        let (status, text) = api
            .call(Some(&owner), Method::PATCH, &service, Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["error"]["fields"][0]["field"], field, "{text}");
    }
}

/// PATCH changes the fields it names and keeps the others; a wrong field changes nothing and
/// says which; only admins and owners change endpoints, and only their project's; audited with
/// the values before and after (a change to nothing is not), and the snippets sign with the new
/// S3 region at once.
#[tokio::test]
async fn an_endpoint_is_changed_field_by_field_through_the_api() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "openstack").await;
    let key = api.key(ADMIN_EMAIL, None).await;
    let token = api.token(&key).await;
    let member = api.token_of("member@example.org").await;
    let service = format!("/projects/team/services/{}", team.service);
    let body = json!({
        "site": "Bangkok", "region": "RegionOne", "interface": "public",
        "url": "https://swift.bkk.example.org/v1/AUTH_lab",
    });
    let added = api
        .json(
            &token,
            Method::POST,
            &format!("{service}/endpoints"),
            Some(&body),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("{service}/endpoints/{}", added["id"].as_str().unwrap());

    let changed = api
        .json(
            &token,
            Method::PATCH,
            &path,
            Some(&json!({"s3_region": "eu-west-3", "site": "Bangkok 2"})),
            StatusCode::OK,
        )
        .await;
    let mut expected = added.clone();
    expected["s3_region"] = json!("eu-west-3");
    expected["site"] = json!("Bangkok 2");
    assert_eq!(changed, expected, "the fields left out are kept");
    let same = api
        .json(
            &token,
            Method::PATCH,
            &path,
            Some(&json!({})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(same, expected, "nothing to change");

    for (body, field) in [
        (json!({"url": "ftp://swift.example.org"}), "url"),
        (json!({"interface": "sideways"}), "interface"),
        (json!({"site": ""}), "site"),
        (json!({"s3_region": "eu west 3"}), "s3_region"),
    ] {
        let (status, text) = api
            .call(Some(&token), Method::PATCH, &path, Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["error"]["fields"][0]["field"], field, "{text}");
    }
    let (status, _) = api
        .call(
            Some(&token),
            Method::PATCH,
            &path,
            Some(&json!({"nope": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields");
    assert_eq!(
        api.refusal(
            &member,
            Method::PATCH,
            &path,
            Some(&json!({"site": "Mine"}))
        )
        .await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    assert_eq!(
        api.refusal(
            &token,
            Method::PATCH,
            &format!("{service}/endpoints/no-such-endpoint"),
            Some(&json!({"site": "X"}))
        )
        .await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let read = api
        .json(&token, Method::GET, &service, None, StatusCode::OK)
        .await;
    assert!(
        read["endpoints"].as_array().unwrap().contains(&expected),
        "nothing changed since: {read}"
    );

    team.add(&team.member, "s3 tools", &[("kind", "ec2")]).await;
    let id: String = sqlx::query_scalar("select id from credentials")
        .fetch_one(api.app.db.pool())
        .await
        .unwrap();
    let html = team
        .member
        .get_text(&format!("{}&site=Bangkok%202&configure={id}", team.page))
        .await
        .1;
    let config = raw_text(&html, &format!("pre#snippet-{id}-aws-config")).unwrap();
    assert!(config.contains("region = eu-west-3\n"), "{config}");

    let actor = format!("{ADMIN_EMAIL} (API key {})", key.prefix);
    let changes: Vec<(String, String)> = actions_of(&api, &token, &actor)
        .await
        .into_iter()
        .filter(|(action, _)| action == "endpoint.change")
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "one change; the empty and the refused ones none"
    );
}
