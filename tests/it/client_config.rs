//! "Configure your client" on View Credentials: placeholders until Show, audited Download and
//! Copy, the site picker, the variant without the secret, and who may download what.

use reqwest::StatusCode;

use crate::{
    credentials::{credential_ids, reveal, revealed_secret, team},
    helpers::{TestApp, attrs, csrf_token, page_text, raw_text},
};

async fn audit_rows(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("select action, detail from audit_events order by id")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn snippets_hold_a_placeholder_until_show_and_the_secret_after_it() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let html = team.member.get_text(&team.page).await.1;
    let id = credential_ids(&html).pop().unwrap();
    // The panel opens on request, one credential at a time.
    assert!(
        attrs(&html, "button[form=cfg][name=configure]", "value")
            .iter()
            .eq([&id]),
        "a button opens the panel"
    );
    assert!(!html.contains("aws_secret_access_key"));
    let html = team
        .member
        .get_text(&format!("{}&configure={id}", team.page))
        .await
        .1;
    for client in [
        "AWS CLI credentials",
        "rclone",
        "s3cmd",
        "boto3",
        "MinIO client",
        "curl",
    ] {
        assert!(html.contains(client), "a tab for {client}");
    }
    let snippet = |html: &str, snippet: &str| {
        raw_text(html, &format!("pre#snippet-{id}-{snippet}"))
            .unwrap_or_else(|| panic!("the {snippet} snippet is shown"))
    };
    assert!(
        snippet(&html, "aws-credentials").contains("aws_secret_access_key = <secret: press Show>")
    );
    // The endpoint is inside the snippets themselves, not only elsewhere on the page.
    assert!(
        snippet(&html, "aws-config").contains("endpoint_url = https://s3.example.org"),
        "the endpoint is filled in: {}",
        snippet(&html, "aws-config")
    );
    assert!(snippet(&html, "rclone").contains("endpoint = https://s3.example.org"));
    assert!(snippet(&html, "s3cmd").contains("host_base = \"s3.example.org\""));

    let (status, html) = reveal(&team.member, &team, &id).await;
    assert_eq!(status, StatusCode::OK);
    let secret = revealed_secret(&html, &id).unwrap();
    assert!(
        snippet(&html, "aws-credentials").contains(&format!("aws_secret_access_key = {secret}"))
    );
    assert!(!html.contains("secret: press Show"));
}

