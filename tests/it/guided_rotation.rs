//! Guided rotation in two keys, end to end: a stored key (Keyport only), an IAM key against
//! moto with the AWS CLI, abandon at each step, a portal killed inside each step and started
//! again, and two people pressing the same step at once.

use reqwest::StatusCode;

use crate::{
    backends::{Moto, S3Key},
    driven::{
        Driven, arrange_iam, aws, aws_s3_ls, iam_access_keys, iam_portal, post_in_background,
        reveal, works,
    },
    helpers::{TestDb, Visitor, csrf_token, location, notice, page_text, sign_in_as_admin},
    process::Server,
};

/// The rotation page of credential `id`.
pub fn rotation_path(id: &str) -> String {
    format!("/projects/team/credentials/{id}/rotation")
}

/// Presses a rotation step's button (`""` for step 1, `quiet`, `deactivate`, `reactivate`,
/// `delete-old`, `abandon`) on the rotation page of `id`; returns the status and the notice of
/// the page it leads to (or the page itself when it does not lead on).
pub async fn press(
    visitor: &Visitor,
    id: &str,
    step: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let page = rotation_path(id);
    let action = if step.is_empty() {
        page.clone()
    } else {
        format!("{page}/{step}")
    };
    let response = visitor.submit(&page, &action, fields).await;
    let status = response.status();
    if status == StatusCode::SEE_OTHER {
        let next = visitor.get_text(&location(&response)).await.1;
        (status, notice(&next))
    } else {
        (status, response.text().await.unwrap())
    }
}

/// The rotation of `old_id`: its step and its second key's credential id, if there is one.
async fn rotation_row(db: &keyport::db::Db, old_id: &str) -> Option<(String, String)> {
    sqlx::query_as("select step, new_credential_id from rotations where credential_id = $1")
        .bind(old_id)
        .fetch_optional(db.pool())
        .await
        .unwrap()
}

