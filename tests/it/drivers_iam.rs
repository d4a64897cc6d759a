//! The AWS IAM driver against moto's IAM (signatures and policies checked): Add, Regenerate and
//! Delete act at IAM, a real client works with the new key and IAM refuses the old one, and a
//! portal killed between an IAM call and its record agrees with IAM after restart.

use std::time::Duration;

use reqwest::StatusCode;

use crate::{
    backends::Moto,
    driven::{
        Driven, KilledRegeneration, add_then_kill_a_regeneration, arrange_iam, aws, aws_s3_ls,
        iam_access_keys, iam_portal, post_in_background, reveal, works,
    },
    helpers::{ADMIN_EMAIL, TestDb, input_value, notice, page_text, sign_in_as_admin},
    process::Server,
    secret_scan::{assert_not_stored, stored_bytes},
};

#[tokio::test]
async fn iam_add_regenerate_and_delete_act_at_the_backend() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;

    let (status, page) = portal.add("backup", "key").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let first = portal.key("backup").await;
    assert!(first.access_key.len() >= 16, "moto issued the key");
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &first)),
        "the new key works"
    );
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    assert!(user.starts_with("keyport-team-ada-"), "{user}");
    assert!(iam_access_keys(&moto, &admin_key, &user).contains(&first.access_key));

    let tested = portal.test("backup").await;
    assert!(tested.contains(": OK in"), "{tested}");
    let listing = portal.admin.get_text(&portal.page).await.1;
    assert!(
        listing.contains("backend: Active"),
        "status from ListAccessKeys"
    );

    let (id, _) = portal.credential("backup").await.unwrap();
    let confirm = portal
        .admin
        .get_text(&format!("/projects/team/credentials/{id}/regenerate"))
        .await
        .1;
    assert!(confirm.contains("no overlap") && confirm.contains("Add a second key first"));
    let notice = portal.confirm("backup", "regenerate").await;
    assert!(notice.contains("regenerated"), "{notice}");
    let second = portal.key("backup").await;
    assert_ne!(second.access_key, first.access_key, "a new key pair");
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &second)),
        "the new key works"
    );
    assert!(
        !works(&aws_s3_ls(&moto.url, "us-east-1", &first)),
        "the old key is refused"
    );
    let keys = iam_access_keys(&moto, &admin_key, &user);
    assert!(
        keys.contains(&second.access_key) && !keys.contains(&first.access_key),
        "{keys}"
    );

    portal.done("backup", "delete").await;
    assert!(portal.credential("backup").await.is_none());
    assert!(
        !works(&aws_s3_ls(&moto.url, "us-east-1", &second)),
        "the deleted key is refused"
    );
    assert!(!iam_access_keys(&moto, &admin_key, &user).contains(&second.access_key));
}

