//! The OpenAPI document against the running portal: schemathesis (from PyPI, in
//! target/test-venv) sends each operation generated and mutated requests and checks that every
//! answer has a documented status, content type and schema and none is a server error; and every
//! operation of the document refuses a request without a valid token.

use std::{collections::BTreeSet, process::Command};

use reqwest::{Method, StatusCode};
use serde_json::json;

use keyport::{
    domain::services::ServiceKind,
    snippets::{self, OpenStackScope, Target, Variant},
};

use super::{ApiApp, error_code};
use crate::{
    backends::{Moto, test_venv},
    credentials::team,
    helpers::ADMIN_EMAIL,
};

#[tokio::test]
async fn schemathesis_finds_the_answers_as_documented() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let token = api.token_of(ADMIN_EMAIL).await;
    let member = api.token_of("member@example.org").await;
    let list = format!("/projects/team/services/{}/credentials", team.service);
    let mut ids = Vec::new();
    for (who, name) in [(&token, "the owner's"), (&member, "the member's")] {
        let body = json!({"name": name});
        let made = api
            .json(who, Method::POST, &list, Some(&body), StatusCode::CREATED)
            .await;
        ids.push(made["id"].as_str().unwrap().to_string());
    }
    let seeds = seed_the_rest(&api, &token, &team.service).await;
    // The service's S3 API is a moto that checks no signature: the Buckets console's
    // operations reach a real S3 API with any key, and act on the bucket `seeded`.
    let moto = Moto::start_open().await;
    sqlx::query("update endpoints set url = $1 where id = $2")
        .bind(&moto.url)
        .bind(&seeds.endpoint)
        .execute(api.app.db.pool())
        .await
        .unwrap();
    let buckets = format!("/projects/team/services/{}/buckets", team.service);
    let body = json!({"name": "seeded"});
    api.json(
        &token,
        Method::POST,
        &buckets,
        Some(&body),
        StatusCode::CREATED,
    )
    .await;
    // Requests reach the seeded project, service and credentials: the owner's key (one of the
    // two the service allows, so that an add can succeed too) is revealed, regenerated, edited
    // and configured, the member's deleted; likewise the other path parameters name things that
    // exist. A token schemathesis finds refused fails the run instead of warning.
    let dir = tempfile::tempdir().unwrap();
    let mut config = format!(
        "[warnings]\nfail-on = [\"missing_auth\"]\n\n\
         [parameters]\nproject = \"team\"\ninstance_id = \"{}\"\nbucket = \"seeded\"\ncredential = \"{}\"\n",
        team.service, ids[0]
    );
    let operations = [
        (r"/(reveal|regenerate|config)$", "", "id", &ids[0]),
        (r"/rotation(/[a-z-]+)?$", "", "id", &ids[0]),
        (
            r"/services/\\{instance_id\\}/credentials/\\{id\\}$",
            "",
            "id",
            &ids[0],
        ),
        (
            r"^/projects/\\{project\\}/credentials/\\{id\\}$",
            "DELETE",
            "id",
            &ids[1],
        ),
        // An endpoint of another service: the service's own is the Buckets console's S3 API,
        // which a change would move.
        (
            r"/endpoints/\\{endpoint_id\\}$",
            "",
            "endpoint_id",
            &seeds.spare_endpoint,
        ),
        (r"/backend/links/\\{owner\\}$", "", "owner", &seeds.owner),
        (
            r"/members/\\{user_id\\}$",
            "PATCH",
            "user_id",
            &seeds.member,
        ),
        (
            r"/members/\\{user_id\\}$",
            "DELETE",
            "user_id",
            &seeds.viewer,
        ),
        (r"/apps/\\{app_id\\}/keys", "", "app_id", &seeds.app),
        (r"/apps/\\{app_id\\}$", "DELETE", "app_id", &seeds.spare_app),
    ];
    for (path, method, name, value) in operations {
        config.push_str(&format!(
            "\n[[operations]]\ninclude-path-regex = \"{path}\"\n"
        ));
        if !method.is_empty() {
            config.push_str(&format!("include-method = \"{method}\"\n"));
        }
        let key = if name == "app_id" {
            format!("app_id = \"{}\", key_id = \"{}\"", value, seeds.key)
        } else if name == "endpoint_id" {
            format!(
                "instance_id = \"{}\", endpoint_id = \"{}\"",
                seeds.spare_service, value
            )
        } else {
            format!("{name} = \"{value}\"")
        };
        config.push_str(&format!("parameters = {{ {key} }}\n"));
    }
    std::fs::write(dir.path().join("schemathesis.toml"), config).unwrap();
    let program = test_venv().join("bin/schemathesis");
    let url = api.app.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .current_dir(dir.path())
            .args(["run", &format!("{url}/api/v1/openapi.json")])
            .args(["--url", &format!("{url}/api/v1")])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-c", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
            .args(["-n", "15", "--seed", "1", "--generation-database", "none", "--no-color"])
            .output()
            .unwrap_or_else(|e| {
                panic!("{program:?} runs (scripts/install-test-deps.sh installs it): {e}")
            })
    });
    let output = output.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
}

/// What the path parameters of the operations on members, apps, endpoints and backend links
/// name in the run.
struct Seeds {
    /// The service's first endpoint (the Buckets console's); another service, with an endpoint
    /// to change and delete.
    endpoint: String,
    spare_service: String,
    spare_endpoint: String,
    /// A backend link's owner: the viewer, who holds no key.
    owner: String,
    member: String,
    viewer: String,
    /// The app `ci`, with its API key `key`; the app `spare`, with neither keys nor credentials.
    app: String,
    key: String,
    spare_app: String,
}

