//! `/healthz` and `/readyz`.

use reqwest::StatusCode;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_answers_and_readiness_follows_the_database() {
    let app = TestApp::spawn().await;
    let visitor = app.visitor();
    let (status, body) = visitor.get_text("/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    assert_eq!(visitor.get("/readyz").await.status(), StatusCode::OK);

    // The database goes away: not ready, but still alive.
    app.db.close().await;
    assert_eq!(
        visitor.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(visitor.get("/healthz").await.status(), StatusCode::OK);
    // Pages fail cleanly, without internals.
    let (status, html) = visitor.get_text("/login").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(html.contains("Something went wrong"));
    assert!(
        !html.to_lowercase().contains("sqlx") && !html.contains("pool"),
        "{html}"
    );
}
