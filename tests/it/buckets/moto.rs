//! The console against moto's S3, with signatures checked.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{AWKWARD_NAMES, Console, audited, file_of, import_key, member, put_many};
use crate::{
    backends::{Moto, S3Key},
    helpers::{TestApp, texts},
};

/// A portal whose project `team` has an S3 service at moto, with the owner's key imported.
pub async fn moto_console(app: &TestApp, moto: &Moto, key: &S3Key) -> Console {
    let owner = app.admin().await;
    app.project(&owner, "team", "").await;
    let service_path = app.service(&owner, "s3", "Object storage", "team").await;
    app.endpoint(
        &owner,
        &service_path,
        ["Loopback", "us-east-1", "public", &moto.url],
    )
    .await;
    let service = service_path.rsplit('/').next().unwrap().to_string();
    let credential = import_key(app, &owner, &service, "key", "mine", key, "me").await;
    Console {
        who: owner,
        service,
        credential,
    }
}

#[tokio::test]
async fn moto_create_upload_download_delete_and_remove_a_bucket() {
    let (moto, key) = Moto::start().await;
    let app = TestApp::spawn().await;
    let console = moto_console(&app, &moto, &key).await;
    assert!(console.bucket_names().await.is_empty());

    // S3's naming rules are checked before any request, and the form keeps what was typed.
    let (status, error) = console.create("Bad_Name").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error.contains("lowercase"), "{error}");

    let (status, notice) = console.create("team-files").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{notice}");
    assert!(
        notice.contains("Bucket team-files created in us-east-1"),
        "{notice}"
    );
    assert_eq!(console.bucket_names().await, ["team-files"]);
    let (_, page) = console.buckets_page().await;
    assert!(
        page.contains(&format!("{}/team-files", moto.url)),
        "path-style URL shown"
    );
    assert!(page.contains("aws --profile team-object-storage s3 ls s3://team-files/"));

    // Larger than the 64 KiB every other form may send.
    let big = file_of(300 * 1024);
    let response = console
        .upload("team-files", "", "big.bin", big.clone())
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for name in AWKWARD_NAMES {
        let response = console
            .upload("team-files", "", name, name.as_bytes().to_vec())
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name}");
    }
    let (root, _) = console.all_keys("team-files", "").await;
    let mut expected: Vec<&str> = AWKWARD_NAMES
        .iter()
        .copied()
        .filter(|n| !n.contains('/'))
        .collect();
    expected.push("big.bin");
    expected.sort();
    let mut listed = root.clone();
    listed.sort();
    assert_eq!(listed, expected, "names round-trip exactly");
    let (_, html) = console.objects_page("team-files", "").await;
    assert_eq!(
        texts(&html, "table.objects td.wrap a"),
        ["dir/"],
        "a folder"
    );
    let (inside, _) = console.all_keys("team-files", "dir/a..b/").await;
    assert_eq!(inside, ["dir/a..b/c..txt"]);

    // Downloads go through a short-lived presigned URL with no secret in it. moto checks only
    // signatures in an Authorization header (a presigned URL fails there with HTTP 500), so the
    // URL is fetched with curl against Swift's s3api (`swift.rs`), which checks it.
    for name in ["big.bin"].into_iter().chain(AWKWARD_NAMES) {
        let url = console.download_url("team-files", name).await;
        assert!(
            url.starts_with(&format!("{}/team-files/", moto.url)),
            "{url}"
        );
        assert!(
            url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=300"),
            "{url}"
        );
        assert!(url.contains(&key.access_key) && !url.contains(&key.secret));
    }
    assert!(!big.is_empty());

    // One object, then a selection in one DeleteObjects.
    let notice = console
        .delete_objects("team-files", &["plus+sign.txt"])
        .await;
    assert!(notice.contains("plus+sign.txt deleted"), "{notice}");
    let notice = console
        .delete_objects("team-files", &["with space.txt", "hash#and?question.txt"])
        .await;
    assert!(notice.contains("2 objects deleted"), "{notice}");
    let (left, _) = console.all_keys("team-files", "").await;
    assert_eq!(left.len(), expected.len() - 3, "{left:?}");

    // A bucket that holds objects is not deleted; its objects are counted.
    let (status, page) = console.delete_bucket("team-files", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("It holds 5 objects"), "{page}");
    let (status, page) = console
        .delete_bucket(
            "team-files",
            &[("empty", "yes"), ("confirm_name", "team-file")],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the name must be typed exactly"
    );
    assert!(page.contains("Type the bucket"), "{page}");
    let (status, notice) = console
        .delete_bucket(
            "team-files",
            &[("empty", "yes"), ("confirm_name", "team-files")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(notice.contains("deleted, with its 5 objects"), "{notice}");
    assert!(console.bucket_names().await.is_empty());

    // Each change is audited with the key used, never its secret.
    for action in [
        "bucket.create",
        "object.upload",
        "object.download",
        "object.delete",
        "bucket.delete",
    ] {
        let events = audited(&app, action).await;
        assert!(!events.is_empty(), "{action} audited");
        for (target, detail) in &events {
            assert!(
                target.starts_with("Object storage / team-files"),
                "{target}"
            );
            assert!(detail.contains(&key.access_key), "{action}: {detail}");
            assert!(!detail.contains(&key.secret));
        }
    }
    assert_eq!(
        audited(&app, "object.upload").await.len(),
        1 + AWKWARD_NAMES.len()
    );
}

#[tokio::test]
async fn moto_objects_page_through_thousands_of_objects() {
    let (moto, key) = Moto::start().await;
    let app = TestApp::spawn().await;
    let console = moto_console(&app, &moto, &key).await;
    console.create("many").await;
    put_many(&moto.url, "us-east-1", &key, "many", "logs/", 2500);
    put_many(&moto.url, "us-east-1", &key, "many", "top-", 3);

    let (root, _) = console.all_keys("many", "").await;
    assert_eq!(root, ["top-00000", "top-00001", "top-00002"]);
    let (_, html) = console.objects_page("many", "").await;
    assert_eq!(texts(&html, "table.objects td.wrap a"), ["logs/"]);

    let (keys, pages) = console.all_keys("many", "logs/").await;
    assert_eq!(keys.len(), 2500);
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(unique.len(), 2500, "no object twice");
    assert_eq!(keys.first().map(String::as_str), Some("logs/00000"));
    assert_eq!(keys.last().map(String::as_str), Some("logs/02499"));
    assert_eq!(pages, 13, "200 objects a page");

    // A whole page selected is deleted in one DeleteObjects.
    let first: Vec<&str> = keys[..200].iter().map(String::as_str).collect();
    let notice = console.delete_objects("many", &first).await;
    assert!(notice.contains("200 objects deleted"), "{notice}");
    assert_eq!(audited(&app, "object.delete").await.len(), 1);
    let (keys, _) = console.all_keys("many", "logs/").await;
    assert_eq!(keys.len(), 2300);
}

#[tokio::test]
async fn moto_refusals_become_messages_that_say_what_to_do() {
    let (moto, key) = Moto::start().await;
    let app = TestApp::spawn().await;
    let console = moto_console(&app, &moto, &key).await;
    console.create("taken").await;

    let (status, error) = console.create("taken").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error.contains("BucketAlreadyExists") || error.contains("BucketAlreadyOwnedByYou"),
        "{error}"
    );

    let (status, page) = console.objects_page("no-such-bucket", "").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        page.contains("There is no bucket no-such-bucket") && page.contains("NoSuchBucket"),
        "{page}"
    );

    // A key whose secret is not the one the service holds (held by a member: each owner holds
    // at most two keys of the service).
    let bob = member(&app, &console.who, "bob@example.org", "member").await;
    let wrong = S3Key {
        access_key: key.access_key.clone(),
        secret: "not-the-secret-at-all-0000000000000000".into(),
    };
    let bobs = Console {
        credential: import_key(&app, &bob, &console.service, "key", "wrong", &wrong, "me").await,
        who: bob,
        service: console.service.clone(),
    };
    let (_, page) = bobs.buckets_page().await;
    assert!(
        page.contains("SignatureDoesNotMatch") && page.contains("Regenerate"),
        "{page}"
    );

    // A key the service does not know (disabled, deleted or rotated there).
    let unknown = S3Key {
        access_key: "AKIAUNKNOWN000000000".into(),
        secret: key.secret.clone(),
    };
    let bobs = Console {
        credential: import_key(
            &app,
            &bobs.who,
            &bobs.service,
            "key",
            "gone",
            &unknown,
            "me",
        )
        .await,
        ..bobs
    };
    let (status, page) = bobs.buckets_page().await;
    assert_eq!(status, StatusCode::OK, "never a 500");
    assert!(
        page.contains("InvalidAccessKeyId") && page.contains("does not know key"),
        "{page}"
    );
    let (status, notice) = bobs.create("another").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(notice.contains("InvalidAccessKeyId"), "{notice}");
    assert_eq!(
        audited(&app, "bucket.create").await.len(),
        1,
        "refused: not audited"
    );

    // A key whose user may not list buckets.
    let limited = limited_key(&moto, &key);
    let carl = member(&app, &console.who, "carl@example.org", "member").await;
    let carls = Console {
        credential: import_key(&app, &carl, &bobs.service, "key", "limited", &limited, "me").await,
        who: carl,
        service: bobs.service.clone(),
    };
    let (status, page) = carls.buckets_page().await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("AccessDenied") && page.contains("not allowed"),
        "{page}"
    );
}

