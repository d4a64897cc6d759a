//! The S3 and API-key snippets, downloaded from the portal and saved as a user would, work with
//! the real client against moto (signatures checked), and with a broken secret the same client
//! fails: the AWS CLI's credentials and config files, the environment file (with and without the
//! secret), rclone, s3cmd, boto3 and curl; the API-key snippets with curl against a small server.
//!
//! Not covered here: the MinIO client snippet (`mc alias set ...`). `mc` is not installed by
//! `scripts/install-test-deps.sh` (Debian does not package it), so no test runs it against a
//! server; only the property test in `snippet_parsers.rs` checks that snippet, by running it with
//! `mc` stubbed and comparing the arguments the stub receives.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use reqwest::StatusCode;

use crate::{
    backends::{Moto, S3Key, test_venv},
    credentials::credential_ids,
    helpers::{TestApp, Visitor, csrf_token},
};

/// The profile, remote and alias name the snippets use for project `team`, service `Object storage`.
const PROFILE: &str = "team-object-storage";

/// A portal whose project `team` has an S3 service at `endpoint`, with `key` imported.
pub struct Portal {
    app: TestApp,
    owner: Visitor,
    credential: String,
    page: String,
    service_path: String,
}

impl Portal {
    pub async fn with_key(kind: &str, endpoint: &str, interface: &str, key: &S3Key) -> Portal {
        Portal::with_service(kind, endpoint, interface, "us-east-1", "team", key).await
    }

