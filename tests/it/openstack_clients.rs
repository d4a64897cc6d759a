//! The OpenStack snippets, downloaded from the portal and saved as a user would, work with the
//! real clients (`openstack`, `swift`) against Keystone v3 and Swift from Debian's packages;
//! with a broken password the same client fails.

use crate::{
    backends::{OpenStack, OpenStackUser, S3Key},
    s3_clients::{Home, Portal, assert_ok, assert_refused, run},
};

/// The cloud name the snippets use for project `team`, service `Object storage`.
const CLOUD: &str = "team-object-storage";
/// Debian's clients, not same-named shims earlier on PATH.
const OPENSTACK: &str = "/usr/bin/openstack";

async fn portal_for(stack: &OpenStack, user: &OpenStackUser) -> Portal {
    let key = S3Key {
        access_key: user.name.clone(),
        secret: user.password.clone(),
    };
    Portal::with_service(
        "openstack",
        &stack.keystone_url,
        "auth",
        &stack.region,
        &user.project,
        &key,
    )
    .await
}

/// The RC file with a wrong password: the line that sets it is replaced.
fn with_wrong_password(rc: &str) -> String {
    rc.lines()
        .map(|line| {
            if line.starts_with("export OS_PASSWORD=") {
                "export OS_PASSWORD=wrong-password".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_keystone_v3_rc_file_issues_a_token() {
    let stack = OpenStack::get();
    let user = stack.create_user().await;
    let portal = portal_for(&stack, &user).await;
    let rc = portal.download("openrc-v3", "with").await;
    let home = Home::new();
    home.save("openrc.sh", &rc);
    let issue = format!("source ./openrc.sh && {OPENSTACK} token issue -f value -c project_id");
    assert_ok(&home.bash(&issue, ""), "openstack token issue");

    // The variant without the password asks for it.
    home.save(
        "openrc-ask.sh",
        &portal.download("openrc-v3", "without").await,
    );
    let ask = format!("source ./openrc-ask.sh && {OPENSTACK} token issue -f value -c project_id");
    assert_ok(
        &home.bash(&ask, &format!("{}\n", user.password)),
        "openstack token issue with the password typed in",
    );
    assert_refused(
        &home.bash(&ask, "wrong-password\n"),
        "a wrong password typed in",
    );

    home.save("openrc.sh", &with_wrong_password(&rc));
    assert_refused(&home.bash(&issue, ""), "openstack token issue");
}

#[tokio::test]
async fn clouds_yaml_and_secure_yaml_issue_a_token() {
    let stack = OpenStack::get();
    let user = stack.create_user().await;
    let portal = portal_for(&stack, &user).await;
    let home = Home::new();
    let issue = || {
        run(home.command(OPENSTACK).args([
            "--os-cloud",
            CLOUD,
            "token",
            "issue",
            "-f",
            "value",
            "-c",
            "id",
        ]))
    };
    let clouds = portal.download("clouds-yaml", "with").await;
    home.save(".config/openstack/clouds.yaml", &clouds);
    assert_ok(&issue(), "openstack --os-cloud with clouds.yaml");

    // The password apart, in secure.yaml beside clouds.yaml.
    let without = portal.download("clouds-yaml", "without").await;
    assert!(!without.contains("password"));
    home.save(".config/openstack/clouds.yaml", &without);
    assert_refused(&issue(), "clouds.yaml without secure.yaml");
    home.save(
        ".config/openstack/secure.yaml",
        &portal.download("secure-yaml", "without").await,
    );
    assert_ok(
        &issue(),
        "openstack --os-cloud with clouds.yaml and secure.yaml",
    );

    std::fs::remove_file(home.path().join(".config/openstack/secure.yaml")).unwrap();
    let quoted = clouds
        .lines()
        .find(|line| line.trim_start().starts_with("password:"))
        .unwrap()
        .to_string();
    home.save(
        ".config/openstack/clouds.yaml",
        &clouds.replace(&quoted, "      password: \"wrong-password\""),
    );
    assert_refused(&issue(), "openstack --os-cloud with a wrong password");
}

#[tokio::test]
async fn the_swift_command_lists_the_containers() {
    let stack = OpenStack::get();
    let user = stack.create_user().await;
    let portal = portal_for(&stack, &user).await;
    let home = Home::new();
    // A container to list, made with the RC file.
    home.save("openrc.sh", &portal.download("openrc-v3", "with").await);
    assert_ok(
        &home.bash("source ./openrc.sh && swift post keyport-swift", ""),
        "swift post",
    );
    let command = portal.download("swift", "with").await;
    home.save("swift-list.sh", &command);
    let listing = assert_ok(&home.bash("bash ./swift-list.sh", ""), "swift list");
    assert_eq!(listing.trim(), "keyport-swift");

    home.save("swift-ask.sh", &portal.download("swift", "without").await);
    let listing = assert_ok(
        &home.bash("bash ./swift-ask.sh", &format!("{}\n", user.password)),
        "swift list with the password typed in",
    );
    assert_eq!(listing.trim(), "keyport-swift");

    let quoted = command
        .lines()
        .find(|line| line.trim_start().starts_with("--os-password"))
        .unwrap()
        .to_string();
    home.save(
        "swift-list.sh",
        &command.replace(&quoted, "  --os-password wrong-password \\"),
    );
    assert_refused(&home.bash("bash ./swift-list.sh", ""), "swift list");
}

/// The cloud's catalog says `RegionOne` and its s3api signs with `us-east-1`: the snippets, as
/// downloaded right after the pair is imported (no Test pressed, no console opened), sign with
/// the s3api's region while the RC file keeps the catalog's.
#[tokio::test]
async fn an_ec2_key_pair_works_with_the_s3_api_of_swift() {
    let stack = OpenStack::get();
    assert_ne!(stack.region, stack.s3_region, "the case of two regions");
    let user = stack.create_user().await;
    let ec2 = stack.create_ec2(&user).await;
    let mut portal = portal_for(&stack, &user).await;
    let password = portal.credential().to_string();
    portal
        .add_endpoint(
            "public",
            &stack.region,
            &format!("{}/v1/AUTH_%(project_id)s", stack.swift_url),
        )
        .await;
    portal.import("ec2", &ec2).await;
    let credentials = portal.download("aws-credentials", "with").await;
    let config = portal.download("aws-config", "with").await;
    assert!(config.contains(&format!("endpoint_url = {}", stack.swift_url)));
    assert!(
        config.contains(&format!("region = {}\n", stack.s3_region)),
        "{config}"
    );
    let rc = portal.download_of(&password, "openrc-v3", "with").await;
    assert!(
        rc.contains(&format!("export OS_REGION_NAME={}\n", stack.region)),
        "{rc}"
    );
    let home = Home::new();
    home.save(".aws/credentials", &credentials);
    home.save(".aws/config", &config);
    let aws = |args: &[&str]| {
        run(home
            .command("/usr/bin/aws")
            .args(["--profile", CLOUD, "--endpoint-url", &stack.swift_url])
            .args(args))
    };
    assert_ok(
        &aws(&["s3", "mb", "s3://keyport-ec2"]),
        "aws s3 mb through s3api",
    );
    let listing = assert_ok(&aws(&["s3", "ls"]), "aws s3 ls through s3api");
    assert!(listing.contains("keyport-ec2"), "{listing}");

    home.save(".s3cfg", &portal.download("s3cmd", "with").await);
    let listing = assert_ok(
        &run(home.command("s3cmd").arg("ls")),
        "s3cmd ls through s3api",
    );
    assert!(listing.contains("s3://keyport-ec2"), "{listing}");

    let conf = home.save("rclone.conf", &portal.download("rclone", "with").await);
    let listing = assert_ok(
        &run(home.command("rclone").args([
            "--config",
            conf.to_str().unwrap(),
            "lsd",
            &format!("{CLOUD}:"),
        ])),
        "rclone lsd through s3api",
    );
    assert!(listing.contains("keyport-ec2"), "{listing}");

    let script = home.save("s3_example.py", &portal.download("boto3", "with").await);
    let python = crate::backends::test_venv().join("bin/python");
    let listing = assert_ok(
        &run(home.command(python.to_str().unwrap()).arg(&script)),
        "boto3 through s3api",
    );
    assert!(listing.contains("keyport-ec2"), "{listing}");

    home.save("curl-example.sh", &portal.download("curl", "with").await);
    let listing = assert_ok(&home.bash("sh ./curl-example.sh", ""), "curl through s3api");
    assert!(listing.contains("keyport-ec2"), "{listing}");

    home.save(
        ".aws/credentials",
        &crate::s3_clients::broken(&credentials, &ec2.secret),
    );
    assert_refused(&aws(&["s3", "ls"]), "aws s3 ls with a broken EC2 secret");
}