/// A key of a new IAM user with no policy at all, made with `admin`.
fn limited_key(moto: &Moto, admin: &S3Key) -> S3Key {
    let script = r#"
import sys, boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
    aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
iam.create_user(UserName="limited")
key = iam.create_access_key(UserName="limited")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;
    let output = std::process::Command::new(crate::backends::test_venv().join("bin/python"))
        .args(["-c", script, &moto.url, &admin.access_key, &admin.secret])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let (access_key, secret) = text.trim().split_once(' ').unwrap();
    S3Key {
        access_key: access_key.into(),
        secret: secret.into(),
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_answers_within_the_deadline() {
    let key = S3Key {
        access_key: "AKIAEXAMPLE000000000".into(),
        secret: "secret".into(),
    };
    let closed = format!("http://127.0.0.1:{}", crate::backends::free_port());
    let app = TestApp::spawn().await;
    let owner = app.admin().await;
    app.project(&owner, "team", "").await;
    let service_path = app.service(&owner, "s3", "Object storage", "team").await;
    app.endpoint(
        &owner,
        &service_path,
        ["Loopback", "us-east-1", "public", &closed],
    )
    .await;
    let service = service_path.rsplit('/').next().unwrap().to_string();
    let credential = import_key(&app, &owner, &service, "key", "mine", &key, "me").await;
    let console = Console {
        who: owner,
        service,
        credential,
    };
    let started = Instant::now();
    let (status, page) = console.buckets_page().await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("could not be reached"), "{page}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_with_the_limit() {
    let (moto, key) = Moto::start().await;
    let app = TestApp::spawn_with(|config| config.upload_max_megabytes = 1).await;
    let console = moto_console(&app, &moto, &key).await;
    console.create("small").await;
    let response = console
        .upload("small", "", "too-big.bin", file_of(1024 * 1024 + 1))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = response.text().await.unwrap();
    assert!(page.contains("larger than 1 MB"), "{page}");
    let (keys, _) = console.all_keys("small", "").await;
    assert!(keys.is_empty(), "nothing stored");
    let response = console
        .upload("small", "", "fits.bin", file_of(1024 * 1024))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // Without the CSRF token in its URL, an upload does nothing.
    let form = reqwest::multipart::Form::new()
        .text("credential", console.credential.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![1, 2]).file_name("x.bin"),
        );
    let response = console
        .who
        .client
        .post(
            console
                .who
                .url(&format!("{}/small/objects/upload", console.base())),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (keys, _) = console.all_keys("small", "").await;
    assert_eq!(keys, ["fits.bin"]);
}
