//! The console against Swift's s3api with a Keystone EC2 pair, and the S3 region an OpenStack
//! cloud signs with learned from the s3api's own answer.

use reqwest::StatusCode;

use super::{Console, audited, curl, file_of, import_key};
use crate::{
    backends::{OpenStack, OpenStackUser, S3Key},
    helpers::TestApp,
    s3_clients::{Home, Portal, assert_ok, run},
};

/// An OpenStack service at the stack (Keystone's auth endpoint and Swift's public one, both in
/// `region`), with `ec2` imported for the owner.
async fn swift_console(
    app: &TestApp,
    stack: &OpenStack,
    user: &OpenStackUser,
    ec2: &S3Key,
    region: &str,
) -> Console {
    let owner = app.admin().await;
    app.project(&owner, "team", "").await;
    let service_path = app
        .service(&owner, "openstack", "Cloud", &user.project)
        .await;
    app.endpoint(
        &owner,
        &service_path,
        ["Loopback", region, "auth", &stack.keystone_url],
    )
    .await;
    let swift = format!("{}/v1/AUTH_{}", stack.swift_url, user.project_id);
    app.endpoint(
        &owner,
        &service_path,
        ["Loopback", region, "public", &swift],
    )
    .await;
    let service = service_path.rsplit('/').next().unwrap().to_string();
    let credential = import_key(app, &owner, &service, "ec2", "ec2", ec2, "me").await;
    Console {
        who: owner,
        service,
        credential,
    }
}

/// The AWS CLI profile of project `team`'s service `Object storage`.
const PROFILE: &str = "team-object-storage";

fn bucket_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

