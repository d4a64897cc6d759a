//! Offboarding: removing a member shows the keys they hold and the keys of others they saw
//! (from the audit log, seeded here), revokes their own keys at the backend (moto's IAM, which
//! then refuses them), and flags the others "rotate: seen by a departed member" on View
//! Credentials and the health page until Regenerate; disabling a user shows and flags the same.

use reqwest::StatusCode;

use crate::{
    backends::{Moto, S3Key},
    driven::{Driven, aws_s3_ls, iam_portal, reveal, works},
    helpers::{TestApp, Visitor, attrs, location, notice},
};

/// `who` adds a key named `name` at the service's backend.
async fn add_key(portal: &Driven, who: &Visitor, name: &str) {
    let response = who
        .submit(
            &portal.page,
            "/projects/team/credentials",
            &[
                ("service_id", portal.service_id()),
                ("name", name),
                ("kind", "key"),
                ("mode", "generate"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name} is added");
}

/// Records in the audit log that `user_id` showed credential `id` `seconds_ago`, and makes the
/// credential `age` seconds old: a seeded history.
async fn seed_reveal(app: &TestApp, user_id: &str, id: &str, seconds_ago: i64, age: i64) {
    let now = keyport::domain::time::now();
    sqlx::query("update credentials set created_at = $1 where id = $2")
        .bind(now - age)
        .bind(id)
        .execute(app.db.pool())
        .await
        .unwrap();
    sqlx::query(
        "insert into audit_events (at, project_id, actor_id, actor, action, target, credential_id)
         select $1, project_id, $2, 'bob@example.org', 'credential.reveal', name, id from credentials where id = $3",
    )
    .bind(now - seconds_ago)
    .bind(user_id)
    .bind(id)
    .execute(app.db.pool())
    .await
    .unwrap();
}

fn listed(html: &str, list: &str) -> Vec<String> {
    attrs(html, &format!("ul#{list} li"), "data-credential")
}

/// The keys of the page with the departed-member flag.
fn flagged(html: &str) -> Vec<String> {
    let page = scraper::Html::parse_document(html);
    let cards = scraper::Selector::parse("article.credential[id^=credential-]").unwrap();
    let flag = scraper::Selector::parse("[data-flag=seen-by-departed]").unwrap();
    page.select(&cards)
        .filter(|card| card.select(&flag).next().is_some())
        .filter_map(|card| card.value().attr("id").map(str::to_string))
        .collect()
}

#[tokio::test]
async fn offboarding_lists_held_and_seen_keys_revokes_at_iam_and_flags_until_regenerated() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;
    let app = &portal.app;
    let bob = app.user("bob@example.org", "Bob").await;
    let added = portal
        .admin
        .submit(
            "/projects/team/members",
            "/projects/team/members",
            &[("email", "bob@example.org"), ("role", "member")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let bob_id = app.user_id("bob@example.org").await;
    add_key(&portal, &bob, "bob-key").await;
    add_key(&portal, &portal.admin, "deploy").await;
    add_key(&portal, &portal.admin, "rotated-since").await;
    let (bob_key_id, bob_access) = portal.credential("bob-key").await.unwrap();
    let bob_key = S3Key {
        access_key: bob_access,
        secret: reveal(&bob, &portal.page, &bob_key_id).await,
    };
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &bob_key)),
        "Bob's key works at IAM"
    );
    // Bob saw "deploy" after its last change, and "rotated-since" only before it.
    let (deploy, _) = portal.credential("deploy").await.unwrap();
    let (rotated, _) = portal.credential("rotated-since").await.unwrap();
    seed_reveal(app, &bob_id, &deploy, 50, 100).await;
    seed_reveal(app, &bob_id, &rotated, 200, 100).await;

    let remove = format!("/projects/team/members/{bob_id}/remove");
    let (status, confirmation) = {
        let answer = portal
            .admin
            .submit("/projects/team/members", &remove, &[])
            .await;
        (answer.status(), answer.text().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK, "{confirmation}");
    assert_eq!(
        listed(&confirmation, "held"),
        std::slice::from_ref(&bob_key_id)
    );
    assert_eq!(listed(&confirmation, "seen"), std::slice::from_ref(&deploy));

    let answer = portal
        .admin
        .submit(
            "/projects/team/members",
            &remove,
            &[("confirm", "yes"), ("revoke", "now")],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let said = notice(&portal.admin.get_text(&location(&answer)).await.1);
    assert!(
        said.contains("Revoked at the backend and deleted: Storage / bob-key"),
        "{said}"
    );
    assert!(
        said.contains("1 key(s) of others they saw are flagged"),
        "{said}"
    );
    assert!(portal.credential("bob-key").await.is_none());
    assert!(
        !works(&aws_s3_ls(&moto.url, "us-east-1", &bob_key)),
        "IAM refuses Bob's revoked key"
    );

    let (_, page) = portal.admin.get_text(&portal.page).await;
    assert_eq!(flagged(&page), [format!("credential-{deploy}")]);
    let (_, health) = portal
        .admin
        .get_text("/projects/team/health?flag=seen-by-departed")
        .await;
    let rows = attrs(&health, "td [data-flag=seen-by-departed]", "data-flag");
    assert_eq!(rows.len(), 1, "{health}");

    // IAM allows two keys a user: Regenerate needs room for the new one.
    portal.done("rotated-since", "delete").await;
    portal.done("deploy", "regenerate").await;
    let (_, page) = portal.admin.get_text(&portal.page).await;
    assert!(flagged(&page).is_empty(), "Regenerate clears the flag");
    let (_, health) = portal
        .admin
        .get_text("/projects/team/health?flag=seen-by-departed")
        .await;
    assert!(attrs(&health, "td [data-flag=seen-by-departed]", "data-flag").is_empty());

    let offboard: Vec<(String, String)> =
        sqlx::query_as("select target, detail from audit_events where action = 'member.offboard'")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert_eq!(
        offboard,
        [(
            "bob@example.org".to_string(),
            "1 of their keys revoked, 0 left; 1 keys they saw flagged for rotation".to_string()
        )]
    );
}

#[tokio::test]
async fn offboarding_disabling_a_user_lists_their_keys_and_flags_the_keys_they_saw() {
    let portal = Driven::new("s3", "", &[]).await;
    let app = &portal.app;
    let bob = app.user("bob@example.org", "Bob").await;
    portal
        .admin
        .submit(
            "/projects/team/members",
            "/projects/team/members",
            &[("email", "bob@example.org"), ("role", "member")],
        )
        .await;
    let bob_id = app.user_id("bob@example.org").await;
    for (who, name) in [(&bob, "bob-key"), (&portal.admin, "shared")] {
        let fields = [("service_id", portal.service_id()), ("name", name)];
        let answer = who
            .submit(&portal.page, "/projects/team/credentials", &fields)
            .await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{name} is added");
    }
    let (bob_key, _) = portal.credential("bob-key").await.unwrap();
    let (shared, _) = portal.credential("shared").await.unwrap();
    seed_reveal(app, &bob_id, &shared, 10, 100).await;

    let disable = format!("/admin/users/{bob_id}/disable");
    let answer = portal.admin.submit("/admin/users", &disable, &[]).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let html = answer.text().await.unwrap();
    assert_eq!(
        attrs(&html, "ul.departure-keys li", "data-credential"),
        [bob_key, shared.clone()]
    );
    let answer = portal
        .admin
        .submit("/admin/users", &disable, &[("confirm", "yes")])
        .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let (_, page) = portal.admin.get_text(&portal.page).await;
    assert_eq!(flagged(&page), [format!("credential-{shared}")]);
}