async fn scalar(db: &keyport::db::Db, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// The access key, name and enabled flag of credential `id`, if it exists.
async fn credential_row(db: &keyport::db::Db, id: &str) -> Option<(String, String, i64)> {
    sqlx::query_as("select access_key, name, enabled from credentials where id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .unwrap()
}

/// The rotation steps the audit log holds for the credential named `name`, oldest first.
async fn rotation_events(db: &keyport::db::Db, name: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select detail from audit_events
         where action = 'credential.rotation' and target like '%/ ' || $1 order by id",
    )
    .bind(name)
    .fetch_all(db.pool())
    .await
    .unwrap()
}

/// `aws iam list-access-keys` for `user` says `access_key` has `status`.
fn iam_status(moto: &Moto, admin: &S3Key, user: &str, access_key: &str) -> Option<String> {
    let listed: serde_json::Value =
        serde_json::from_str(&iam_access_keys(moto, admin, user)).unwrap();
    listed["AccessKeyMetadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["AccessKeyId"] == access_key)
        .map(|k| k["Status"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn guided_rotation_of_a_stored_key_changes_nothing_at_the_provider_and_says_so() {
    let portal = Driven::new(
        "s3",
        "",
        &[["Loopback", "us-east-1", "public", "https://s3.example.test"]],
    )
    .await;
    let db = &portal.app.db;
    let (status, page) = portal.add("backup", "key").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let (old_id, old_key) = portal.credential("backup").await.unwrap();
    let path = rotation_path(&old_id);

    // View Credentials offers the guided rotation in Regenerate's dialog, and Regenerate's
    // page (without JavaScript) does too.
    let listing = portal.admin.get_text(&portal.page).await.1;
    assert!(
        listing.contains("Rotate with two keys instead"),
        "{listing}"
    );
    let regenerate = portal
        .admin
        .get_text(&format!("/projects/team/credentials/{old_id}/regenerate"))
        .await
        .1;
    assert!(regenerate.contains(&path) && regenerate.contains("Rotate with two keys instead"));

    let (status, html) = portal.admin.get_text(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Step 1: create the second key"), "{html}");

    // A wrong quiet period: the form says what is wrong, keeps what was typed, nothing changes.
    let (status, html) = press(
        &portal.admin,
        &old_id,
        "",
        &[
            ("quiet", "custom"),
            ("quiet_custom", "10s"),
            ("access_key", "AKIATYPEDSECOND"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Enter a quiet period"), "{html}");
    assert!(html.contains(r#"value="AKIATYPEDSECOND""#) && html.contains(r#"value="10s""#));
    assert_eq!(
        scalar(
            db,
            "select count(*) from rotations where credential_id <> $1",
            ""
        )
        .await,
        0
    );
    assert_eq!(
        scalar(db, "select count(*) from credentials where id <> $1", "").await,
        1
    );

    // Step 1: the second key as the provider gave it.
    let (status, shown) = press(
        &portal.admin,
        &old_id,
        "",
        &[
            ("quiet", "3600"),
            ("access_key", "AKIATYPEDSECOND"),
            ("secret", "typed-second-secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        shown.contains("Step 1 done") && shown.contains("AKIATYPEDSECOND"),
        "{shown}"
    );
    let (step, new_id) = rotation_row(db, &old_id).await.unwrap();
    assert_eq!(step, "both_active");
    let (new_key, new_name, _) = credential_row(db, &new_id).await.unwrap();
    assert_eq!(
        (new_key.as_str(), new_name.as_str()),
        ("AKIATYPEDSECOND", "backup (new)")
    );
    assert_eq!(
        reveal(&portal.admin, &portal.page, &new_id).await,
        "typed-second-secret"
    );

    // Step 2: the page has no backend evidence to show, and says so; Keyport's own record shows
    // a Show of the old key.
    reveal(&portal.admin, &portal.page, &old_id).await;
    let html = portal.admin.get_text(&path).await.1;
    let text = page_text(&html);
    assert!(
        text.contains("Keyport only keeps this key and cannot see whether it is used"),
        "{text}"
    );
    assert!(
        text.contains("Show by"),
        "Keyport's record of the reveal: {text}"
    );
    assert!(text.contains("Deactivate anyway") && text.contains("AKIATYPEDSECOND"));
    assert!(text.contains("Configure your clients with the second key"));
    // The same page for the second key's id.
    assert!(
        page_text(&portal.admin.get_text(&rotation_path(&new_id)).await.1)
            .contains("Deactivate anyway")
    );

    // While the key is being rotated, Regenerate and Delete refuse and change nothing.
    let refused = portal.confirm("backup", "regenerate").await;
    assert!(refused.contains("takes part in a rotation"), "{refused}");
    assert_eq!(credential_row(db, &old_id).await.unwrap().0, old_key);

    // Step 3 without "anyway" is refused: there is no evidence.
    let (_, shown) = press(&portal.admin, &old_id, "deactivate", &[]).await;
    assert!(shown.contains("keeps no record of a key's use"), "{shown}");
    assert_eq!(rotation_row(db, &old_id).await.unwrap().0, "both_active");

    // Two people press step 3 at once: one acts.
    let html = portal.admin.get_text(&path).await.1;
    let token = csrf_token(&html).unwrap();
    let action = format!("{path}/deactivate");
    let fields = [("csrf_token", token.as_str()), ("anyway", "yes")];
    let (a, b) = tokio::join!(
        portal.admin.post(&action, &fields),
        portal.admin.post(&action, &fields)
    );
    assert_eq!(
        (a.status(), b.status()),
        (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER)
    );
    let steps = rotation_events(db, "backup").await;
    assert_eq!(
        steps.iter().filter(|d| d.starts_with("step 3")).count(),
        1,
        "one of the two acted: {steps:?}"
    );
    assert_eq!(rotation_row(db, &old_id).await.unwrap().0, "old_inactive");
    assert_eq!(
        credential_row(db, &old_id).await.unwrap().2,
        0,
        "disabled in Keyport"
    );
    assert!(
        steps
            .iter()
            .any(|d| d.contains("marked disabled in Keyport; nothing changed at the provider")),
        "{steps:?}"
    );
    let listing = portal.admin.get_text(&portal.page).await.1;
    assert!(listing.contains("rotation step 4 (old key)") && listing.contains("disabled"));
    assert!(
        listing.contains(&format!("credentials/{new_id}/rotation")),
        "the badge links"
    );
    // The health page shows each key's part in the rotation, in its HTML and its CSV.
    let health = page_text(&portal.admin.get_text("/projects/team/health").await.1);
    assert!(
        health.contains("step 4 (old key)") && health.contains("step 4 (new key)"),
        "{health}"
    );
    let csv = portal
        .admin
        .get_text("/projects/team/health?format=csv")
        .await
        .1;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "rotation_step")
        .unwrap();
    let mut steps: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[column].to_string())
        .collect();
    steps.sort();
    assert_eq!(steps, ["old_inactive:new", "old_inactive:old"]);

    // Back to step 2, and on again.
    let (_, shown) = press(&portal.admin, &old_id, "reactivate", &[]).await;
    assert!(shown.contains("enabled again in Keyport"), "{shown}");
    assert_eq!(credential_row(db, &old_id).await.unwrap().2, 1);
    press(&portal.admin, &old_id, "deactivate", &[("anyway", "yes")]).await;

    // Step 4: the old key goes, the second key takes its name.
    let (status, shown) = press(&portal.admin, &old_id, "delete-old", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        shown.contains("Rotation finished")
            && shown.contains("in Keyport (nothing changed at the provider)"),
        "{shown}"
    );
    assert!(credential_row(db, &old_id).await.is_none());
    let (key, name, enabled) = credential_row(db, &new_id).await.unwrap();
    assert_eq!(
        (key.as_str(), name.as_str(), enabled),
        ("AKIATYPEDSECOND", "backup", 1)
    );
    assert!(rotation_row(db, &old_id).await.is_none());
    let steps = rotation_events(db, "backup").await;
    let numbered: Vec<&str> = steps.iter().map(|d| &d[..d.find(':').unwrap()]).collect();
    assert_eq!(
        numbered,
        ["step 1", "step 3", "back to step 2", "step 3", "step 4"],
        "{steps:?}"
    );
}

/// An IAM portal with the credential `backup`; its key and backend user.
async fn iam_backup(moto: &Moto, admin_key: &S3Key) -> (Driven, String, S3Key, String) {
    let portal = iam_portal(moto, admin_key).await;
    let (status, page) = portal.add("backup", "key").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let (id, _) = portal.credential("backup").await.unwrap();
    let key = portal.key("backup").await;
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(portal.app.db.pool())
        .await
        .unwrap();
    (portal, id, key, user)
}

/// The second key of `old_id`'s rotation, as Show reveals it.
async fn second_key(portal: &Driven, old_id: &str) -> (String, S3Key) {
    let (_, new_id) = rotation_row(&portal.app.db, old_id).await.unwrap();
    let (access_key, _, _) = credential_row(&portal.app.db, &new_id).await.unwrap();
    let secret = reveal(&portal.admin, &portal.page, &new_id).await;
    (new_id, S3Key { access_key, secret })
}

#[tokio::test]
async fn guided_rotation_against_iam_works_with_the_aws_cli_at_every_step() {
    let (moto, admin_key) = Moto::start().await;
    let (portal, old_id, old, user) = iam_backup(&moto, &admin_key).await;
    let db = &portal.app.db;
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &old)),
        "the old key works"
    );

    // Step 1: IAM issues the second key; both work.
    let (status, shown) = press(&portal.admin, &old_id, "", &[("quiet", "3600")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(shown.contains("Step 1 done"), "{shown}");
    let (new_id, new) = second_key(&portal, &old_id).await;
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &new)),
        "the new key works with the AWS CLI"
    );
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &old)),
        "and so does the old one"
    );
    assert_eq!(
        iam_status(&moto, &admin_key, &user, &new.access_key).as_deref(),
        Some("Active")
    );

    // Step 2: IAM's last use of each key, with its service and region, and Keyport's record.
    let html = portal.admin.get_text(&rotation_path(&old_id)).await.1;
    let text = page_text(&html);
    assert!(
        text.contains("IAM: last used") && text.contains("by s3 in us-east-1"),
        "{text}"
    );
    assert!(
        text.contains("Show by"),
        "Keyport's record of the reveals: {text}"
    );
    assert!(text.contains("Quiet since"), "{text}");

    // Step 3 before the quiet period is over is refused, saying why.
    let (_, shown) = press(&portal.admin, &old_id, "deactivate", &[]).await;
    assert!(
        shown.contains("has not been quiet for 1 hour yet"),
        "{shown}"
    );
    assert_eq!(
        iam_status(&moto, &admin_key, &user, &old.access_key).as_deref(),
        Some("Active")
    );

    // Step 3 anyway: IAM marks the old key inactive; moto refuses it, the new key works.
    let (_, shown) = press(&portal.admin, &old_id, "deactivate", &[("anyway", "yes")]).await;
    assert!(
        shown.contains("deactivated at IAM (UpdateAccessKey Inactive)"),
        "{shown}"
    );
    assert_eq!(
        iam_status(&moto, &admin_key, &user, &old.access_key).as_deref(),
        Some("Inactive")
    );
    let refused = aws_s3_ls(&moto.url, "us-east-1", &old);
    assert!(!works(&refused), "moto refuses the inactive key");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("InvalidAccessKeyId"),
        "{refused:?}"
    );
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &new)),
        "the new key works"
    );

    // A forgotten client failed: the old key is enabled again, and works.
    let (_, shown) = press(&portal.admin, &old_id, "reactivate", &[]).await;
    assert!(shown.contains("active again at IAM"), "{shown}");
    assert!(works(&aws_s3_ls(&moto.url, "us-east-1", &old)));
    press(&portal.admin, &old_id, "deactivate", &[("anyway", "yes")]).await;
    assert!(!works(&aws_s3_ls(&moto.url, "us-east-1", &old)));

    // Step 4: deleted at IAM; the second key is the credential's key under its name.
    let (status, shown) = press(&portal.admin, &old_id, "delete-old", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        shown.contains("Rotation finished") && shown.contains("at the backend"),
        "{shown}"
    );
    assert_eq!(
        iam_status(&moto, &admin_key, &user, &old.access_key),
        None,
        "gone at IAM"
    );
    assert!(works(&aws_s3_ls(&moto.url, "us-east-1", &new)));
    let (key, name, enabled) = credential_row(db, &new_id).await.unwrap();
    assert_eq!(
        (key, name.as_str(), enabled),
        (new.access_key.clone(), "backup", 1)
    );
    assert!(credential_row(db, &old_id).await.is_none());
    assert_eq!(portal.key("backup").await.secret, new.secret);
}

