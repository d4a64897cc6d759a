//! The Keystone driver against the test Keystone + Swift: passwords and EC2 pairs rotate at
//! Keystone, a real client (`swift`, `aws`) works with the new secret and the old one is refused,
//! and a regeneration killed at Keystone is finished after restart.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::{
    backends::{OpenStack, S3Key},
    driven::{arrange, aws_s3_ls, keystone_portal, post_in_background, reveal, swift_list, works},
    helpers::{TestDb, notice, sign_in_as_admin},
    process::Server,
};

#[tokio::test]
async fn keystone_passwords_and_ec2_pairs_rotate_at_keystone() {
    let stack = OpenStack::get();
    let os_user = stack.create_user().await;
    let project = os_user.project.clone();
    let portal = keystone_portal(&stack, &project).await;

    // "Import endpoints" reads Keystone's catalog.
    let import = format!("{}/backend/import-endpoints", portal.service_path);
    let response = portal
        .admin
        .submit(&format!("{}/backend", portal.service_path), &import, &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let service_page = portal.admin.get_text(&portal.service_path).await.1;
    assert!(
        notice(&service_page).contains("Imported"),
        "{}",
        notice(&service_page)
    );
    assert!(
        service_page.contains(&stack.swift_url),
        "Swift's endpoint is imported"
    );

    // The password: Add creates the user, Regenerate changes the password at Keystone.
    let (status, page) = portal.add("login", "key").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let first = portal.key("login").await;
    assert!(first.access_key.starts_with("keyport-team-ada-"));
    assert!(
        works(&swift_list(
            &stack,
            &first.access_key,
            &first.secret,
            &project
        )),
        "swift list"
    );
    let tested = portal.test("login").await;
    assert!(tested.contains(": OK in"), "{tested}");
    portal.done("login", "regenerate").await;
    let second = portal.key("login").await;
    assert_eq!(second.access_key, first.access_key, "the user stays");
    assert_ne!(second.secret, first.secret);
    assert!(
        !works(&swift_list(
            &stack,
            &first.access_key,
            &first.secret,
            &project
        )),
        "old password refused"
    );
    // Keystone refuses tokens issued within a second of a password change; under load the
    // refusal may reach a little further, so the new password is tried until a deadline.
    let deadline = Instant::now() + Duration::from_secs(15);
    let new_password_works = loop {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let listed = works(&swift_list(
            &stack,
            &second.access_key,
            &second.secret,
            &project,
        ));
        if listed || Instant::now() > deadline {
            break listed;
        }
    };
    assert!(new_password_works, "new password works");

    // A second password credential for the same user would overwrite the first.
    let (status, page) = portal.add("login two", "key").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("already has its password"), "clear refusal");

    // EC2 pairs: Add creates one at Keystone, Regenerate replaces it, Delete revokes it.
    let s3 = stack.swift_url.as_str();
    let region = stack.s3_region.as_str();
    assert_eq!(portal.add("s3", "ec2").await.0, StatusCode::SEE_OTHER);
    // The catalog's Swift endpoint says RegionOne; the new pair asked the s3api for its own.
    let s3_region: String =
        sqlx::query_scalar("select s3_region from endpoints where interface = 'public'")
            .fetch_one(portal.app.db.pool())
            .await
            .unwrap();
    assert_eq!(s3_region, stack.s3_region, "learned when the pair was made");
    let pair = portal.key("s3").await;
    assert!(
        works(&aws_s3_ls(s3, region, &pair)),
        "the EC2 pair works through s3api"
    );
    portal.done("s3", "regenerate").await;
    let new_pair = portal.key("s3").await;
    assert_ne!(new_pair.access_key, pair.access_key);
    assert!(
        !works(&aws_s3_ls(s3, region, &pair)),
        "the old pair is refused at once"
    );
    assert!(
        works(&aws_s3_ls(s3, region, &new_pair)),
        "the new pair works"
    );
    portal.done("s3", "delete").await;
    assert!(
        !works(&aws_s3_ls(s3, region, &new_pair)),
        "the deleted pair is refused at once"
    );

    // A pair made outside Keyport shows on Reconcile, and Adopt takes it in.
    let backend_id: String = sqlx::query_scalar("select backend_id from backend_users")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    let outside = stack.create_ec2_for(&backend_id, &os_user.project_id).await;
    let reconcile = format!("{}/reconcile", portal.service_path);
    let html = portal.admin.get_text(&reconcile).await.1;
    assert!(
        html.contains(&outside.access_key),
        "the outside pair is listed"
    );
    let response = portal
        .admin
        .submit(
            &reconcile,
            &format!("{reconcile}/key"),
            &[("access_key", &outside.access_key), ("action", "adopt")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let adopted = portal.key(&format!("adopted {}", outside.access_key)).await;
    assert_eq!(
        adopted.secret, outside.secret,
        "Keystone's secret was taken in"
    );
    let html = portal.admin.get_text(&reconcile).await.1;
    assert!(!html.contains(&outside.access_key), "no longer unmanaged");

    // Deleting the password credential makes the password stop working.
    portal.done("login", "delete").await;
    assert!(!works(&swift_list(
        &stack,
        &second.access_key,
        &second.secret,
        &project
    )));
}

#[tokio::test]
async fn a_regeneration_killed_at_keystone_is_finished_after_restart() {
    let stack = OpenStack::get();
    let project = stack.create_user().await.project;
    let db = TestDb::new().await;
    let server = Server::start(&db, &[("KEYPORT_FAILPOINT", "after-issue")]).await;
    let (admin, page) = arrange(
        &server,
        "openstack",
        &project,
        ["Loopback", &stack.region, "public", &stack.swift_url],
        &stack.keystone_settings(),
    )
    .await;
    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    // The add stops after Keystone made the pair; Keyport had recorded the pair it chose.
    let service = page.rsplit('=').next().unwrap().to_string();
    let pending = post_in_background(
        &admin,
        &page,
        "/projects/team/credentials",
        &[
            ("service_id", &service),
            ("name", "s3"),
            ("kind", "ec2"),
            ("mode", "generate"),
        ],
    )
    .await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(pending.await.unwrap().is_err());
    let (id, old_access): (String, String) =
        sqlx::query_as("select id, access_key from credentials where state = 'creating'")
            .fetch_one(keyport.pool())
            .await
            .unwrap();

    // Restarted with the failpoint still set: reconcile finishes the add (the pair works), then
    // a regeneration is killed after Keystone made the new pair.
    let server = Server::start(&db, &[("KEYPORT_FAILPOINT", "after-issue")]).await;
    server
        .wait_for_log("reconciled an interrupted operation")
        .await;
    let state: String = sqlx::query_scalar("select state from credentials where id = $1")
        .bind(&id)
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(state, "active", "the add was finished, not lost");
    let admin = server.visitor();
    sign_in_as_admin(&admin).await;
    let region = stack.s3_region.as_str();
    let old_key = S3Key {
        access_key: old_access.clone(),
        secret: reveal(&admin, &page, &id).await,
    };
    assert!(
        works(&aws_s3_ls(&stack.swift_url, region, &old_key)),
        "the added pair works"
    );
    let regenerate = format!("/projects/team/credentials/{id}/regenerate");
    let pending = post_in_background(&admin, &regenerate, &regenerate, &[("confirm", "yes")]).await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(pending.await.unwrap().is_err());
    let (state, new_access): (String, String) =
        sqlx::query_as("select state, pending_access_key from credentials where id = $1")
            .bind(&id)
            .fetch_one(keyport.pool())
            .await
            .unwrap();
    assert_eq!(state, "rotating", "the intent was recorded");
    assert_ne!(new_access, old_access);

    // After restart the new pair is in place, and the old one is revoked at Keystone.
    let server = Server::start(&db, &[]).await;
    server
        .wait_for_log("reconciled an interrupted operation")
        .await;
    let (state, access): (String, String) =
        sqlx::query_as("select state, access_key from credentials where id = $1")
            .bind(&id)
            .fetch_one(keyport.pool())
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), access.as_str()),
        ("active", new_access.as_str())
    );
    let admin = server.visitor();
    sign_in_as_admin(&admin).await;
    let new_key = S3Key {
        access_key: new_access,
        secret: reveal(&admin, &page, &id).await,
    };
    assert!(
        works(&aws_s3_ls(&stack.swift_url, region, &new_key)),
        "the new pair works"
    );
    assert!(
        !works(&aws_s3_ls(&stack.swift_url, region, &old_key)),
        "the old pair is refused"
    );
    keyport.close().await;
}
