//! The View Credentials page stays light as keys add up: one dialog for all keys, no text
//! repeated per key.

use reqwest::StatusCode;

use crate::{
    credentials::credential_ids,
    helpers::{TestApp, attrs, location},
};

/// What the page of a service with 50 credentials may weigh, as an admin sees it (every key
/// with its buttons).
const MAX_BYTES_FOR_50_KEYS: usize = 60_000;

#[tokio::test]
async fn the_credentials_page_with_50_keys_weighs_under_60_kb() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let response = admin
        .submit(
            "/projects/team/services",
            "/projects/team/services",
            &[
                ("kind", "s3"),
                ("name", "Object storage"),
                ("max_keys_per_owner", "5"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let service = location(&response);
    let service_id = service.rsplit('/').next().unwrap().to_string();
    app.endpoint(
        &admin,
        &service,
        [
            "Si Racha, Thailand",
            "th-sr-1",
            "public",
            "https://s3.th-sr-1.example.org",
        ],
    )
    .await;
    let page = format!("/projects/team/credentials?service={service_id}");
    // Ten apps holding five keys each.
    for n in 0..10 {
        let name = format!("batch-{n}");
        let response = admin
            .submit(
                "/projects/team/apps",
                "/projects/team/apps",
                &[("name", name.as_str())],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "app {name}");
    }
    let owners = attrs(&admin.get_text(&page).await.1, "#owner option", "value");
    let apps: Vec<&String> = owners.iter().filter(|o| o.starts_with("app:")).collect();
    assert_eq!(apps.len(), 10);
    for (n, owner) in apps.iter().enumerate() {
        for k in 0..5 {
            let name = format!("nightly job {n}-{k}");
            let response = admin
                .submit(
                    &page,
                    "/projects/team/credentials",
                    &[
                        ("service_id", service_id.as_str()),
                        ("owner", owner.as_str()),
                        ("name", name.as_str()),
                        ("mode", "generate"),
                        ("expires", "2099-12-31"),
                    ],
                )
                .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name}");
        }
    }

    let (status, html) = admin.get_text(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(credential_ids(&html).len(), 50);
    assert_eq!(
        html.matches("<dialog").count(),
        2,
        "one Regenerate and one Delete dialog for all keys"
    );
    assert!(
        html.len() < MAX_BYTES_FOR_50_KEYS,
        "the page weighs {} bytes ({} per key)",
        html.len(),
        html.len() / 50
    );
}