#[tokio::test]
async fn iam_limits_and_refusals_are_clear_and_change_nothing() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;
    assert_eq!(portal.add("one", "key").await.0, StatusCode::SEE_OTHER);
    assert_eq!(portal.add("two", "key").await.0, StatusCode::SEE_OTHER);
    // Keyport's limit is checked before the backend is called.
    let (status, page) = portal.add("three", "key").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("maximum of two credentials"), "limit message");

    // A key made outside Keyport fills IAM's own limit: IAM's LimitExceeded is shown.
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    portal.done("two", "delete").await;
    let args = [
        "--endpoint-url",
        &moto.url,
        "iam",
        "create-access-key",
        "--user-name",
        &user,
    ];
    assert!(
        works(&aws(&admin_key, "us-east-1", &args)),
        "a key made outside Keyport"
    );
    let (status, page) = portal.add("three", "key").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page_text(&page).contains("LimitExceeded"),
        "IAM's refusal is shown"
    );
    assert_eq!(
        portal.count("select count(*) from credentials").await,
        1,
        "nothing half-written"
    );

    // Reconcile shows the outside key as unmanaged; Revoke removes it at the backend.
    let reconcile = format!("{}/reconcile", portal.service_path);
    let html = portal.admin.get_text(&reconcile).await.1;
    let outside = iam_access_keys(&moto, &admin_key, &user);
    let (_, key_one) = portal.credential("one").await.unwrap();
    let unmanaged: Vec<&str> = outside
        .split('"')
        .filter(|s| s.starts_with("AKIA") && *s != key_one)
        .collect();
    assert_eq!(unmanaged.len(), 1, "{outside}");
    assert!(html.contains(unmanaged[0]), "the outside key is listed");
    // Without the page's script, Revoke asks on a page of its own first.
    let response = portal
        .admin
        .submit(
            &reconcile,
            &format!("{reconcile}/key"),
            &[("access_key", unmanaged[0]), ("action", "revoke")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let asked = response.text().await.unwrap();
    assert!(asked.contains(&format!("Revoke {} at the backend?", unmanaged[0])));
    assert!(asked.contains("name=\"confirm\" value=\"yes\""));
    assert!(iam_access_keys(&moto, &admin_key, &user).contains(unmanaged[0]));
    let response = portal
        .admin
        .submit(
            &reconcile,
            &format!("{reconcile}/key"),
            &[
                ("access_key", unmanaged[0]),
                ("action", "revoke"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(!iam_access_keys(&moto, &admin_key, &user).contains(unmanaged[0]));

    // The backend goes away: a clear message, and nothing changes in Keyport.
    drop(moto);
    let before = portal.key("one").await;
    let notice = portal.confirm("one", "regenerate").await;
    assert!(
        notice.contains("Nothing was changed") && notice.contains("could not be reached"),
        "{notice}"
    );
    assert_eq!(
        portal.key("one").await.secret,
        before.secret,
        "the secret stays"
    );
    let notice = portal.confirm("one", "delete").await;
    assert!(notice.contains("Nothing was changed"), "{notice}");
    assert!(
        portal.credential("one").await.is_some(),
        "the credential stays"
    );
    let tested = portal.test("one").await;
    assert!(tested.contains("unreachable"), "{tested}");
}

#[tokio::test]
async fn an_owner_can_be_linked_to_an_existing_iam_user() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;
    let owner = format!("user:{}", portal.app.user_id(ADMIN_EMAIL).await);
    let backend = format!("{}/backend", portal.service_path);
    let link = |name: &'static str| {
        let owner = owner.clone();
        let backend = backend.clone();
        let admin = &portal.admin;
        async move {
            let response = admin
                .submit(
                    &backend,
                    &format!("{backend}/link"),
                    &[("owner", &owner), ("backend_name", name)],
                )
                .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            notice(&admin.get_text(&backend).await.1)
        }
    };
    let refused = link("nobody-here").await;
    assert!(
        refused.contains("no IAM user named nobody-here"),
        "{refused}"
    );
    // `tester` is the user of Keyport's admin key: never an owner's.
    let refused = link("tester").await;
    assert!(refused.contains("own admin user"), "{refused}");
    let args = [
        "--endpoint-url",
        &moto.url,
        "iam",
        "create-user",
        "--user-name",
        "existing",
    ];
    assert!(
        works(&aws(&admin_key, "us-east-1", &args)),
        "a user made outside Keyport"
    );
    let linked = link("existing").await;
    assert!(linked.contains("Linked"), "{linked}");
    assert_eq!(portal.add("linked", "key").await.0, StatusCode::SEE_OTHER);
    let key = portal.key("linked").await;
    assert!(iam_access_keys(&moto, &admin_key, "existing").contains(&key.access_key));
    let relink = link("").await;
    assert!(
        relink.contains("Nothing was changed"),
        "an owner with keys stays linked"
    );
}

#[tokio::test]
async fn a_backend_that_does_not_answer_in_time_leaves_the_change_to_reconcile() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;
    // The owner's IAM user exists; then IAM stops answering (accepts, never replies).
    assert_eq!(portal.add("first", "key").await.0, StatusCode::SEE_OTHER);
    portal.done("first", "delete").await;
    let address = moto.url.trim_start_matches("http://").to_string();
    drop(moto);
    let listener = std::net::TcpListener::bind(&address).unwrap();
    let _hanging = std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(120));
        drop(held);
    });
    let (status, page) = portal.add("second", "key").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = page_text(&page);
    assert!(
        page.contains("did not answer in time; it may have acted"),
        "{page}"
    );
    assert!(!page.contains("Nothing was changed"));
    let state: String = sqlx::query_scalar("select state from credentials where name = 'second'")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    assert_eq!(state, "creating", "left for reconcile, not forgotten");
    let listing = portal.admin.get_text(&portal.page).await.1;
    assert!(
        !listing.contains("second"),
        "a key that may not work is not shown"
    );
}

