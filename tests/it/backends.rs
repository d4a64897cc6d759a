//! Real backends for the client tests, started by the test itself on loopback and stopped with
//! it: moto (an AWS IAM + S3 peer from PyPI, with signature checking on).

use std::{
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Where `scripts/install-test-deps.sh` puts the Python peers and clients from PyPI.
pub fn test_venv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process started in its own process group; dropping it stops the whole group, and only it.
pub struct Process(Child);

impl Process {
    pub fn start(command: &mut Command) -> Process {
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        Process(child)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// An S3 key pair that the backend knows.
pub struct S3Key {
    pub access_key: String,
    pub secret: String,
}

/// moto's server. Its first few requests go unchecked (to create the test user and its key);
/// every request after them must carry a valid AWS signature.
pub struct Moto {
    pub url: String,
    _process: Process,
}

/// Requests moto answers before it starts checking signatures.
const UNCHECKED_REQUESTS: &str = "3";

impl Moto {
    pub async fn start() -> (Moto, S3Key) {
        let server = test_venv().join("bin/moto_server");
        assert!(
            server.exists(),
            "{} is missing: run scripts/install-test-deps.sh",
            server.display()
        );
        let port = free_port();
        let process = Process::start(
            Command::new(&server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("INITIAL_NO_AUTH_ACTION_COUNT", UNCHECKED_REQUESTS),
        );
        let url = format!("http://127.0.0.1:{port}");
        let moto = Moto {
            url,
            _process: process,
        };
        moto.wait_until_listening().await;
        let key = moto.create_user_with_key().await;
        (moto, key)
    }

    async fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let address = self.url.trim_start_matches("http://").to_string();
        while tokio::net::TcpStream::connect(&address).await.is_err() {
            assert!(Instant::now() < deadline, "moto did not start in 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates an IAM user allowed everything, and an access key for it (the unchecked requests).
    async fn create_user_with_key(&self) -> S3Key {
        let client = reqwest::Client::new();
        let iam = |params: Vec<(&'static str, &'static str)>| {
            client
                .post(&self.url)
                // moto routes by the service named in the credential scope; the signature is not
                // checked for these first requests.
                .header(
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=SETUP/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                )
                .form(&[params, vec![("Version", "2010-05-08")]].concat())
                .send()
        };
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        for params in [
            vec![("Action", "CreateUser"), ("UserName", "tester")],
            vec![
                ("Action", "PutUserPolicy"),
                ("UserName", "tester"),
                ("PolicyName", "everything"),
                ("PolicyDocument", policy),
            ],
        ] {
            let response = iam(params).await.unwrap();
            assert!(response.status().is_success(), "moto refused the setup");
        }
        let body = iam(vec![("Action", "CreateAccessKey"), ("UserName", "tester")])
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let field = |name: &str| {
            let open = format!("<{name}>");
            let start = body.find(&open).unwrap() + open.len();
            body[start..start + body[start..].find('<').unwrap()].to_string()
        };
        S3Key {
            access_key: field("AccessKeyId"),
            secret: field("SecretAccessKey"),
        }
    }
}