#[tokio::test]
async fn download_and_copy_of_a_snippet_with_the_secret_are_audited() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let html = team.member.get_text(&team.page).await.1;
    let id = credential_ids(&html).pop().unwrap();
    let token = csrf_token(&html).unwrap();
    let path = format!("/projects/team/credentials/{id}/config");
    let (status, shown) = reveal(&team.member, &team, &id).await;
    assert_eq!(status, StatusCode::OK);
    let secret = revealed_secret(&shown, &id).expect("Show reveals the secret");
    assert!(secret.len() >= 16, "a real secret: {secret}");
    let before = audit_rows(&app).await.len();

    let response = team
        .member
        .post(
            &path,
            &[
                ("csrf_token", &token),
                ("snippet", "rclone"),
                ("purpose", "download"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"rclone.conf\""
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.unwrap();
    assert!(text.contains("[team-object-storage]"), "{text}");
    // The secret in the download is the one Show reveals.
    let downloaded: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("secret_access_key = "))
        .collect();
    assert_eq!(
        downloaded,
        [secret.as_str()],
        "the download holds the real secret"
    );

    let copied = team
        .member
        .post(
            &path,
            &[
                ("csrf_token", &token),
                ("snippet", "aws-env"),
                ("purpose", "copy"),
            ],
        )
        .await;
    assert_eq!(copied.status(), StatusCode::OK);
    assert!(
        copied
            .text()
            .await
            .unwrap()
            .contains("export AWS_SECRET_ACCESS_KEY=")
    );

    // A snippet without the secret is not a reveal.
    let config = team
        .member
        .post(
            &path,
            &[
                ("csrf_token", &token),
                ("snippet", "aws-config"),
                ("purpose", "download"),
            ],
        )
        .await;
    assert_eq!(config.status(), StatusCode::OK);

    assert_eq!(
        audit_rows(&app).await[before..],
        [
            ("credential.download".to_string(), "rclone".to_string()),
            ("credential.copy".to_string(), "aws-env".to_string()),
        ]
    );
}

/// POSTs a download of `snippet` for credential `id`; returns the status.
async fn download_status(who: &crate::helpers::Visitor, page: &str, id: &str) -> StatusCode {
    let token = csrf_token(&who.get_text(page).await.1).unwrap();
    who.post(
        &format!("/projects/team/credentials/{id}/config"),
        &[
            ("csrf_token", &token),
            ("snippet", "aws-credentials"),
            ("purpose", "download"),
        ],
    )
    .await
    .status()
}

#[tokio::test]
async fn only_those_who_may_reveal_a_key_download_its_configuration() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.add(&team.owner, "owner key", &[]).await;
    let owner_key: String = sqlx::query_scalar("select id from credentials")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let (_, app_key) = team.add_app_key(&app, "app key").await;

    // The viewer sees the app key's snippets without the secret (no placeholder for a secret
    // they may not see), and no download form.
    let html = team
        .viewer
        .get_text(&format!("{}&configure={app_key}", team.page))
        .await
        .1;
    assert!(html.contains("AWS CLI config") && !html.contains("secret: press Show"));
    assert!(!html.contains(&format!("{app_key}/config")));
    assert_eq!(
        download_status(&team.viewer, &team.page, &app_key).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        download_status(&team.member, &team.page, &app_key).await,
        StatusCode::FORBIDDEN
    );
    // A member does not learn that an admin's own key exists.
    assert_eq!(
        download_status(&team.member, &team.page, &owner_key).await,
        StatusCode::NOT_FOUND
    );
    // Someone outside the project gets 404.
    let stranger = app.user("stranger@example.org", "Stranger").await;
    assert_eq!(
        download_status(&stranger, "/account", &app_key).await,
        StatusCode::NOT_FOUND
    );
    // Without the CSRF token nothing is revealed.
    let response = team
        .owner
        .post(
            &format!("/projects/team/credentials/{app_key}/config"),
            &[("snippet", "aws-credentials"), ("purpose", "download")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        !audit_rows(&app)
            .await
            .iter()
            .any(|(a, _)| a == "credential.download")
    );

    assert_eq!(
        download_status(&team.owner, &team.page, &app_key).await,
        StatusCode::OK
    );
    // An unknown snippet is a 404.
    let token = csrf_token(&team.owner.get_text(&team.page).await.1).unwrap();
    let response = team
        .owner
        .post(
            &format!("/projects/team/credentials/{app_key}/config"),
            &[
                ("csrf_token", &token),
                ("snippet", "nope"),
                ("purpose", "download"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_site_picker_and_the_variant_without_the_secret_change_the_snippets() {
    let app = TestApp::spawn().await;
    let team = team(&app, "openstack").await;
    let service_path = format!("/projects/team/services/{}", team.service);
    for (site, interface, url) in [
        ("Si Racha", "auth", "https://keystone.th.example.org/v3"),
        ("Bangkok", "public", "https://swift.bkk.example.org/v1"),
        ("Bangkok", "auth", "https://keystone.bkk.example.org/v3"),
    ] {
        let response = team
            .owner
            .submit(
                &service_path,
                &format!("{service_path}/endpoints"),
                &[
                    ("site", site),
                    ("region", "r1"),
                    ("interface", interface),
                    ("url", url),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    team.add(&team.member, "laptop", &[]).await;
    let id: String = sqlx::query_scalar("select id from credentials")
        .fetch_one(app.db.pool())
        .await
        .unwrap();

    let html = team
        .member
        .get_text(&format!("{}&site=Si+Racha&configure={id}", team.page))
        .await
        .1;
    assert!(html.contains("<select id=\"site\" name=\"site\">"));
    assert!(html.contains("export OS_AUTH_URL=https://keystone.th.example.org/v3"));
    assert!(
        html.contains("<span class=\"badge warn\">deprecated</span>"),
        "the v2.0 file is marked deprecated"
    );

    let html = team
        .member
        .get_text(&format!(
            "{}&site=Bangkok&variant=without&configure={id}",
            team.page
        ))
        .await
        .1;
    assert!(html.contains("export OS_AUTH_URL=https://keystone.bkk.example.org/v3"));
    assert!(html.contains("IFS= read -rs OS_PASSWORD"));
    assert!(html.contains("secure.yaml"));
    assert!(
        !html.contains("export OS_PASSWORD="),
        "the RC file asks instead"
    );
}

#[tokio::test]
async fn an_openstack_service_holds_ec2_key_pairs_with_s3_snippets() {
    let app = TestApp::spawn().await;
    let team = team(&app, "openstack").await;
    let response = team
        .add(&team.member, "s3 access", &[("kind", "ec2")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (id, access_key, kind): (String, String, String) =
        sqlx::query_as("select id, access_key, kind from credentials")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let html = team
        .member
        .get_text(&format!("{}&configure={id}", team.page))
        .await
        .1;
    assert!(html.contains("EC2, for the S3 API"));
    assert_eq!(kind, "ec2");
    assert_eq!(
        access_key.len(),
        20,
        "an S3-style key pair, not a user name"
    );
    // The S3 clients, pointed at the object store's address (the public endpoint's origin).
    assert!(html.contains("AWS CLI credentials") && html.contains("s3cmd"));
    assert!(html.contains("endpoint_url = https://s3.example.org"));

    // An S3 service has no EC2 pairs: the form says so and keeps what was typed.
    let s3 = TestApp::spawn().await;
    let s3_team = crate::credentials::team(&s3, "s3").await;
    let response = s3_team
        .add(&s3_team.member, "odd", &[("kind", "ec2")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("EC2 key pairs are for the S3 API of OpenStack services."));
    assert!(html.contains("value=\"odd\""));
}

/// A viewer, who may not see secrets, is not offered snippets "with the secret".
#[tokio::test]
async fn a_viewer_is_not_offered_the_secret_in_snippets() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    let (_, id) = team.add_app_key(&app, "pipeline").await;
    let (status, shown) = reveal(&team.owner, &team, &id).await;
    assert_eq!(status, StatusCode::OK);
    let secret = revealed_secret(&shown, &id).expect("the owner's Show reveals the secret");
    let access_key: String = sqlx::query_scalar("select access_key from credentials where id = $1")
        .bind(&id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let html = team.viewer.get_text(&team.page).await.1;
    assert!(
        credential_ids(&html) == [id.as_str()],
        "the app key is listed"
    );
    assert!(
        attrs(&html, "input[name=variant][value=with]", "value").is_empty(),
        "no choice of the secret"
    );

    let (status, html) = team
        .viewer
        .get_text(&format!("{}&configure={id}&variant=with", team.page))
        .await;

    assert_eq!(status, StatusCode::OK);
    let panel = format!("#credential-{id} details.configure");
    assert_eq!(
        attrs(&html, &panel, "open").len(),
        1,
        "the panel is shown to the viewer"
    );
    let environment = raw_text(&html, &format!("{panel} pre#snippet-{id}-aws-env"))
        .expect("the panel holds the Environment snippet");
    assert!(
        environment.contains(&format!("export AWS_ACCESS_KEY_ID={access_key}\n")),
        "the snippet names the access key: {environment}"
    );
    assert!(
        environment.contains("IFS= read -rs AWS_SECRET_ACCESS_KEY")
            && !environment.contains("AWS_SECRET_ACCESS_KEY="),
        "the secret is asked for, not written: {environment}"
    );
    assert!(
        raw_text(&html, &format!("pre#snippet-{id}-aws-credentials")).is_none(),
        "no snippet that holds the secret"
    );
    assert!(!html.contains(&secret), "the secret is not in the page");
    assert!(
        !html.contains("press Show"),
        "no placeholder for a secret they cannot see"
    );
}

/// An endpoint's S3 region set by hand, for an S3 API the portal cannot reach to learn it:
/// checked as a region, shown with the endpoint, and what the S3 snippets of an EC2 pair sign
/// with; the RC file keeps the endpoint's region, and a site without one keeps its region too.
#[tokio::test]
async fn an_s3_region_set_by_hand_is_what_the_s3_snippets_sign_with() {
    let app = TestApp::spawn().await;
    let team = team(&app, "openstack").await;
    let service_path = format!("/projects/team/services/{}", team.service);
    let add = async |interface: &str, url: &str, s3_region: &str| {
        let form = [
            ("site", "Bangkok"),
            ("region", "RegionOne"),
            ("interface", interface),
            ("url", url),
            ("s3_region", s3_region),
        ];
        team.owner
            .submit(&service_path, &format!("{service_path}/endpoints"), &form)
            .await
    };
    let swift = "https://swift.bkk.example.org/v1/AUTH_lab";
    let response = add("public", swift, "us east 1").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Use at most 64 letters, digits, - and _"),
        "the form says what is wrong"
    );
    assert!(html.contains("value=\"us east 1\"") && html.contains(&format!("value=\"{swift}\"")));
    let response = add("public", swift, " us-east-1 ").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = add("auth", "https://keystone.bkk.example.org/v3", "").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = team.owner.get_text(&service_path).await;
    assert!(
        page_text(&html).contains("RegionOne S3: us-east-1"),
        "{}",
        page_text(&html)
    );
    let (_, html) = team.member.get_text("/projects/team/endpoints").await;
    assert!(page_text(&html).contains("RegionOne S3: us-east-1"));

    team.add(&team.member, "s3 tools", &[("kind", "ec2")]).await;
    team.add(&team.member, "laptop", &[]).await;
    let id_of = async |name: &str| -> String {
        sqlx::query_scalar("select id from credentials where name = $1")
            .bind(name)
            .fetch_one(app.db.pool())
            .await
            .unwrap()
    };
    let (ec2, password) = (id_of("s3 tools").await, id_of("laptop").await);
    let snippets = async |site: &str, id: &str| -> String {
        team.member
            .get_text(&format!("{}&site={site}&configure={id}", team.page))
            .await
            .1
    };
    let snippet = |html: &str, id: &str, snippet: &str| {
        raw_text(html, &format!("pre#snippet-{id}-{snippet}"))
            .unwrap_or_else(|| panic!("the {snippet} snippet is shown"))
    };
    let html = snippets("Bangkok", &ec2).await;
    assert!(snippet(&html, &ec2, "aws-config").contains("region = us-east-1\n"));
    for name in ["aws-config", "s3cmd", "rclone", "boto3", "curl"] {
        let text = snippet(&html, &ec2, name);
        assert!(
            text.contains("us-east-1") && !text.contains("RegionOne"),
            "{name}: {text}"
        );
    }
    let html = snippets("Bangkok", &password).await;
    assert!(
        snippet(&html, &password, "openrc-v3").contains("export OS_REGION_NAME=RegionOne\n"),
        "the RC file keeps the endpoint's region"
    );
    let html = snippets("Si+Racha", &ec2).await;
    assert!(snippet(&html, &ec2, "aws-config").contains("region = th-1\n"));
}
