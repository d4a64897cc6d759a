//! The background checks of single sign-on accounts against what the provider may answer
//! besides "this account is refused", and what else may change the account meanwhile.

use reqwest::StatusCode;

use super::{
    GRACE, instance_events,
    provider::{self, Provider, portal, sso_sign_in},
    wait_until,
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

#[tokio::test]
async fn sso_check_takes_one_account_at_a_time_and_uses_its_answer_only_while_it_holds_it() {
    use keyport::db::sso;
    let app = crate::helpers::TestApp::spawn().await;
    let a = app.insert_user("a@example.org", "A", false).await;
    let b = app.insert_user("b@example.org", "B", false).await;
    for (id, subject) in [(&a, "a"), (&b, "b")] {
        sso::signed_in(
            &app.db,
            id,
            "https://provider.example",
            subject,
            "",
            Some(b"sealed"),
        )
        .await
        .unwrap();
    }
    let before = keyport::domain::time::now() + 1;
    let mut due = sso::due(&app.db, before, 100).await.unwrap();
    due.sort();
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(due, both, "listing the due accounts takes none of them");

    // A is taken just before its check; B stays free for any process meanwhile.
    let (identity, lease) = sso::take(&app.db, &a, before).await.unwrap().unwrap();
    assert_eq!(identity.user_id, a);
    assert!(lease >= keyport::domain::time::now() + sso::HOLD_SECONDS - 1);
    assert!(
        sso::take(&app.db, &a, before).await.unwrap().is_none(),
        "held"
    );
    assert_eq!(
        sso::due(&app.db, before, 100).await.unwrap(),
        vec![b.clone()]
    );
    assert!(sso::take(&app.db, &b, before).await.unwrap().is_some());

    // A's hold runs out before its check ends (as if taken longer ago than the hold), and
    // another process takes A: the late answer, vouching or refusing, is not used.
    let lease = keyport::domain::time::now() - 10;
    sqlx::query("update sso_identities set checking_until = $1 where user_id = $2")
        .bind(lease)
        .bind(&a)
        .execute(app.db.pool())
        .await
        .unwrap();
    let (_, other) = sso::take(&app.db, &a, before).await.unwrap().unwrap();
    assert_ne!(other, lease);
    assert!(
        !sso::vouched(&app.db, &a, lease, Some(b"late"))
            .await
            .unwrap()
    );
    assert_eq!(sso::renew(&app.db, &a, lease).await.unwrap(), None);
    sso::release(&app.db, &a, lease).await.unwrap();
    let now = sso::find(&app.db, &a).await.unwrap().unwrap();
    let held: i64 =
        sqlx::query_scalar("select checking_until from sso_identities where user_id = $1")
            .bind(&a)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(held, other, "a late release does not free another's hold");
    assert_eq!(now.refresh_token.as_deref(), Some(b"sealed".as_slice()));
    // The holder's answer is used.
    assert!(
        sso::vouched(&app.db, &a, other, Some(b"new"))
            .await
            .unwrap()
    );
    let now = sso::find(&app.db, &a).await.unwrap().unwrap();
    assert_eq!(now.refresh_token.as_deref(), Some(b"new".as_slice()));
}

#[tokio::test]
async fn sso_admin_enable_then_disable_of_a_refused_account_stays_disabled_at_the_next_sign_in() {
    let provider = Provider::start().await;
    let app = portal(&provider, |_| {}).await;
    let admin = app.admin().await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    let grace = app.user_id("grace@example.org").await;
    // The provider refused her account once (as a check does: disabled, then marked).
    keyport::db::users::set_disabled(&app.db, &grace, true)
        .await
        .unwrap();
    keyport::db::sso::set_suspended(&app.db, &grace, true)
        .await
        .unwrap();

    // An administrator enables her by hand, and later disables her by hand.
    let answer = admin
        .submit("/admin/users", &format!("/admin/users/{grace}/enable"), &[])
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let identity = keyport::db::sso::find(&app.db, &grace)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.suspended, 0, "no longer the provider's to enable");
    let answer = admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{grace}/disable"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);

    // Signing in at the provider does not undo the administrator's decision.
    let visitor = app.visitor();
    let callback = provider::round_trip(&provider, &visitor, GRACE.0, GRACE.1).await;
    super::refused(&visitor, &callback, "Your Keyport account is disabled").await;
    assert!(
        keyport::db::users::find(&app.db, &grace)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
}

#[tokio::test]
async fn sso_an_unverified_email_creates_no_account_even_in_an_allowed_domain() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| {
        config.sso.allowed_email_domains = vec!["example.org".into()];
    })
    .await;
    app.admin().await;
    // Alan's address is in the allowed domain, and not verified at the provider.
    let visitor = app.visitor();
    let callback = provider::round_trip(&provider, &visitor, super::ALAN.0, super::ALAN.1).await;
    super::refused(&visitor, &callback, "has not verified your email address").await;
    assert!(
        keyport::db::users::find_by_email(&app.db, "alan@example.org")
            .await
            .unwrap()
            .is_none()
    );
    // Verified there, the same sign-in creates it.
    provider
        .change_account(super::ALAN.0, serde_json::json!({"email_verified": true}))
        .await;
    sso_sign_in(&app, &provider, super::ALAN.0, super::ALAN.1).await;
    assert!(
        keyport::db::users::find_by_email(&app.db, "alan@example.org")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn sso_a_token_without_the_groups_claim_keeps_the_roles() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| {
        config.sso.recheck_seconds = 1;
        config.sso.admin_groups = vec!["keyport-admins".into()];
        config.sso.project_roles =
            vec![keyport::config::parse_project_role("team-leads=team:admin").unwrap()];
    })
    .await;
    let admin = app.admin().await;
    app.project(&admin, "team", crate::helpers::ADMIN_EMAIL)
        .await;
    provider
        .change_account(
            GRACE.0,
            serde_json::json!({"groups": ["keyport-admins", "team-leads"]}),
        )
        .await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    let id = app.user_id("grace@example.org").await;
    assert!(super::is_admin(&app, "grace@example.org").await);
    assert_eq!(
        super::role_in(&app, "team", "grace@example.org")
            .await
            .as_deref(),
        Some("admin")
    );

    // The provider's ID tokens leave the groups out from now on: the checks vouch for her and
    // take nothing away, nor does a sign-in.
    provider
        .change_account(GRACE.0, serde_json::json!({"groups": null}))
        .await;
    for _ in 0..2 {
        let before = keyport::db::sso::find(&app.db, &id).await.unwrap().unwrap();
        wait_until("the provider vouched again", async || {
            let now = keyport::db::sso::find(&app.db, &id).await.unwrap().unwrap();
            now.checked_at > before.checked_at
        })
        .await;
    }
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    assert!(super::is_admin(&app, "grace@example.org").await);
    assert_eq!(
        super::role_in(&app, "team", "grace@example.org")
            .await
            .as_deref(),
        Some("admin")
    );
    assert!(instance_events(&app, "user.demote").await.is_empty());
}

