//! Who acts with which key: a member only with their own (a forged form field names another's
//! in vain), a viewer not at all, an admin with an app's key, a removed member not any more.

use reqwest::StatusCode;

use super::{Console, import_key, member, moto::moto_console};
use crate::{
    backends::Moto,
    helpers::{TestApp, attrs, csrf_token},
};

#[tokio::test]
async fn each_member_acts_with_their_own_key_only() {
    let (moto, key) = Moto::start().await;
    let app = TestApp::spawn().await;
    let owner = moto_console(&app, &moto, &key).await;
    owner.create("owners").await;

    let carol = member(&app, &owner.who, "carol@example.org", "member").await;
    let carols_key = import_key(&app, &carol, &owner.service, "key", "carols", &key, "me").await;
    let carol = Console {
        who: carol,
        service: owner.service.clone(),
        credential: carols_key.clone(),
    };
    // Carol's page offers her key only.
    let (status, page) = carol.buckets_page().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        attrs(&page, "select#credential option", "value"),
        std::slice::from_ref(&carols_key)
    );
    assert_eq!(carol.bucket_names().await, ["owners"]);

    // The owner's key named in a link or a forged form field is not found for Carol, and
    // nothing is done with it.
    let forged = Console {
        credential: owner.credential.clone(),
        who: carol.who,
        service: owner.service.clone(),
    };
    let (status, _) = forged.buckets_page().await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let token = csrf_token(&carol_page(&forged, &carols_key).await).unwrap();
    let base = forged.base();
    for (path, fields) in [
        ("", vec![("name", "forged")]),
        ("/owners/delete", vec![("confirm", "yes")]),
        (
            "/owners/objects/delete",
            vec![("confirm", "yes"), ("object", "x")],
        ),
        ("/owners/objects/download", vec![("object", "x")]),
    ] {
        let mut all = vec![
            ("csrf_token", token.as_str()),
            ("credential", owner.credential.as_str()),
        ];
        all.extend(fields);
        let response = forged.who.post(&format!("{base}{path}"), &all).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        owner.bucket_names().await,
        ["owners"],
        "nothing created or deleted"
    );
    assert!(super::audited(&app, "object.download").await.is_empty());

    // The owner (an admin) may not act with Carol's key either.
    let owner_forging = Console {
        credential: carols_key,
        who: owner.who,
        service: owner.service.clone(),
    };
    assert_eq!(owner_forging.buckets_page().await.0, StatusCode::NOT_FOUND);
}

async fn carol_page(console: &Console, own_key: &str) -> String {
    console
        .who
        .get_text(&format!("{}?credential={own_key}", console.base()))
        .await
        .1
}

#[tokio::test]
async fn viewers_do_not_act_and_removed_members_are_refused() {
    let (moto, key) = Moto::start().await;
    let app = TestApp::spawn().await;
    let owner = moto_console(&app, &moto, &key).await;
    owner.create("kept").await;

    let viewer = member(&app, &owner.who, "vic@example.org", "viewer").await;
    let (status, _) = viewer.get_text(&owner.base()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers hold no keys");
    let (_, project) = viewer.get_text("/projects/team").await;
    let token = csrf_token(&project).unwrap();
    let response = viewer
        .post(
            &owner.base(),
            &[
                ("csrf_token", &token),
                ("credential", &owner.credential),
                ("name", "by-viewer"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // An app's key: for admins acting for the app.
    let app_key = {
        owner
            .who
            .submit(
                "/projects/team/apps",
                "/projects/team/apps",
                &[("name", "backup")],
            )
            .await;
        let app_id: String = sqlx::query_scalar("select id from apps where name = 'backup'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        import_key(
            &app,
            &owner.who,
            &owner.service,
            "key",
            "backup key",
            &key,
            &format!("app:{app_id}"),
        )
        .await
    };
    let (_, page) = owner.buckets_page().await;
    let offered = attrs(&page, "select#credential option", "value");
    assert!(offered.contains(&app_key), "{offered:?}");
    let dave = member(&app, &owner.who, "dave@example.org", "member").await;
    let (status, _) = dave
        .get_text(&format!("{}?credential={app_key}", owner.base()))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "members do not act with app keys"
    );

    // Dave leaves the project: his session no longer reaches it.
    let daves_key = import_key(&app, &dave, &owner.service, "key", "daves", &key, "me").await;
    let dave_id = app.user_id("dave@example.org").await;
    let response = owner
        .who
        .submit(
            "/projects/team/members",
            &format!("/projects/team/members/{dave_id}/remove"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = dave
        .get_text(&format!("{}?credential={daves_key}", owner.base()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(owner.bucket_names().await, ["kept"]);
}