#[tokio::test]
async fn wrong_backend_settings_are_not_saved() {
    let (moto, admin_key) = Moto::start().await;
    let portal = Driven::new("s3", "", &[]).await;
    let (status, page) = portal
        .set_backend(&[
            ("driver", "aws_iam"),
            ("endpoint", &moto.url),
            ("region", "us-east-1"),
            ("access_key", &admin_key.access_key),
            ("secret_key", "not-the-secret"),
        ])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page_text(&page).contains("refused Keyport's admin key"),
        "{page}"
    );
    assert_eq!(
        input_value(&page, "access_key").as_deref(),
        Some(admin_key.access_key.as_str()),
        "what was typed is kept"
    );
    assert_eq!(
        input_value(&page, "secret_key")
            .as_deref()
            .unwrap_or_default(),
        "",
        "but never a secret"
    );
    assert!(!page.contains("not-the-secret"), "but never a secret");
    let driver: String = sqlx::query_scalar("select driver from services")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    assert_eq!(driver, "stored");
    let (status, page) = portal.set_backend(&[("driver", "keystone")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Keystone is for OpenStack services"));

    // A saved secret is kept when left empty, but never sent to another endpoint.
    let (status, _) = portal.set_backend(&moto.iam_settings(&admin_key, "")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Another endpoint that would take any connection: it must see none.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let elsewhere_url = format!("http://{}/", elsewhere.local_addr().unwrap());
    let mut fields = moto.iam_settings(&admin_key, "");
    fields.retain(|(name, _)| *name != "secret_key");
    let (status, shown) = portal.set_backend(&fields).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the same endpoint keeps the secret: {shown}"
    );
    fields.retain(|(name, _)| *name != "endpoint");
    fields.push(("endpoint", &elsewhere_url));
    let (status, page) = portal.set_backend(&fields).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page_text(&page).contains("Enter the secret again"),
        "{page}"
    );
    // The portal has answered, so any connection it made is already in the listener's queue.
    match elsewhere.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => panic!("the other endpoint's listener failed: {e}"),
        Ok((mut stream, from)) => {
            use std::io::Read;
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut request = Vec::new();
            let _ = stream.read_to_end(&mut request);
            panic!(
                "the portal connected to the other endpoint from {from} and sent: {}",
                String::from_utf8_lossy(&request)
            );
        }
    }
    let backend = format!("{}/backend", portal.service_path);
    let saved = portal.admin.get_text(&backend).await.1;
    assert_eq!(
        input_value(&saved, "endpoint").as_deref(),
        Some(moto.url.as_str()),
        "the other endpoint was not saved"
    );
}