#[tokio::test]
async fn sso_a_member_removed_by_the_groups_flags_the_keys_they_saw() {
    let provider = Provider::start().await;
    let app = portal(&provider, |config| {
        config.sso.project_roles =
            vec![keyport::config::parse_project_role("team-leads=team:member").unwrap()];
    })
    .await;
    let team = crate::credentials::team(&app, "s3").await;
    provider
        .change_account(GRACE.0, serde_json::json!({"groups": ["team-leads"]}))
        .await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    let grace = app.user_id("grace@example.org").await;
    assert_eq!(
        super::role_in(&app, "team", "grace@example.org")
            .await
            .as_deref(),
        Some("member")
    );
    // The owner's key, which Grace showed after it was made.
    let owner = app.user_id(crate::helpers::ADMIN_EMAIL).await;
    let now = keyport::domain::time::now();
    sqlx::query(
        "insert into credentials (id, project_id, service_id, owner_user_id, name, access_key,
             secret, created_at, created_by)
         select 'seen-key', id, $1, $2, 'deploy', 'AKSEEN', $3, $4, 'seed' from projects where slug = 'team'",
    )
    .bind(&team.service)
    .bind(&owner)
    .bind(vec![0u8; 8])
    .bind(now - 60)
    .execute(app.db.pool())
    .await
    .unwrap();
    sqlx::query(
        "insert into audit_events (at, project_id, actor_id, actor, action, target, credential_id)
         select $1, project_id, $2, 'grace@example.org', 'credential.reveal', name, id
         from credentials where id = 'seen-key'",
    )
    .bind(now - 30)
    .bind(&grace)
    .execute(app.db.pool())
    .await
    .unwrap();

    // Out of the group at the provider: her next sign-in removes her, a departure as any other.
    provider
        .change_account(GRACE.0, serde_json::json!({"groups": []}))
        .await;
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
    assert_eq!(
        super::role_in(&app, "team", "grace@example.org").await,
        None
    );
    let flagged: Vec<String> =
        sqlx::query_scalar("select credential_id from departed_views where user_id = $1")
            .bind(&grace)
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert_eq!(flagged, ["seen-key"]);
    let removed: String = sqlx::query_scalar(
        "select detail from audit_events where action = 'member.remove' and target = 'grace@example.org'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(
        removed.contains("1 keys they saw flagged for rotation"),
        "{removed}"
    );
}

#[tokio::test]
async fn sso_an_answer_without_iss_from_a_provider_that_always_sends_it_is_refused() {
    let provider = Provider::start().await;
    let app = portal(&provider, |_| {}).await;
    app.admin().await;
    let without = |callback: &str, error: bool| {
        let mut url = url::Url::parse(callback).unwrap();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "iss" && (!error || k == "state"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut query = url.query_pairs_mut();
        query.clear().extend_pairs(kept);
        if error {
            query.append_pair("error", "access_denied");
        }
        drop(query);
        url.to_string()
    };
    // The provider's discovery says it names itself in every answer (RFC 9207).
    let visitor = app.visitor();
    let callback = provider::round_trip(&provider, &visitor, GRACE.0, GRACE.1).await;
    assert!(callback.contains("iss="), "{callback}");
    super::refused(&visitor, &without(&callback, false), "(iss)").await;
    // An error answer is judged by who sent it first.
    let visitor = app.visitor();
    let callback = provider::round_trip(&provider, &visitor, GRACE.0, GRACE.1).await;
    super::refused(&visitor, &without(&callback, true), "(iss)").await;
    let visitor = app.visitor();
    let callback = provider::round_trip(&provider, &visitor, GRACE.0, GRACE.1).await;
    let forged = format!(
        "{}&iss=https%3A%2F%2Fother.example",
        without(&callback, true)
    );
    super::refused(&visitor, &forged, "another provider").await;
    // The provider's own answer still signs in.
    sso_sign_in(&app, &provider, GRACE.0, GRACE.1).await;
}
