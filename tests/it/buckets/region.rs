//! The S3 region asked for when an EC2 pair is added, where the S3 API is not the test stack's:
//! an S3 API that never answers leaves the endpoint as it was and the pair added, and an
//! address the outgoing-request policy refuses is not reached at all.

use reqwest::StatusCode;
use tokio::{net::TcpListener, sync::mpsc};

use crate::{credentials::team, helpers::TestApp};

/// An S3 API on loopback that accepts connections and never answers; each connection is sent
/// on the channel as it is accepted, and held open.
async fn silent_s3() -> (String, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/AUTH_lab", listener.local_addr().unwrap());
    let (accepted, connections) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            if accepted.send(()).is_err() {
                break;
            }
        }
    });
    (url, connections)
}

/// A member adds an EC2 pair to an OpenStack service whose public endpoint is `swift`; the
/// answer to the add, and the endpoint's S3 region after it.
async fn add_pair(app: &TestApp, swift: &str) -> (StatusCode, String) {
    let team = team(app, "openstack").await;
    let service_path = format!("/projects/team/services/{}", team.service);
    app.endpoint(
        &team.owner,
        &service_path,
        ["Loopback", "RegionOne", "public", swift],
    )
    .await;
    let response = team.add(&team.member, "s3 tools", &[("kind", "ec2")]).await;
    let s3_region = sqlx::query_scalar("select s3_region from endpoints where url = $1")
        .bind(swift)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let active: i64 = sqlx::query_scalar(
        "select count(*) from credentials where kind = 'ec2' and state = 'active'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(active, 1, "the pair is stored whatever the S3 API did");
    (response.status(), s3_region)
}

#[tokio::test]
async fn a_pair_is_added_whether_or_not_its_s3_api_says_its_region() {
    let (swift, mut connections) = silent_s3().await;

    // Loopback is not allowed: the S3 API is not asked.
    let closed = TestApp::spawn_with(|config| config.limits.backend_allowed_networks.clear()).await;
    let (status, s3_region) = add_pair(&closed, &swift).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(s3_region, "");
    assert!(
        connections.try_recv().is_err(),
        "no request past the outgoing-request policy"
    );

    // Allowed, and never answering: asked, given up on, and the pair added all the same.
    let open = TestApp::spawn().await;
    let (status, s3_region) = add_pair(&open, &swift).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(s3_region, "");
    assert!(
        connections.recv().await.is_some(),
        "the S3 API was asked for its region"
    );
}