#[tokio::test]
async fn a_portal_killed_between_intent_and_outcome_agrees_with_the_backend_after_restart() {
    let (moto, admin_key) = Moto::start().await;
    let db = TestDb::new().await;

    // The first add goes through; the second is killed after IAM issued its key.
    let server = Server::start(
        &db,
        &[
            ("KEYPORT_FAILPOINT", "after-issue"),
            ("KEYPORT_LOG", "debug"),
        ],
    )
    .await;
    let (admin, page) = arrange_iam(&server, &moto, &admin_key).await;
    let service = page.rsplit('=').next().unwrap().to_string();
    let pending = post_in_background(
        &admin,
        &page,
        "/projects/team/credentials",
        &[
            ("service_id", &service),
            ("name", "interrupted"),
            ("mode", "generate"),
        ],
    )
    .await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(
        pending.await.unwrap().is_err(),
        "the request died with the portal"
    );

    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    let state: String = sqlx::query_scalar("select state from credentials")
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(state, "creating", "the intent was recorded");
    let at_backend = iam_access_keys(&moto, &admin_key, &user);
    assert!(
        at_backend.contains("AKIA"),
        "IAM issued a key Keyport never recorded: {at_backend}"
    );

    // The next start reconciles: the key nobody holds is revoked, the half-made row is gone.
    let server = Server::start(&db, &[("KEYPORT_LOG", "debug")]).await;
    server
        .wait_for_log("reconciled an interrupted operation")
        .await;
    assert!(
        !iam_access_keys(&moto, &admin_key, &user).contains("AKIA"),
        "no unknown key left"
    );
    let rows: i64 = sqlx::query_scalar("select count(*) from credentials")
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0, "no credential that does not work");

    // And the portal goes on: an add now works end to end.
    let admin = server.visitor();
    sign_in_as_admin(&admin).await;
    let response = admin
        .submit(
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", &service),
                ("name", "after"),
                ("mode", "generate"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(iam_access_keys(&moto, &admin_key, &user).contains("AKIA"));
    keyport.close().await;
    drop(server);

    // Keyport's admin secret for IAM is in no server log (written at debug), and only sealed in
    // the database.
    let mut blobs = stored_bytes(&db).await;
    let mut logs = 0;
    for entry in std::fs::read_dir(db.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let log = std::fs::read(&path).unwrap();
            assert!(
                String::from_utf8_lossy(&log).contains("DEBUG"),
                "{} was written at debug",
                path.display()
            );
            blobs.push((path.display().to_string(), log));
            logs += 1;
        }
    }
    assert_eq!(logs, 2, "both server logs are scanned");
    assert_not_stored(&blobs, &admin_key.secret, "the IAM admin secret");
}

#[tokio::test]
async fn a_delete_killed_after_iam_revoked_the_key_is_finished_after_restart() {
    let (moto, admin_key) = Moto::start().await;
    let db = TestDb::new().await;
    let server = Server::start(&db, &[("KEYPORT_FAILPOINT", "after-revoke")]).await;
    let (admin, page) = arrange_iam(&server, &moto, &admin_key).await;
    let service = page.rsplit('=').next().unwrap().to_string();
    let response = admin
        .submit(
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", &service),
                ("name", "doomed"),
                ("mode", "generate"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the add is done");
    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    let (id, access_key): (String, String) =
        sqlx::query_as("select id, access_key from credentials where name = 'doomed'")
            .fetch_one(keyport.pool())
            .await
            .unwrap();
    let key = crate::backends::S3Key {
        access_key: access_key.clone(),
        secret: reveal(&admin, &page, &id).await,
    };
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &key)),
        "the key works before the delete"
    );
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(keyport.pool())
        .await
        .unwrap();

    // The delete stops after IAM revoked the key, before the row is dropped.
    let delete = format!("/projects/team/credentials/{id}/delete");
    let pending = post_in_background(&admin, &delete, &delete, &[("confirm", "yes")]).await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(
        pending.await.unwrap().is_err(),
        "the request died with the portal"
    );
    let state: String = sqlx::query_scalar("select state from credentials where id = $1")
        .bind(&id)
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(
        state, "deleting",
        "the intent was recorded, the row is still there"
    );
    assert!(
        !iam_access_keys(&moto, &admin_key, &user).contains(&access_key),
        "IAM had revoked the key"
    );

    // The next start finishes the delete: the row goes, and the key stays refused.
    let server = Server::start(&db, &[]).await;
    server
        .wait_for_log("reconciled an interrupted operation")
        .await;
    let rows: i64 = sqlx::query_scalar("select count(*) from credentials where id = $1")
        .bind(&id)
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0, "the half-deleted credential is gone");
    assert!(
        !works(&aws_s3_ls(&moto.url, "us-east-1", &key)),
        "moto refuses the deleted key"
    );
    let admin = server.visitor();
    sign_in_as_admin(&admin).await;
    let listing = admin.get_text(&page).await.1;
    assert!(
        crate::credentials::credential_ids(&listing).is_empty(),
        "the portal lists no credential"
    );
    keyport.close().await;
}