    /// The same, naming the endpoint's region and (for OpenStack) the project to sign in to.
    pub async fn with_service(
        kind: &str,
        endpoint: &str,
        interface: &str,
        region: &str,
        os_project: &str,
        key: &S3Key,
    ) -> Portal {
        let app = TestApp::spawn().await;
        let owner = app.admin().await;
        app.project(&owner, "team", "").await;
        let service_path = app
            .service(&owner, kind, "Object storage", os_project)
            .await;
        app.endpoint(
            &owner,
            &service_path,
            ["Loopback", region, interface, endpoint],
        )
        .await;
        let service = service_path.rsplit('/').next().unwrap();
        let page = format!("/projects/team/credentials?service={service}");
        let response = owner
            .submit(
                &page,
                "/projects/team/credentials",
                &[
                    ("service_id", service),
                    ("name", "tests"),
                    ("mode", "import"),
                    ("access_key", &key.access_key),
                    ("secret", &key.secret),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "key imported");
        let html = owner.get_text(&page).await.1;
        let credential = credential_ids(&html)
            .pop()
            .expect("the imported key is shown");
        Portal {
            app,
            owner,
            credential,
            page,
            service_path,
        }
    }

    pub async fn add_endpoint(&self, interface: &str, region: &str, url: &str) {
        self.app
            .endpoint(
                &self.owner,
                &self.service_path,
                ["Loopback", region, interface, url],
            )
            .await;
    }

    /// Imports `key` as a credential of type `kind`; downloads are of it from now on.
    pub async fn import(&mut self, kind: &str, key: &S3Key) {
        let service = self.service_path.rsplit('/').next().unwrap().to_string();
        let response = self
            .owner
            .submit(
                &self.page,
                "/projects/team/credentials",
                &[
                    ("service_id", &service),
                    ("name", kind),
                    ("kind", kind),
                    ("mode", "import"),
                    ("access_key", &key.access_key),
                    ("secret", &key.secret),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "key imported");
        self.credential = sqlx::query_scalar("select id from credentials where access_key = $1")
            .bind(&key.access_key)
            .fetch_one(self.app.db.pool())
            .await
            .unwrap();
    }

    /// The Buckets console of the portal's service, for its owner, acting with the credential
    /// imported last.
    pub fn console(&self) -> crate::buckets::Console {
        crate::buckets::Console {
            who: Visitor {
                base: self.owner.base.clone(),
                client: self.owner.client.clone(),
                jar: self.owner.jar.clone(),
            },
            service: self.service_path.rsplit('/').next().unwrap().to_string(),
            credential: self.credential.clone(),
        }
    }

    pub fn db(&self) -> &keyport::db::Db {
        &self.app.db
    }

    /// The id of the credential downloads are of.
    pub fn credential(&self) -> &str {
        &self.credential
    }

    /// The snippet as the Download button gives it.
    pub async fn download(&self, snippet: &str, variant: &str) -> String {
        self.download_of(&self.credential, snippet, variant).await
    }

    /// The snippet of credential `id` as its Download button gives it.
    pub async fn download_of(&self, id: &str, snippet: &str, variant: &str) -> String {
        let token = csrf_token(&self.owner.get_text(&self.page).await.1).unwrap();
        let response = self
            .owner
            .post(
                &format!("/projects/team/credentials/{id}/config"),
                &[
                    ("csrf_token", &token),
                    ("snippet", snippet),
                    ("variant", variant),
                    ("purpose", "download"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "download of {snippet}");
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(disposition.starts_with("attachment; filename="));
        response.text().await.unwrap()
    }
}

/// A user's home directory with saved files.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn save(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `program` with this HOME and none of the caller's AWS or OpenStack settings.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.current_dir(self.path()).env("HOME", self.path());
        for (name, _) in std::env::vars() {
            if name.starts_with("AWS_") || name.starts_with("OS_") || name.starts_with("RCLONE_") {
                command.env_remove(name);
            }
        }
        command.env("AWS_EC2_METADATA_DISABLED", "true");
        command
    }

    /// Runs a bash script in this HOME, with `stdin` as its input.
    pub fn bash(&self, script: &str, stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command("bash")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command.get_program()))
}

#[track_caller]
pub fn assert_ok(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
pub fn assert_refused(output: &Output, what: &str) {
    assert!(
        !output.status.success(),
        "{what} worked with a broken secret: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// The same secret with its last character changed: the shape stays, the signature breaks.
pub fn broken(text: &str, secret: &str) -> String {
    let mut wrong = secret[..secret.len() - 1].to_string();
    wrong.push(if secret.ends_with('A') { 'B' } else { 'A' });
    assert!(text.contains(secret), "the snippet holds the secret");
    text.replace(secret, &wrong)
}

/// Debian's AWS CLI, not a same-named shim earlier on PATH.
pub const AWS: &str = "/usr/bin/aws";

fn python() -> String {
    test_venv().join("bin/python").display().to_string()
}

#[tokio::test]
async fn aws_cli_works_with_the_credentials_and_config_files() {
    let (moto, key) = Moto::start().await;
    let portal = Portal::with_key("s3", &moto.url, "public", &key).await;
    let credentials = portal.download("aws-credentials", "with").await;
    let config = portal.download("aws-config", "with").await;
    let home = Home::new();
    home.save(".aws/config", &config);
    home.save(".aws/credentials", &credentials);
    home.save("hello.txt", "hello from keyport\n");

    // AWS CLI 2.9 (Debian 12) reads endpoint_url from the config only from 2.13 on, so the
    // command line names it, as the snippet's usage says.
    let aws = |args: &[&str]| {
        run(home
            .command(AWS)
            .args(["--profile", PROFILE, "--endpoint-url", &moto.url])
            .args(args))
    };
    assert_ok(&aws(&["s3", "mb", "s3://keyport-aws"]), "aws s3 mb");
    assert_ok(
        &aws(&["s3", "cp", "hello.txt", "s3://keyport-aws/hello.txt"]),
        "aws s3 cp",
    );
    let listing = assert_ok(&aws(&["s3", "ls", "s3://keyport-aws"]), "aws s3 ls");
    assert!(listing.contains("hello.txt"), "{listing}");

    // A current botocore takes the endpoint and region from the config file alone.
    let script = format!(
        "import boto3\nprint([b['Name'] for b in boto3.Session(profile_name='{PROFILE}').client('s3').list_buckets()['Buckets']])"
    );
    let output = run(home.command(&python()).args(["-c", &script]));
    assert!(assert_ok(&output, "boto3 with the config files").contains("keyport-aws"));

    home.save(".aws/credentials", &broken(&credentials, &key.secret));
    assert_refused(&aws(&["s3", "ls"]), "aws s3 ls");
}

#[tokio::test]
async fn the_environment_snippets_work_with_and_without_the_secret_in_them() {
    let (moto, key) = Moto::start().await;
    let portal = Portal::with_key("s3", &moto.url, "public", &key).await;
    let with = portal.download("aws-env", "with").await;
    let without = portal.download("aws-env", "without").await;
    assert!(!without.contains(&key.secret));
    let home = Home::new();
    home.save("aws-env.sh", &with);
    home.save("aws-env-ask.sh", &without);
    let command = format!(
        "source ./aws-env.sh && {AWS} --endpoint-url \"$AWS_ENDPOINT_URL\" s3 mb s3://keyport-env && {AWS} --endpoint-url \"$AWS_ENDPOINT_URL\" s3 ls"
    );
    assert!(assert_ok(&home.bash(&command, ""), "aws with aws-env.sh").contains("keyport-env"));

    // The variant without the secret asks for it; here it comes on standard input.
    let ask =
        format!("source ./aws-env-ask.sh && {AWS} --endpoint-url \"$AWS_ENDPOINT_URL\" s3 ls");
    let output = home.bash(&ask, &format!("{}\n", key.secret));
    assert!(assert_ok(&output, "aws with the secret typed in").contains("keyport-env"));
    assert_refused(
        &home.bash(&ask, "not-the-secret\n"),
        "aws with a wrong secret",
    );

    home.save("aws-env.sh", &broken(&with, &key.secret));
    assert_refused(&home.bash(&command, ""), "aws with a broken aws-env.sh");
}

#[tokio::test]
async fn rclone_lists_buckets_with_the_remote_from_the_snippet() {
    let (moto, key) = Moto::start().await;
    let portal = Portal::with_key("s3", &moto.url, "public", &key).await;
    let with = portal.download("rclone", "with").await;
    let home = Home::new();
    let conf = home.save(".config/rclone/rclone.conf", &with);
    let rclone = |args: &[&str], env: &[(&str, &str)]| {
        run(home
            .command("rclone")
            .args(["--config", conf.to_str().unwrap()])
            .args(args)
            .envs(env.iter().copied()))
    };
    assert_ok(
        &rclone(&["mkdir", &format!("{PROFILE}:keyport-rclone")], &[]),
        "rclone mkdir",
    );
    let listing = assert_ok(&rclone(&["lsd", &format!("{PROFILE}:")], &[]), "rclone lsd");
    assert!(listing.contains("keyport-rclone"), "{listing}");

    // Without the secret: the remote takes the keys from the environment.
    std::fs::write(&conf, portal.download("rclone", "without").await).unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", key.access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", key.secret.as_str()),
    ];
    let listing = assert_ok(
        &rclone(&["lsd", &format!("{PROFILE}:")], &env),
        "rclone lsd, env_auth",
    );
    assert!(listing.contains("keyport-rclone"), "{listing}");

    std::fs::write(&conf, broken(&with, &key.secret)).unwrap();
    assert_refused(&rclone(&["lsd", &format!("{PROFILE}:")], &[]), "rclone lsd");
}

#[tokio::test]
async fn s3cmd_works_with_the_s3cfg_from_the_snippet() {
    let (moto, key) = Moto::start().await;
    let portal = Portal::with_key("s3", &moto.url, "public", &key).await;
    let with = portal.download("s3cmd", "with").await;
    let home = Home::new();
    home.save(".s3cfg", &with);
    let s3cmd = |args: &[&str], env: &[(&str, &str)]| {
        run(home.command("s3cmd").args(args).envs(env.iter().copied()))
    };
    assert_ok(&s3cmd(&["mb", "s3://keyport-s3cmd"], &[]), "s3cmd mb");
    let listing = assert_ok(&s3cmd(&["ls"], &[]), "s3cmd ls");
    assert!(listing.contains("s3://keyport-s3cmd"), "{listing}");

    home.save(".s3cfg", &portal.download("s3cmd", "without").await);
    let env = [
        ("AWS_ACCESS_KEY_ID", key.access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", key.secret.as_str()),
    ];
    let listing = assert_ok(&s3cmd(&["ls"], &env), "s3cmd ls, keys from the environment");
    assert!(listing.contains("s3://keyport-s3cmd"), "{listing}");

    home.save(".s3cfg", &broken(&with, &key.secret));
    assert_refused(&s3cmd(&["ls"], &[]), "s3cmd ls");
}

#[tokio::test]
async fn the_boto3_script_lists_the_buckets() {
    let (moto, key) = Moto::start().await;
    let portal = Portal::with_key("s3", &moto.url, "public", &key).await;
    let with = portal.download("boto3", "with").await;
    let home = Home::new();
    home.save("hello.txt", "hello\n");
    // A bucket to list, made with the AWS CLI and the environment snippet.
    home.save("aws-env.sh", &portal.download("aws-env", "with").await);
    assert_ok(
        &home.bash(
            &format!("source ./aws-env.sh && {AWS} --endpoint-url \"$AWS_ENDPOINT_URL\" s3 mb s3://keyport-boto3"),
            "",
        ),
        "aws s3 mb",
    );
    let script = home.save("s3_example.py", &with);
    let output = run(home.command(&python()).arg(&script));
    assert!(assert_ok(&output, "python3 s3_example.py").contains("keyport-boto3"));

    let script = home.save(
        "s3_example_env.py",
        &portal.download("boto3", "without").await,
    );
    let output = run(home
        .command(&python())
        .arg(&script)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret));
    assert!(assert_ok(&output, "the script without the secret").contains("keyport-boto3"));

    let script = home.save("s3_example.py", &broken(&with, &key.secret));
    assert_refused(
        &run(home.command(&python()).arg(&script)),
        "python3 s3_example.py",
    );
}

#[tokio::test]
async fn the_curl_example_lists_the_buckets() {
    let (moto, key) = Moto::start().await;
    let portal = Portal::with_key("s3", &moto.url, "public", &key).await;
    let with = portal.download("curl", "with").await;
    let home = Home::new();
    home.save("curl-example.sh", &with);
    let output = home.bash("sh ./curl-example.sh", "");
    assert!(assert_ok(&output, "the curl example").contains("ListAllMyBucketsResult"));

    // Without the secret, curl asks for it; with no terminal (setsid) it reads standard input.
    home.save("curl-ask.sh", &portal.download("curl", "without").await);
    let output = home.bash("setsid -w sh ./curl-ask.sh", &format!("{}\n", key.secret));
    assert!(assert_ok(&output, "curl with the secret typed in").contains("ListAllMyBucketsResult"));
    assert_refused(
        &home.bash("setsid -w sh ./curl-ask.sh", "not-the-secret\n"),
        "curl with a wrong secret typed in",
    );

    home.save("curl-example.sh", &broken(&with, &key.secret));
    assert_refused(&home.bash("sh ./curl-example.sh", ""), "the curl example");
}

/// A small API on loopback that answers 200 to HTTP Basic with `key_id:key`, 401 otherwise.
async fn api_server(key_id: &str, key: &str) -> String {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key_id}:{key}"))
    );
    let app = axum::Router::new().route(
        "/v1/ping",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let ok = headers
                .get("authorization")
                .is_some_and(|value| value.as_bytes() == expected.as_bytes());
            async move {
                if ok {
                    (axum::http::StatusCode::OK, "pong")
                } else {
                    (axum::http::StatusCode::UNAUTHORIZED, "who are you?")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/ping", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

// Multi-threaded: the API answers while this test waits for curl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_snippets_authenticate_with_curl() {
    let key = S3Key {
        access_key: "billing-reports".into(),
        secret: "kp-2f9'Q$x`y\"z".into(),
    };
    let url = api_server(&key.access_key, &key.secret).await;
    let portal = Portal::with_key("api", &url, "public", &key).await;
    let home = Home::new();
    let curl = portal.download("api-curl", "with").await;
    home.save("api-curl.sh", &curl);
    assert_eq!(
        assert_ok(&home.bash("sh ./api-curl.sh", ""), "the curl example"),
        "pong"
    );
    home.save(
        "api-curl-ask.sh",
        &portal.download("api-curl", "without").await,
    );
    let output = home.bash(
        "setsid -w sh ./api-curl-ask.sh",
        &format!("{}\n", key.secret),
    );
    assert_eq!(assert_ok(&output, "curl with the key typed in"), "pong");
    home.save("api-env.sh", &portal.download("api-env", "with").await);
    let output = home.bash(
        "source ./api-env.sh && curl --fail --user \"$TEAM_OBJECT_STORAGE_KEY_ID:$TEAM_OBJECT_STORAGE_KEY\" \"$TEAM_OBJECT_STORAGE_URL\"",
        "",
    );
    assert_eq!(assert_ok(&output, "curl with api-env.sh"), "pong");

    // The secret is quoted in the file; change one character of it.
    assert!(curl.contains("kp-2f9"));
    home.save("api-curl.sh", &curl.replacen("kp-2f9", "kp-2f8", 1));
    assert_refused(&home.bash("sh ./api-curl.sh", ""), "the curl example");
}