#[tokio::test]
async fn swift_s3api_create_upload_page_download_and_delete() {
    let stack = OpenStack::get();
    let user = stack.create_user().await;
    let ec2 = stack.create_ec2(&user).await;
    let app = TestApp::spawn().await;
    let console = swift_console(&app, &stack, &user, &ec2, &stack.region).await;
    let bucket = bucket_name("console");

    let (status, notice) = console.create(&bucket).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{notice}");
    assert!(console.bucket_names().await.contains(&bucket));

    let big = file_of(200 * 1024);
    let response = console
        .upload(&bucket, "", "big file ✓+%#?.bin", big.clone())
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for name in super::AWKWARD_NAMES {
        let response = console
            .upload(&bucket, "", name, name.as_bytes().to_vec())
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name}");
    }
    let (root, _) = console.all_keys(&bucket, "").await;
    assert!(root.contains(&"big file ✓+%#?.bin".to_string()), "{root:?}");
    for name in super::AWKWARD_NAMES.iter().filter(|n| !n.contains('/')) {
        assert!(root.contains(&name.to_string()), "{name} in {root:?}");
    }
    let (inside, _) = console.all_keys(&bucket, "dir/a..b/").await;
    assert_eq!(inside, ["dir/a..b/c..txt"]);

    let url = console.download_url(&bucket, "big file ✓+%#?.bin").await;
    assert!(url.starts_with(&stack.swift_url), "{url}");
    assert!(!url.contains(&ec2.secret));
    assert_eq!(curl(&url), big);
    for name in super::AWKWARD_NAMES {
        let url = console.download_url(&bucket, name).await;
        assert_eq!(curl(&url), name.as_bytes(), "{name}");
    }

    stack.fill(&user.project_id, &bucket, "many/", 2500).await;
    let (keys, pages) = console.all_keys(&bucket, "many/").await;
    assert_eq!(keys.len(), 2500);
    assert_eq!(pages, 13);
    assert_eq!(keys.last().map(String::as_str), Some("many/02499"));

    let selection: Vec<&str> = keys[..150].iter().map(String::as_str).collect();
    let notice = console.delete_objects(&bucket, &selection).await;
    assert!(notice.contains("150 objects deleted"), "{notice}");
    let (keys, _) = console.all_keys(&bucket, "many/").await;
    assert_eq!(keys.len(), 2350);

    let (status, page) = console.delete_bucket(&bucket, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let count = 2350 + 1 + super::AWKWARD_NAMES.len();
    assert!(
        page.contains(&format!("It holds {count} objects")),
        "{page}"
    );
    let (status, notice) = console
        .delete_bucket(&bucket, &[("empty", "yes"), ("confirm_name", &bucket)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{notice}");
    assert!(
        notice.contains(&format!("with its {count} objects")),
        "{notice}"
    );
    assert!(!console.bucket_names().await.contains(&bucket));
    for (_, detail) in audited(&app, "bucket.delete").await {
        assert!(detail.contains(&ec2.access_key), "{detail}");
    }
}

#[tokio::test]
async fn swift_s3api_refusals_become_messages() {
    let stack = OpenStack::get();
    let user = stack.create_user().await;
    let ec2 = stack.create_ec2(&user).await;
    let app = TestApp::spawn().await;
    let console = swift_console(&app, &stack, &user, &ec2, &stack.region).await;
    let bucket = bucket_name("refusals");
    console.create(&bucket).await;
    let (status, error) = console.create(&bucket).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error.contains("BucketAlreadyOwnedByYou") || error.contains("BucketAlreadyExists"),
        "{error}"
    );

    let (status, page) = console.objects_page("no-such-bucket-here", "").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("NoSuchBucket"), "{page}");

    // Another project's bucket: Swift keeps buckets per project, so it is not there for this one.
    let other = stack.create_user().await;
    let others = stack.create_ec2(&other).await;
    let foreign = bucket_name("foreign");
    put_bucket(&stack, &others, &foreign);
    let (status, page) = console.objects_page(&foreign, "").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        page.contains(&format!("There is no bucket {foreign}")),
        "{page}"
    );
    console.delete_bucket(&bucket, &[]).await;

    // The EC2 pair deleted at Keystone: s3api answers with a signature refusal.
    let token = stack_admin_token(&stack).await;
    let deleted = reqwest::Client::new()
        .delete(format!(
            "{}/users/{}/credentials/OS-EC2/{}",
            stack.keystone_url, user.id, ec2.access_key
        ))
        .header("X-Auth-Token", token)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let (status, page) = console.buckets_page().await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("SignatureDoesNotMatch") || page.contains("InvalidAccessKeyId"),
        "{page}"
    );
    assert!(page.contains("Regenerate"), "{page}");
}