/// The audit events of the credential `name`'s project, oldest first: (actor, action, detail).
async fn audit_events(db: &keyport::db::Db, name: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "select actor, action, detail from audit_events
         where target like '%/ ' || $1 order by id",
    )
    .bind(name)
    .fetch_all(db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_regeneration_killed_before_the_old_key_is_revoked_keeps_who_asked_in_the_audit_log() {
    let (moto, admin_key) = Moto::start().await;
    let db = TestDb::new().await;
    // Stops after the new key is recorded, before IAM is asked to delete the old one.
    let server = Server::start(&db, &[("KEYPORT_FAILPOINT", "after-record")]).await;
    let (admin, page) = arrange_iam(&server, &moto, &admin_key).await;
    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    let KilledRegeneration {
        id: _,
        old_key,
        new_key,
        backend_user: user,
    } = add_then_kill_a_regeneration(server, &keyport, &admin, &page, "rotated").await;
    let regenerations = |events: &[(String, String, String)]| -> Vec<(String, String)> {
        events
            .iter()
            .filter(|(_, action, _)| action == "credential.regenerate")
            .map(|(actor, _, detail)| (actor.clone(), detail.clone()))
            .collect()
    };
    let expected = vec![(
        ADMIN_EMAIL.to_string(),
        format!("{new_key} replaced {old_key}"),
    )];
    let events = audit_events(&keyport, "rotated").await;
    assert_eq!(
        regenerations(&events),
        expected,
        "the regeneration is in the log, in the name of who asked, with both keys: {events:?}"
    );

    // The next start revokes the old key; the log still names the member once, and says who
    // finished the rest.
    let server = Server::start(&db, &[]).await;
    server
        .wait_for_log("reconciled an interrupted operation")
        .await;
    let at_backend = iam_access_keys(&moto, &admin_key, &user);
    assert!(
        !at_backend.contains(&old_key),
        "IAM no longer holds the old key"
    );
    assert!(at_backend.contains(&new_key), "IAM holds the new key");
    let events = audit_events(&keyport, "rotated").await;
    assert_eq!(regenerations(&events), expected, "{events:?}");
    assert!(
        events
            .iter()
            .any(|(actor, action, detail)| actor == "keyport (reconcile)"
                && action == "credential.reconcile"
                && detail == &format!("finished: {old_key} revoked")),
        "{events:?}"
    );
    drop(server);
    keyport.close().await;
}

#[tokio::test]
async fn a_hanging_iam_does_not_hold_the_page_which_shows_the_last_known_key_status() {
    let (moto, admin_key) = Moto::start().await;
    let portal = iam_portal(&moto, &admin_key).await;
    let (status, page) = portal.add("backup", "key").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let listing = portal.admin.get_text(&portal.page).await.1;
    assert!(listing.contains("backend: Active"), "status from IAM");
    assert!(
        !listing.contains("as of"),
        "a current status has no age note"
    );
    // Regenerate, without looking at the page after it: the status known is from before.
    let (id, _) = portal.credential("backup").await.unwrap();
    let path = format!("/projects/team/credentials/{id}/regenerate");
    let response = portal
        .admin
        .submit(&path, &path, &[("confirm", "yes")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // IAM hangs: the page answers after a short wait, with what IAM said before and its age.
    moto.pause();
    let started = std::time::Instant::now();
    let (status, listing) = portal.admin.get_text(&portal.page).await;
    let waited = started.elapsed();
    moto.resume();
    assert_eq!(status, StatusCode::OK);
    assert!(
        page_text(&listing).contains("The key status shown is the backend's as of"),
        "{}",
        page_text(&listing)
    );
    assert!(
        waited < Duration::from_millis(2500),
        "the page did not wait for IAM's own timeout: {waited:?}"
    );

    // Once IAM answers again, the status is current: the new key is active at IAM.
    let started = std::time::Instant::now();
    loop {
        let listing = portal.admin.get_text(&portal.page).await.1;
        if listing.contains("backend: Active") && !listing.contains("as of") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the status comes back: {}",
            page_text(&listing)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
