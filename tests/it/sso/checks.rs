//! The background checks of single sign-on accounts against what the provider may answer
//! besides "this account is refused", and what else may change the account meanwhile.

use reqwest::StatusCode;

use super::{
    GRACE, instance_events, provider::Provider, provider::portal, provider::sso_sign_in, wait_until,
};

#[tokio::test]
async fn sso_check_refused_client_disables_nobody_only_invalid_grant_does() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| config.sso.recheck_seconds = 1).await;
    app.admin().await;
    let grace = sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    let id = app.user_id("grace@example.org").await;

    // The provider no longer knows Keyport's client secret (it expired, or was changed there):
    // it refuses the client (`invalid_client`), which says nothing about Grace.
    provider
        .register_with_secret(&app.url, "a secret Keyport does not have")
        .await;
    let errors = provider.token_errors().await;
    wait_until("two checks were refused", async || {
        provider.token_errors().await >= errors + 2
    })
    .await;
    let user = keyport::db::users::find(&app.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(!user.disabled, "a refused client disables nobody");
    let identity = keyport::db::sso::find(&app.db, &id).await.unwrap().unwrap();
    assert_eq!(identity.suspended, 0);
    assert!(
        identity.refresh_token.is_some(),
        "her refresh token is kept"
    );
    assert_eq!(grace.get("/projects").await.status(), StatusCode::OK);
    assert!(instance_events(&app, "user.disable").await.is_empty());

    // The secret fixed at the provider, the checks vouch for her again with the same token.
    provider.register(&app.url).await;
    wait_until("the provider vouched again", async || {
        let now = keyport::db::sso::find(&app.db, &id).await.unwrap().unwrap();
        now.checked_at > identity.checked_at
    })
    .await;
    assert_eq!(grace.get("/projects").await.status(), StatusCode::OK);
}