#[tokio::test]
async fn guided_rotation_abandoned_at_each_step_puts_the_old_key_back() {
    let (moto, admin_key) = Moto::start().await;
    let (portal, old_id, old, user) = iam_backup(&moto, &admin_key).await;
    let db = &portal.app.db;

    for deactivate_first in [false, true] {
        press(&portal.admin, &old_id, "", &[]).await;
        let (new_id, new) = second_key(&portal, &old_id).await;
        if deactivate_first {
            press(&portal.admin, &old_id, "deactivate", &[("anyway", "yes")]).await;
            assert!(!works(&aws_s3_ls(&moto.url, "us-east-1", &old)));
        }
        let (status, shown) = press(&portal.admin, &old_id, "abandon", &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(
            shown.contains("rotation abandoned") || shown.contains("Rotation abandoned"),
            "{shown}"
        );
        // Consistent: one credential, the old key active and enabled, the second key gone at
        // IAM and in Keyport, no rotation.
        assert!(rotation_row(db, &old_id).await.is_none());
        assert!(credential_row(db, &new_id).await.is_none());
        let (key, name, enabled) = credential_row(db, &old_id).await.unwrap();
        assert_eq!(
            (key, name.as_str(), enabled),
            (old.access_key.clone(), "backup", 1)
        );
        assert_eq!(
            iam_status(&moto, &admin_key, &user, &old.access_key).as_deref(),
            Some("Active")
        );
        assert_eq!(iam_status(&moto, &admin_key, &user, &new.access_key), None);
        assert!(
            works(&aws_s3_ls(&moto.url, "us-east-1", &old)),
            "the old key works"
        );
        assert!(
            !works(&aws_s3_ls(&moto.url, "us-east-1", &new)),
            "the second key is refused"
        );
    }
    // Nothing is left to abandon.
    let (_, shown) = press(&portal.admin, &old_id, "abandon", &[]).await;
    assert!(shown.contains("not being rotated"), "{shown}");
}

/// A portal killed inside a rotation step: the IAM portal's process, its database, the admin,
/// the credentials page and the old key's id, key and backend user.
struct Killed {
    moto: Moto,
    admin_key: S3Key,
    db: TestDb,
    keyport: keyport::db::Db,
    old_id: String,
    old: S3Key,
    new: Option<(String, S3Key)>,
    user: String,
}

/// Arranges an IAM portal started with `failpoint`, adds `backup`, presses the rotation steps
/// `before`, then presses `step` and kills the portal where it stops. Then starts it again and
/// waits until it reconciled the step.
async fn killed_inside(
    failpoint: &str,
    before: &[(&str, &[(&str, &str)])],
    step: &str,
) -> (Killed, Server) {
    let (moto, admin_key) = Moto::start().await;
    let db = TestDb::new().await;
    let server = Server::start(&db, &[("KEYPORT_FAILPOINT", failpoint)]).await;
    let (admin, page) = arrange_iam(&server, &moto, &admin_key).await;
    let service = page.rsplit('=').next().unwrap().to_string();
    let response = admin
        .submit(
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", &service),
                ("name", "backup"),
                ("mode", "generate"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the add is done");
    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    let (old_id, access_key): (String, String) =
        sqlx::query_as("select id, access_key from credentials where name = 'backup'")
            .fetch_one(keyport.pool())
            .await
            .unwrap();
    let old = S3Key {
        access_key,
        secret: reveal(&admin, &page, &old_id).await,
    };
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    let mut new = None;
    for (before, fields) in before {
        let (status, shown) = press(&admin, &old_id, before, fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{shown}");
        if before.is_empty() {
            let (_, new_id) = rotation_row(&keyport, &old_id).await.unwrap();
            let (access_key, _, _) = credential_row(&keyport, &new_id).await.unwrap();
            let secret = reveal(&admin, &page, &new_id).await;
            new = Some((new_id, S3Key { access_key, secret }));
        }
    }
    let path = rotation_path(&old_id);
    let action = if step.is_empty() {
        path.clone()
    } else {
        format!("{path}/{step}")
    };
    let fields: &[(&str, &str)] = if step == "deactivate" {
        &[("anyway", "yes")]
    } else {
        &[]
    };
    let pending = post_in_background(&admin, &path, &action, fields).await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(
        pending.await.unwrap().is_err(),
        "the request died with the portal"
    );
    let under_way = rotation_row(&keyport, &old_id).await.map(|r| r.0);
    assert!(
        under_way
            .as_deref()
            .is_some_and(|s| !["both_active", "old_inactive"].contains(&s)),
        "the step's intent was recorded: {under_way:?}"
    );

    let server = Server::start(&db, &[]).await;
    server
        .wait_for_log("reconciled an interrupted rotation step")
        .await;
    let killed = Killed {
        moto,
        admin_key,
        db,
        keyport,
        old_id,
        old,
        new,
        user,
    };
    (killed, server)
}

#[tokio::test]
async fn guided_rotation_killed_inside_step_1_resumes_at_step_2() {
    let (k, server) = killed_inside("after-second-key", &[], "").await;
    let (step, new_id) = rotation_row(&k.keyport, &k.old_id).await.unwrap();
    assert_eq!(step, "both_active", "reconcile finished step 1");
    let (new_key, _, _) = credential_row(&k.keyport, &new_id).await.unwrap();
    assert_eq!(
        iam_status(&k.moto, &k.admin_key, &k.user, &new_key).as_deref(),
        Some("Active")
    );
    let admin = server.visitor();
    sign_in_as_admin(&admin).await;
    let page = format!(
        "/projects/team/credentials?service={}",
        service_of(&k).await
    );
    let new = S3Key {
        access_key: new_key,
        secret: reveal(&admin, &page, &new_id).await,
    };
    assert!(
        works(&aws_s3_ls(&k.moto.url, "us-east-1", &new)),
        "the second key works"
    );
    assert!(
        works(&aws_s3_ls(&k.moto.url, "us-east-1", &k.old)),
        "the old one too"
    );
    let events = rotation_events(&k.keyport, "backup").await;
    assert!(events[0].contains("finished by reconcile"), "{events:?}");
    // And the rotation goes on from there.
    let (_, shown) = press(&admin, &k.old_id, "deactivate", &[("anyway", "yes")]).await;
    assert!(shown.contains("deactivated at IAM"), "{shown}");
    drop(k.db);
}

async fn service_of(k: &Killed) -> String {
    sqlx::query_scalar("select service_id from credentials where id = $1")
        .bind(&k.old_id)
        .fetch_one(k.keyport.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn guided_rotation_killed_inside_step_3_resumes_with_the_old_key_inactive() {
    let (k, _server) = killed_inside("after-deactivate", &[("", &[])], "deactivate").await;
    assert_eq!(
        rotation_row(&k.keyport, &k.old_id).await.unwrap().0,
        "old_inactive"
    );
    assert_eq!(credential_row(&k.keyport, &k.old_id).await.unwrap().2, 0);
    assert_eq!(
        iam_status(&k.moto, &k.admin_key, &k.user, &k.old.access_key).as_deref(),
        Some("Inactive")
    );
    assert!(
        !works(&aws_s3_ls(&k.moto.url, "us-east-1", &k.old)),
        "moto refuses the old key"
    );
    let (_, new) = k.new.as_ref().unwrap();
    assert!(
        works(&aws_s3_ls(&k.moto.url, "us-east-1", new)),
        "the new key works"
    );
}

#[tokio::test]
async fn guided_rotation_killed_inside_step_4_resumes_with_the_old_key_gone() {
    let (k, _server) = killed_inside(
        "after-delete-old",
        &[("", &[]), ("deactivate", &[("anyway", "yes")])],
        "delete-old",
    )
    .await;
    let (new_id, new) = k.new.as_ref().unwrap();
    assert!(rotation_row(&k.keyport, &k.old_id).await.is_none());
    assert!(credential_row(&k.keyport, &k.old_id).await.is_none());
    let (key, name, _) = credential_row(&k.keyport, new_id).await.unwrap();
    assert_eq!((key, name.as_str()), (new.access_key.clone(), "backup"));
    assert_eq!(
        iam_status(&k.moto, &k.admin_key, &k.user, &k.old.access_key),
        None,
        "gone at IAM"
    );
    assert!(works(&aws_s3_ls(&k.moto.url, "us-east-1", new)));
}

#[tokio::test]
async fn guided_rotation_killed_inside_abandon_resumes_with_things_put_back() {
    let (k, _server) = killed_inside(
        "after-abandon",
        &[("", &[]), ("deactivate", &[("anyway", "yes")])],
        "abandon",
    )
    .await;
    let (new_id, new) = k.new.as_ref().unwrap();
    assert!(rotation_row(&k.keyport, &k.old_id).await.is_none());
    assert!(credential_row(&k.keyport, new_id).await.is_none());
    assert_eq!(
        credential_row(&k.keyport, &k.old_id).await.unwrap().2,
        1,
        "enabled again"
    );
    assert_eq!(
        iam_status(&k.moto, &k.admin_key, &k.user, &k.old.access_key).as_deref(),
        Some("Active")
    );
    assert_eq!(
        iam_status(&k.moto, &k.admin_key, &k.user, &new.access_key),
        None
    );
    assert!(works(&aws_s3_ls(&k.moto.url, "us-east-1", &k.old)));
    let listed = aws(
        &k.old,
        "us-east-1",
        &["--endpoint-url", &k.moto.url, "s3", "ls"],
    );
    assert!(works(&listed));
}

#[tokio::test]
async fn guided_rotation_of_a_keystone_ec2_pair_goes_from_step_2_to_delete_with_aws_through_s3api()
{
    let stack = crate::backends::OpenStack::get();
    let os_user = stack.create_user().await;
    let portal = crate::driven::keystone_portal(&stack, &os_user.project).await;
    let db = &portal.app.db;
    let (s3, region) = (stack.swift_url.as_str(), stack.s3_region.as_str());
    assert_eq!(portal.add("s3", "ec2").await.0, StatusCode::SEE_OTHER);
    let (old_id, _) = portal.credential("s3").await.unwrap();
    let old = portal.key("s3").await;
    assert!(
        works(&aws_s3_ls(s3, region, &old)),
        "the pair works through s3api"
    );

    for abandon in [true, false] {
        let (status, shown) = press(&portal.admin, &old_id, "", &[("quiet", "86400")]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(shown.contains("Step 1 done"), "{shown}");
        let (new_id, new) = second_key(&portal, &old_id).await;
        assert!(
            works(&aws_s3_ls(s3, region, &new)),
            "the second pair works with aws"
        );
        assert!(
            works(&aws_s3_ls(s3, region, &old)),
            "and so does the old one"
        );

        // Keystone keeps no record of an EC2 pair's use, and has no inactive state: the page
        // says both plainly and offers step 4 ("anyway") after step 2.
        let text = page_text(&portal.admin.get_text(&rotation_path(&old_id)).await.1);
        assert!(
            text.contains("Keystone keeps no record of when a key is used: no evidence."),
            "{text}"
        );
        assert!(
            text.contains("Step 3: not possible with Keystone"),
            "{text}"
        );
        assert!(text.contains("Delete anyway"), "{text}");
        let html = portal.admin.get_text(&rotation_path(&old_id)).await.1;
        assert!(
            !html.contains("rotation/deactivate"),
            "no step 3 is offered"
        );
        let (_, shown) = press(&portal.admin, &old_id, "deactivate", &[("anyway", "yes")]).await;
        assert!(shown.contains("Keystone has no inactive state"), "{shown}");
        let (_, shown) = press(&portal.admin, &old_id, "delete-old", &[]).await;
        assert!(shown.contains("keeps no record of a key's use"), "{shown}");
        assert!(works(&aws_s3_ls(s3, region, &old)), "nothing changed");

        if abandon {
            let (_, shown) = press(&portal.admin, &old_id, "abandon", &[]).await;
            assert!(shown.contains("abandoned"), "{shown}");
            assert!(credential_row(db, &new_id).await.is_none());
            assert!(
                !works(&aws_s3_ls(s3, region, &new)),
                "the second pair is refused"
            );
            assert!(works(&aws_s3_ls(s3, region, &old)), "the old pair works");
        } else {
            let (_, shown) =
                press(&portal.admin, &old_id, "delete-old", &[("anyway", "yes")]).await;
            assert!(shown.contains("Rotation finished"), "{shown}");
            assert!(
                !works(&aws_s3_ls(s3, region, &old)),
                "the old pair is refused"
            );
            assert!(works(&aws_s3_ls(s3, region, &new)), "the new pair works");
            let (key, name, _) = credential_row(db, &new_id).await.unwrap();
            assert_eq!((key, name.as_str()), (new.access_key.clone(), "s3"));
        }
    }
}

/// A Keystone portal killed inside a rotation step of its EC2 pair `s3` and started again:
/// the stack, the database, the second portal, the old pair and (if step 1 was done before)
/// the second pair with its credential id.
struct KilledKeystone {
    stack: crate::backends::OpenStack,
    keyport: keyport::db::Db,
    _db: TestDb,
    _server: Server,
    old_id: String,
    old: S3Key,
    new: Option<(String, S3Key)>,
}

/// Adds the EC2 pair `s3` through a portal started with `failpoint`, does step 1 first when
/// `started`, then presses `step` and kills the portal where it stops, starts it again and
/// waits until it reconciled the step.
async fn keystone_killed_inside(failpoint: &str, started: bool, step: &str) -> KilledKeystone {
    let stack = crate::backends::OpenStack::get();
    let os_user = stack.create_user().await;
    let db = TestDb::new().await;
    let server = Server::start(&db, &[("KEYPORT_FAILPOINT", failpoint)]).await;
    let (admin, page) = crate::driven::arrange(
        &server,
        "openstack",
        &os_user.project,
        ["Loopback", &stack.region, "auth", &stack.keystone_url],
        &stack.keystone_settings(),
    )
    .await;
    let service = page.rsplit('=').next().unwrap().to_string();
    let fields = [
        ("service_id", service.as_str()),
        ("name", "s3"),
        ("kind", "ec2"),
        ("mode", "generate"),
    ];
    let response = admin
        .submit(&page, "/projects/team/credentials", &fields)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    let (old_id, access_key): (String, String) =
        sqlx::query_as("select id, access_key from credentials where name = 's3'")
            .fetch_one(keyport.pool())
            .await
            .unwrap();
    let old = S3Key {
        access_key,
        secret: reveal(&admin, &page, &old_id).await,
    };
    let mut new = None;
    if started {
        press(&admin, &old_id, "", &[]).await;
        let (_, new_id) = rotation_row(&keyport, &old_id).await.unwrap();
        let key = S3Key {
            access_key: credential_row(&keyport, &new_id).await.unwrap().0,
            secret: reveal(&admin, &page, &new_id).await,
        };
        new = Some((new_id, key));
    }
    let path = rotation_path(&old_id);
    let action = if step.is_empty() {
        path.clone()
    } else {
        format!("{path}/{step}")
    };
    let pending = post_in_background(&admin, &path, &action, &[("anyway", "yes")]).await;
    server.wait_for_log("failpoint reached").await;
    server.kill();
    assert!(pending.await.unwrap().is_err());
    let under_way = rotation_row(&keyport, &old_id).await.map(|r| r.0);
    assert!(
        under_way
            .as_deref()
            .is_some_and(|s| !["both_active", "old_inactive"].contains(&s)),
        "the step's intent was recorded: {under_way:?}"
    );
    let server = Server::start(&db, &[]).await;
    server
        .wait_for_log("reconciled an interrupted rotation step")
        .await;
    KilledKeystone {
        stack,
        keyport,
        _db: db,
        _server: server,
        old_id,
        old,
        new,
    }
}

#[tokio::test]
async fn guided_rotation_of_a_keystone_ec2_pair_killed_inside_step_4_resumes_with_the_old_pair_gone()
 {
    let k = keystone_killed_inside("after-delete-old", true, "delete-old").await;
    let (new_id, new) = k.new.as_ref().unwrap();
    let (s3, region) = (k.stack.swift_url.as_str(), k.stack.s3_region.as_str());
    assert!(rotation_row(&k.keyport, &k.old_id).await.is_none());
    assert!(credential_row(&k.keyport, &k.old_id).await.is_none());
    assert_eq!(credential_row(&k.keyport, new_id).await.unwrap().1, "s3");
    assert!(
        !works(&aws_s3_ls(s3, region, &k.old)),
        "the old pair is gone at Keystone"
    );
    assert!(works(&aws_s3_ls(s3, region, new)), "the new pair works");
}

#[tokio::test]
async fn guided_rotation_of_a_keystone_ec2_pair_killed_inside_step_1_resumes_at_step_2() {
    let k = keystone_killed_inside("after-second-key", false, "").await;
    let (s3, region) = (k.stack.swift_url.as_str(), k.stack.s3_region.as_str());
    let (step, new_id) = rotation_row(&k.keyport, &k.old_id).await.unwrap();
    assert_eq!(step, "both_active", "reconcile finished step 1");
    assert!(credential_row(&k.keyport, &new_id).await.is_some());
    assert!(works(&aws_s3_ls(s3, region, &k.old)), "the old pair works");
}

#[tokio::test]
async fn guided_rotation_of_a_keystone_ec2_pair_killed_inside_abandon_resumes_with_things_put_back()
{
    let k = keystone_killed_inside("after-abandon", true, "abandon").await;
    let (new_id, new) = k.new.as_ref().unwrap();
    let (s3, region) = (k.stack.swift_url.as_str(), k.stack.s3_region.as_str());
    assert!(rotation_row(&k.keyport, &k.old_id).await.is_none());
    assert!(credential_row(&k.keyport, new_id).await.is_none());
    assert!(works(&aws_s3_ls(s3, region, &k.old)), "the old pair works");
    assert!(
        !works(&aws_s3_ls(s3, region, new)),
        "the second pair is gone at Keystone"
    );
}

#[tokio::test]
async fn guided_rotation_through_the_api_takes_the_same_steps() {
    use reqwest::Method;
    use serde_json::json;

    let api = crate::api::ApiApp::spawn().await;
    let team = crate::credentials::team(&api.app, "s3").await;
    let token = api.token_of("member@example.org").await;
    let list = format!("/projects/team/services/{}/credentials", team.service);
    let created = api
        .json(
            &token,
            Method::POST,
            &list,
            Some(&json!({"name": "deploy"})),
            StatusCode::CREATED,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let rotation = format!("/projects/team/credentials/{id}/rotation");

    let before = api
        .json(&token, Method::GET, &rotation, None, StatusCode::OK)
        .await;
    assert_eq!(before["step"], serde_json::Value::Null, "{before}");
    assert_eq!(before["cannot_start"], serde_json::Value::Null, "{before}");

    let (status, text) = api
        .call(
            Some(&token),
            Method::POST,
            &rotation,
            Some(&json!({"quiet": "10s"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("quiet"), "{text}");

    let started = api
        .json(
            &token,
            Method::POST,
            &rotation,
            Some(&json!({"quiet": "7d"})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(
        (&started["step"], &started["step_number"]),
        (&json!("both_active"), &json!(2))
    );
    assert_eq!(started["deactivation"], "keyport");
    assert_eq!(started["quiet"]["seconds"], 604_800);
    assert_eq!(started["new_credential"]["name"], "deploy (new)");
    assert_eq!(
        started["keys"][0]["backend"]["recorded"], false,
        "no backend: no evidence"
    );
    // The same rotation from the second key's id; a second start is refused.
    let new_id = started["new_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let same = api
        .json(
            &token,
            Method::GET,
            &format!("/projects/team/credentials/{new_id}/rotation"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(same["credential"]["id"], id.as_str());
    let (status, _) = api
        .call(Some(&token), Method::POST, &rotation, Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A viewer may see the key but not rotate it.
    let viewer = api.token_of("viewer@example.org").await;
    let (status, _) = api
        .call(
            Some(&viewer),
            Method::POST,
            &format!("{rotation}/abandon"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let quiet = api
        .json(
            &token,
            Method::POST,
            &format!("{rotation}/quiet"),
            Some(&json!({"quiet": "1h"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(quiet["rotation"]["quiet"]["seconds"], 3600);
    let (status, text) = api
        .call(
            Some(&token),
            Method::POST,
            &format!("{rotation}/deactivate"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no evidence without anyway: {text}"
    );
    let done = api
        .json(
            &token,
            Method::POST,
            &format!("{rotation}/deactivate"),
            Some(&json!({"anyway": true})),
            StatusCode::OK,
        )
        .await;
    assert!(
        done["detail"]
            .as_str()
            .unwrap()
            .contains("nothing changed at the provider"),
        "{done}"
    );
    assert_eq!(done["rotation"]["step"], "old_inactive");
    assert_eq!(done["rotation"]["keys"][0]["enabled"], false);
    let done = api
        .json(
            &token,
            Method::POST,
            &format!("{rotation}/delete-old"),
            Some(&json!({})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["rotation"]["step"], serde_json::Value::Null, "{done}");
    assert_eq!(done["rotation"]["credential"]["id"], new_id.as_str());
    assert_eq!(done["rotation"]["credential"]["name"], "deploy");
    let (status, _) = api.call(Some(&token), Method::GET, &rotation, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the old key is gone");
}

#[tokio::test]
async fn guided_rotation_killed_after_iam_issued_the_second_key_is_undone_after_restart() {
    let (moto, admin_key) = Moto::start().await;
    let db = TestDb::new().await;
    // The key to rotate is added by a first portal; the second stops inside step 1, after IAM
    // issued the second key and before Keyport recorded it (the failpoint of Add).
    let first = Server::start(&db, &[]).await;
    let (admin, page) = arrange_iam(&first, &moto, &admin_key).await;
    let service = page.rsplit('=').next().unwrap().to_string();
    let fields = [
        ("service_id", service.as_str()),
        ("name", "backup"),
        ("mode", "generate"),
    ];
    let response = admin
        .submit(&page, "/projects/team/credentials", &fields)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    first.kill();
    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    let (old_id, access_key): (String, String) =
        sqlx::query_as("select id, access_key from credentials")
            .fetch_one(keyport.pool())
            .await
            .unwrap();
    let user: String = sqlx::query_scalar("select backend_name from backend_users")
        .fetch_one(keyport.pool())
        .await
        .unwrap();

    let second = Server::start(&db, &[("KEYPORT_FAILPOINT", "after-issue")]).await;
    let admin = second.visitor();
    sign_in_as_admin(&admin).await;
    let old = S3Key {
        access_key,
        secret: reveal(&admin, &page, &old_id).await,
    };
    let path = rotation_path(&old_id);
    let pending = post_in_background(&admin, &path, &path, &[]).await;
    second.wait_for_log("failpoint reached").await;
    second.kill();
    assert!(pending.await.unwrap().is_err());
    assert_eq!(rotation_row(&keyport, &old_id).await.unwrap().0, "creating");
    let listed: serde_json::Value =
        serde_json::from_str(&iam_access_keys(&moto, &admin_key, &user)).unwrap();
    assert_eq!(
        listed["AccessKeyMetadata"].as_array().unwrap().len(),
        2,
        "IAM issued the second key"
    );

    let third = Server::start(&db, &[]).await;
    third
        .wait_for_log("reconciled an interrupted rotation step")
        .await;
    assert!(
        rotation_row(&keyport, &old_id).await.is_none(),
        "step 1 undone"
    );
    let rows: i64 = sqlx::query_scalar("select count(*) from credentials")
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1, "only the old key's credential");
    let listed: serde_json::Value =
        serde_json::from_str(&iam_access_keys(&moto, &admin_key, &user)).unwrap();
    let keys = listed["AccessKeyMetadata"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "the key nobody holds was revoked: {listed}");
    assert_eq!(keys[0]["AccessKeyId"], old.access_key.as_str());
    assert!(
        works(&aws_s3_ls(&moto.url, "us-east-1", &old)),
        "the old key works"
    );
    // A new rotation starts cleanly.
    let admin = third.visitor();
    sign_in_as_admin(&admin).await;
    let (status, shown) = press(&admin, &old_id, "", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(shown.contains("Step 1 done"), "{shown}");
}

#[tokio::test]
async fn guided_rotation_steps_ask_for_a_recent_proof_like_regenerate() {
    let app = crate::helpers::TestApp::spawn_with(|config| config.step_up_minutes = 0).await;
    let team = crate::credentials::team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let (id,): (String,) = sqlx::query_as("select id from credentials")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    // The page itself shows; step 1 sends to the proof and changes nothing.
    let (status, html) = team.member.get_text(&rotation_path(&id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Create the second key"));
    let path = rotation_path(&id);
    let response = team.member.submit(&path, &path, &[("quiet", "3600")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&response).starts_with("/confirm-identity?next="),
        "{}",
        location(&response)
    );
    let rotations: i64 = sqlx::query_scalar("select count(*) from rotations")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(rotations, 0, "nothing was started");
    // A viewer sees the key but may not rotate it.
    let (status, _) = team.viewer.get_text(&path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