/// The case: the catalog, and so the endpoint, says `RegionOne` (what the RC file
/// needs) while the s3api signs with Swift's default `us-east-1`. The S3 region is learned when
/// the pair is imported; an endpoint that has lost it learns it again from the Test, and again
/// from the console. The S3 snippets sign with it while the RC file keeps the catalog's, and a
/// client signing with the catalog's region fails as the issue says.
#[tokio::test]
async fn the_s3_region_is_learned_from_the_s3api_and_kept_apart_from_the_cloud_region() {
    let stack = OpenStack::get();
    assert_ne!(stack.region, stack.s3_region, "the case of two regions");
    let user = stack.create_user().await;
    let ec2 = stack.create_ec2(&user).await;
    let mut portal = Portal::with_service(
        "openstack",
        &stack.keystone_url,
        "auth",
        &stack.region,
        &user.project,
        &S3Key {
            access_key: user.name.clone(),
            secret: user.password.clone(),
        },
    )
    .await;
    let password = portal.credential().to_string();
    portal
        .add_endpoint(
            "public",
            &stack.region,
            &format!("{}/v1/AUTH_{}", stack.swift_url, user.project_id),
        )
        .await;
    let db = portal.db().clone();
    let s3_region = async || -> String {
        sqlx::query_scalar("select s3_region from endpoints where interface = 'public'")
            .fetch_one(db.pool())
            .await
            .unwrap()
    };
    let forget = async || {
        sqlx::query("update endpoints set s3_region = ''")
            .execute(db.pool())
            .await
            .unwrap();
    };
    assert_eq!(s3_region().await, "", "nothing asked the s3api yet");

    // Learned when the pair is imported: one signed request, refused for its region.
    portal.import("ec2", &ec2).await;
    assert_eq!(s3_region().await, stack.s3_region, "learned at import");

    // The Test learns it: its first request is refused for the region, the second passes.
    forget().await;
    let console = portal.console();
    let page = format!("/projects/team/credentials?service={}", console.service);
    let response = console
        .who
        .submit(
            &page,
            &format!("/projects/team/credentials/{}/test", console.credential),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let said = crate::helpers::notice(&console.who.get_text(&page).await.1);
    assert!(said.contains(": OK"), "{said}");
    assert_eq!(s3_region().await, stack.s3_region, "learned by the Test");

    // And so does the console, from an endpoint that does not know it.
    forget().await;
    let bucket = bucket_name("region");
    let (status, notice) = console.create(&bucket).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{notice}");
    assert!(
        notice.contains(&format!("created in {}", stack.s3_region)),
        "{notice}"
    );
    assert_eq!(s3_region().await, stack.s3_region, "learned by the console");

    let config = portal.download("aws-config", "with").await;
    assert!(
        config.contains(&format!("region = {}\n", stack.s3_region)),
        "{config}"
    );
    assert!(!config.contains(&stack.region), "{config}");
    let rc = portal.download_of(&password, "openrc-v3", "with").await;
    assert!(
        rc.contains(&format!("export OS_REGION_NAME={}\n", stack.region)),
        "the RC file keeps the catalog's region: {rc}"
    );
    let credentials = portal.download("aws-credentials", "with").await;
    let home = Home::new();
    home.save(".aws/credentials", &credentials);
    home.save(".aws/config", &config);
    let aws = |args: &[&str]| {
        run(home
            .command("/usr/bin/aws")
            .args(["--profile", PROFILE, "--endpoint-url", &stack.swift_url])
            .args(args))
    };
    let listing = assert_ok(&aws(&["s3", "ls"]), "aws s3 ls with the learned region");
    assert!(listing.contains(&bucket), "{listing}");
    let made = bucket_name("made");
    assert_ok(
        &aws(&["s3", "mb", &format!("s3://{made}")]),
        "aws s3 mb with the learned region",
    );
    assert!(console.bucket_names().await.contains(&made));

    // Signed with the catalog's region, as the user did: both refused.
    let wrong = ["--region", stack.region.as_str()];
    let listed = aws(&[&wrong[..], &["s3", "ls"]].concat());
    let said = String::from_utf8_lossy(&listed.stderr);
    assert!(!listed.status.success(), "aws s3 ls in {}", stack.region);
    assert!(
        said.contains("AuthorizationHeaderMalformed")
            && said.contains(&format!("expecting '{}'", stack.s3_region)),
        "{said}"
    );
    let refused = bucket_name("refused");
    let mb = aws(&[&wrong[..], &["s3", "mb", &format!("s3://{refused}")]].concat());
    let said = String::from_utf8_lossy(&mb.stderr);
    assert!(!mb.status.success(), "aws s3 mb in {}", stack.region);
    assert!(
        said.contains("InvalidLocationConstraint") || said.contains("AuthorizationHeaderMalformed"),
        "{said}"
    );
    assert!(!console.bucket_names().await.contains(&refused));

    console.delete_bucket(&made, &[]).await;
    console.delete_bucket(&bucket, &[]).await;
}

/// Creates `bucket` with `key`, outside the portal.
fn put_bucket(stack: &OpenStack, key: &S3Key, bucket: &str) {
    let output = std::process::Command::new(crate::backends::test_venv().join("bin/python"))
        .args([
            "-c",
            "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4]).create_bucket(Bucket=sys.argv[5])",
            &stack.swift_url,
            &stack.s3_region,
            &key.access_key,
            &key.secret,
            bucket,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn stack_admin_token(stack: &OpenStack) -> String {
    stack.admin_token(&reqwest::Client::new()).await
}