async fn seed_the_rest(api: &ApiApp, token: &str, service: &str) -> Seeds {
    let found = api
        .json(
            token,
            Method::GET,
            &format!("/projects/team/services/{service}"),
            None,
            StatusCode::OK,
        )
        .await;
    let endpoint = found["endpoints"][0]["id"].as_str().unwrap().to_string();
    let spare = api
        .json(
            token,
            Method::POST,
            "/projects/team/services",
            Some(&json!({"kind": "s3", "name": "Spare"})),
            StatusCode::CREATED,
        )
        .await;
    let spare_service = spare["instance_id"].as_str().unwrap().to_string();
    let body = json!({"site": "Spare", "region": "x-1", "interface": "private", "url": "https://x.example.org"});
    let spare_endpoint = api
        .json(
            token,
            Method::POST,
            &format!("/projects/team/services/{spare_service}/endpoints"),
            Some(&body),
            StatusCode::CREATED,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut apps = Vec::new();
    for name in ["ci", "spare"] {
        let made = api
            .json(
                token,
                Method::POST,
                "/projects/team/apps",
                Some(&json!({"name": name})),
                StatusCode::CREATED,
            )
            .await;
        apps.push(made["id"].as_str().unwrap().to_string());
    }
    let key = api
        .json(
            token,
            Method::POST,
            &format!("/projects/team/apps/{}/keys", apps[0]),
            Some(&json!({"name": "deploy"})),
            StatusCode::CREATED,
        )
        .await;
    let viewer = api.app.user_id("viewer@example.org").await;
    Seeds {
        endpoint,
        spare_service,
        spare_endpoint,
        owner: format!("user:{viewer}"),
        member: api.app.user_id("member@example.org").await,
        viewer,
        key: key["id"].as_str().unwrap().to_string(),
        spare_app: apps.pop().unwrap(),
        app: apps.pop().unwrap(),
    }
}

#[tokio::test]
async fn every_operation_refuses_a_request_without_a_valid_token() {
    let api = ApiApp::spawn().await;
    let document = keyport::api::openapi();
    let served: serde_json::Value = reqwest::get(format!("{}/api/v1/openapi.json", api.app.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        served,
        serde_json::to_value(document).unwrap(),
        "the document served"
    );
    let mut operations = 0;
    for (path, item) in &document.paths.paths {
        let concrete = path.replace(['{', '}'], "");
        let methods = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        for (method, _) in methods.into_iter().filter(|(_, documented)| *documented) {
            operations += 1;
            let body =
                (method != Method::GET && method != Method::DELETE).then(|| json!({"name": "x"}));
            for token in [None, Some("not-a-token"), Some("eyJhbGciOiJub25lIn0.e30.")] {
                let (status, text) = api
                    .call(token, method.clone(), &concrete, body.as_ref())
                    .await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} {token:?}: {text}"
                );
                assert_eq!(error_code(&text), "unauthorized");
            }
            let responses = match method {
                Method::GET => &item.get,
                Method::POST => &item.post,
                Method::PUT => &item.put,
                Method::PATCH => &item.patch,
                _ => &item.delete,
            };
            let documented = &responses.as_ref().unwrap().responses.responses;
            assert!(
                documented.contains_key("401"),
                "{method} {path} documents 401"
            );
        }
    }
    assert!(operations >= 48, "every operation of /api/v1: {operations}");
}

#[test]
fn the_documented_clients_are_the_snippets() {
    let document = serde_json::to_value(keyport::api::openapi()).unwrap();
    let config = &document["paths"]["/projects/{project}/credentials/{id}/config"]["get"];
    let client = config["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "client")
        .expect("the client parameter");
    let documented: BTreeSet<&str> = client["schema"]["enum"]
        .as_array()
        .expect("the clients are listed")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let mut rendered = BTreeSet::new();
    // API services with a token URL have a snippet more (the SDK's two steps).
    let token_urls = [None, Some("https://iam.example.org/identity/token")];
    for kind in [ServiceKind::S3, ServiceKind::OpenStack, ServiceKind::Api] {
        for (variant, auth_url) in [Variant::WithSecret, Variant::WithoutSecret]
            .into_iter()
            .flat_map(|v| token_urls.map(|url| (v, url)))
        {
            let target = Target {
                name: "p",
                kind,
                access_key: "AK",
                secret: None,
                endpoint: None,
                auth_url,
                instance_id: "",
                region: "",
                scope: OpenStackScope::default(),
            };
            rendered.extend(snippets::render(&target, variant).into_iter().map(|s| s.id));
        }
    }
    assert_eq!(documented, rendered);
}

#[tokio::test]
async fn the_api_page_describes_every_operation_and_the_service_page_its_instance_id() {
    let api = ApiApp::spawn().await;
    let team = team(&api.app, "s3").await;
    let token = api.token_of(ADMIN_EMAIL).await;
    let document: serde_json::Value = reqwest::get(format!("{}/api/v1/openapi.json", api.app.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();

    let (status, html) = team.member.get_text("/api").await;

    assert_eq!(status, StatusCode::OK);
    let shown: BTreeSet<String> = crate::helpers::texts(&html, "section.api-operation h2")
        .into_iter()
        .collect();
    assert_eq!(
        shown, documented,
        "the page lists exactly the document's operations"
    );

    let (_, page) = team
        .owner
        .get_text(&format!("/projects/team/services/{}", team.service))
        .await;
    let instance_id = crate::helpers::attrs(&page, "input#instance-id", "value")
        .pop()
        .expect("the page shows it");
    let service = api
        .json(
            &token,
            Method::GET,
            &format!("/projects/team/services/{instance_id}"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(service["instance_id"], instance_id.as_str());
}
