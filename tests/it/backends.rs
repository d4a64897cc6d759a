//! Real backends for the client tests, started by the test itself on loopback and stopped with
//! it: moto (an AWS IAM + S3 peer from PyPI, with signature checking on).

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
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
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
        Process(child)
    }
}

impl Process {
    /// Sends `signal` to the process and its children.
    pub fn signal(&self, signal: &str) {
        let group = format!("-{}", self.0.id());
        let status = Command::new("kill").args([signal, "--", &group]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {signal}");
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
    /// Stops moto from answering (SIGSTOP), as a backend that hangs.
    pub fn pause(&self) {
        self._process.signal("-STOP");
    }

    pub fn resume(&self) {
        self._process.signal("-CONT");
    }

    pub async fn start() -> (Moto, S3Key) {
        let moto = Moto::spawn(Some(UNCHECKED_REQUESTS)).await;
        let key = moto.create_user_with_key().await;
        (moto, key)
    }

    /// moto's server that checks no signature: any key works, for tests of who may act rather
    /// than of what S3 accepts.
    pub async fn start_open() -> Moto {
        Moto::spawn(None).await
    }

    async fn spawn(unchecked_requests: Option<&str>) -> Moto {
        let server = test_venv().join("bin/moto_server");
        assert!(
            server.exists(),
            "{} is missing: run scripts/install-test-deps.sh",
            server.display()
        );
        // moto's server through a wrapper that refuses Inactive access keys, as AWS does.
        let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/moto_server.py");
        let port = free_port();
        let mut command = Command::new(test_venv().join("bin/python3"));
        command
            .arg(&wrapper)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(count) = unchecked_requests {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", count);
        }
        let url = format!("http://127.0.0.1:{port}");
        let moto = Moto {
            url,
            _process: Process::start(&mut command),
        };
        moto.wait_until_listening().await;
        moto
    }

    /// The backend settings form of an `aws_iam` service pointed at this moto, with `admin`'s
    /// key, giving the users Keyport creates the policy `user_policy`.
    pub fn iam_settings<'a>(
        &'a self,
        admin: &'a S3Key,
        user_policy: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("driver", "aws_iam"),
            ("endpoint", &self.url),
            ("region", "us-east-1"),
            ("access_key", &admin.access_key),
            ("secret_key", &admin.secret),
            ("user_policy", user_policy),
        ]
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

/// Keystone v3 + Swift from Debian's packages (scripts/test-openstack.sh). The test command
/// starts one stack for the whole run and names its settings in `KEYPORT_TEST_OPENSTACK`; a test
/// run without it starts a stack of its own, stopped when the test ends.
pub struct OpenStack {
    pub keystone_url: String,
    pub swift_url: String,
    /// A proxy to the same Swift with no authentication, for filling buckets quickly.
    swift_fill_url: String,
    /// The region of Keystone's catalog: endpoints registered in Keyport say it, as a real
    /// catalog would, and the OpenStack clients use it.
    pub region: String,
    /// The region Swift's s3api signs with (its default location, not the catalog's): what an
    /// S3 client must sign with.
    pub s3_region: String,
    pub admin_user: String,
    pub admin_password: String,
    pub admin_project: String,
    own_stack: Option<(PathBuf, tempfile::TempDir)>,
}

/// A Keystone user with the member role in a project of its own.
pub struct OpenStackUser {
    pub name: String,
    pub password: String,
    pub project: String,
    pub id: String,
    pub project_id: String,
}

impl Drop for OpenStack {
    fn drop(&mut self) {
        if let Some((dir, _)) = &self.own_stack {
            let _ = Command::new(repository().join("scripts/test-openstack.sh"))
                .arg("stop")
                .arg(dir)
                .status();
        }
    }
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl OpenStack {
    pub fn get() -> OpenStack {
        let (settings, own_stack) = match std::env::var_os("KEYPORT_TEST_OPENSTACK") {
            Some(path) => (PathBuf::from(path), None),
            None => {
                let holder = tempfile::tempdir().unwrap();
                let dir = holder.path().join("stack");
                // Seven consecutive ports from a random base; the script fails if one is taken.
                let base = 20_000 + (std::process::id() % 2_000) as u16 * 7;
                let output = Command::new(repository().join("scripts/test-openstack.sh"))
                    .arg("start")
                    .arg(&dir)
                    .arg(base.to_string())
                    .output()
                    .unwrap();
                assert!(
                    output.status.success(),
                    "the OpenStack test stack did not start: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                (dir.join("stack.env"), Some((dir, holder)))
            }
        };
        let text = std::fs::read_to_string(&settings)
            .unwrap_or_else(|e| panic!("{}: {e}", settings.display()));
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} missing in {}", settings.display()))
                .to_string()
        };
        OpenStack {
            keystone_url: value("KEYSTONE_URL"),
            swift_url: value("SWIFT_URL"),
            swift_fill_url: value("SWIFT_FILL_URL"),
            region: value("REGION"),
            s3_region: value("S3_REGION"),
            admin_user: value("ADMIN_USER"),
            admin_password: value("ADMIN_PASSWORD"),
            admin_project: value("ADMIN_PROJECT"),
            own_stack,
        }
    }

    /// The backend settings form of a `keystone` service with this stack's admin.
    pub fn keystone_settings(&self) -> Vec<(&str, &str)> {
        vec![
            ("driver", "keystone"),
            ("auth_url", &self.keystone_url),
            ("username", &self.admin_user),
            ("password", &self.admin_password),
            ("user_domain", "Default"),
            ("project", &self.admin_project),
            ("project_domain", "Default"),
        ]
    }

    pub async fn admin_token(&self, client: &reqwest::Client) -> String {
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.admin_user, "domain": {"name": "Default"}, "password": self.admin_password}}},
            "scope": {"project": {"name": self.admin_project, "domain": {"name": "Default"}}}
        }});
        let response = client
            .post(format!("{}/auth/tokens", self.keystone_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "Keystone admin sign-in: {}",
            response.status()
        );
        response.headers()["x-subject-token"]
            .to_str()
            .unwrap()
            .to_string()
    }

    /// Creates a project and a user with the member role in it, named uniquely for this test.
    pub async fn create_user(&self) -> OpenStackUser {
        let client = reqwest::Client::new();
        let token = self.admin_token(&client).await;
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let mut user = OpenStackUser {
            name: format!("user-{}", &unique[..12]),
            // Shell, INI and YAML syntax in the password: the snippets must carry it intact.
            password: format!("p'a\"s$s `w#rd; {}", &unique[12..24]),
            project: format!("project-{}", &unique[..12]),
            id: String::new(),
            project_id: String::new(),
        };
        let post = |path: &str, body: serde_json::Value| {
            client
                .post(format!("{}{path}", self.keystone_url))
                .header("X-Auth-Token", &token)
                .json(&body)
                .send()
        };
        let id = |response: serde_json::Value, kind: &str| {
            response[kind]["id"].as_str().unwrap().to_string()
        };
        let project = post(
            "/projects",
            serde_json::json!({"project": {"name": user.project, "domain_id": "default"}}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let project_id = id(project, "project");
        let created = post(
            "/users",
            serde_json::json!({"user": {
                "name": user.name, "domain_id": "default", "password": user.password}}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let user_id = id(created, "user");
        let roles: serde_json::Value = client
            .get(format!("{}/roles?name=member", self.keystone_url))
            .header("X-Auth-Token", &token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let role_id = roles["roles"][0]["id"].as_str().unwrap();
        let granted = client
            .put(format!(
                "{}/projects/{project_id}/users/{user_id}/roles/{role_id}",
                self.keystone_url
            ))
            .header("X-Auth-Token", &token)
            .send()
            .await
            .unwrap();
        assert!(
            granted.status().is_success(),
            "role assignment: {}",
            granted.status()
        );
        user.id = user_id;
        user.project_id = project_id;
        user
    }

    /// Puts `count` one-byte objects named `{prefix}{n:05}` into the bucket (container) of
    /// `project_id`, sixteen at a time, through the stack's proxy without authentication: through
    /// s3api, each would cost a call to Keystone, and thousands of them starve the other tests'.
    pub async fn fill(&self, project_id: &str, bucket: &str, prefix: &str, count: usize) {
        use futures::StreamExt;
        let client = reqwest::Client::new();
        let base = format!("{}/v1/AUTH_{project_id}/{bucket}", self.swift_fill_url);
        futures::stream::iter(0..count)
            .map(|n| {
                client
                    .put(format!("{base}/{prefix}{n:05}"))
                    .body(&b"x"[..])
                    .send()
            })
            .buffer_unordered(16)
            .for_each(|response| async move {
                let response = response.expect("Swift's fill proxy answers");
                assert!(
                    response.status().is_success(),
                    "PUT at the fill proxy: {}",
                    response.status()
                );
            })
            .await;
    }

    /// An EC2 key pair of `user` in their project, for the S3 API of Swift.
    pub async fn create_ec2(&self, user: &OpenStackUser) -> S3Key {
        self.create_ec2_for(&user.id, &user.project_id).await
    }

    /// An EC2 key pair of the user `user_id` in project `project_id`.
    pub async fn create_ec2_for(&self, user_id: &str, project_id: &str) -> S3Key {
        let client = reqwest::Client::new();
        let token = self.admin_token(&client).await;
        let response: serde_json::Value = client
            .post(format!(
                "{}/users/{user_id}/credentials/OS-EC2",
                self.keystone_url
            ))
            .header("X-Auth-Token", &token)
            .json(&serde_json::json!({"tenant_id": project_id}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        S3Key {
            access_key: response["credential"]["access"]
                .as_str()
                .unwrap()
                .to_string(),
            secret: response["credential"]["secret"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    }
}
