//! The snippets of an API service that takes IAM tokens, downloaded from the portal and run as
//! a user would: curl (with the key, asking for it, or from the environment file) and IBM's
//! Python SDK exchange a Keyport API key at the portal's own `/identity/token` and list the
//! projects with the bearer token; with a broken key, each fails.

use reqwest::StatusCode;

use crate::{
    api::{ApiApp, Key},
    backends::test_venv,
    credentials::credential_ids,
    helpers::{ADMIN_EMAIL, Visitor, csrf_token},
    s3_clients::{Home, assert_ok, assert_refused, broken, run},
};

/// The prefix of the environment variables for project `team`, service `Reports`.
const PREFIX: &str = "TEAM_REPORTS";

/// A portal whose project `team` has the API service `Reports`, which takes tokens from the
/// portal itself and is answered by it: its public endpoint is the portal's project list.
/// A Keyport API key of the admin is imported as the service's credential.
struct TokenService {
    api: ApiApp,
    owner: Visitor,
    key: Key,
    instance_id: String,
    credential: String,
    page: String,
}

impl TokenService {
    async fn start() -> TokenService {
        let api = ApiApp::spawn().await;
        let app = &api.app;
        let owner = app.admin().await;
        app.project(&owner, "team", "").await;
        let service_path = app.service(&owner, "api", "Reports", "").await;
        let token_url = format!("{}/identity/token", app.url);
        let projects_url = format!("{}/api/v1/projects", app.url);
        for (interface, url) in [("auth", &token_url), ("public", &projects_url)] {
            app.endpoint(&owner, &service_path, ["Loopback", "local", interface, url])
                .await;
        }
        let key = api.key(ADMIN_EMAIL, None).await;
        let instance_id = service_path.rsplit('/').next().unwrap().to_string();
        let page = format!("/projects/team/credentials?service={instance_id}");
        let response = owner
            .submit(
                &page,
                "/projects/team/credentials",
                &[
                    ("service_id", instance_id.as_str()),
                    ("name", "reports"),
                    ("mode", "import"),
                    ("access_key", key.id.as_str()),
                    ("secret", key.secret.as_str()),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "key imported");
        let html = owner.get_text(&page).await.1;
        let credential = credential_ids(&html)
            .pop()
            .expect("the imported key is shown");
        TokenService {
            api,
            owner,
            key,
            instance_id,
            credential,
            page,
        }
    }

    /// The snippet as the Download button gives it.
    async fn download(&self, snippet: &str, variant: &str) -> String {
        let token = csrf_token(&self.owner.get_text(&self.page).await.1).unwrap();
        let response = self
            .owner
            .post(
                &format!("/projects/team/credentials/{}/config", self.credential),
                &[
                    ("csrf_token", &token),
                    ("snippet", snippet),
                    ("variant", variant),
                    ("purpose", "download"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "download of {snippet}");
        response.text().await.unwrap()
    }
}

/// The project list as Keyport's API gives it names the project.
#[track_caller]
fn lists_the_project(output: &str, what: &str) {
    assert!(output.contains("\"team\""), "{what} printed: {output}");
}

// The portal answers from the test's runtime while a client runs: blocking calls go through
// `block_in_place`, on a runtime with a second worker.
fn bash(home: &Home, script: &str, stdin: &str) -> std::process::Output {
    tokio::task::block_in_place(|| home.bash(script, stdin))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_example_exchanges_the_key_and_calls_the_service_with_the_token() {
    let service = TokenService::start().await;
    let secret = service.key.secret.as_str();
    let home = Home::new();
    let with = service.download("api-curl", "with").await;
    home.save("api-curl.sh", &with);
    let output = bash(&home, "bash ./api-curl.sh", "");
    lists_the_project(&assert_ok(&output, "the curl example"), "the curl example");

    // Without the key, the script asks for it; here it comes on standard input.
    let without = service.download("api-curl", "without").await;
    assert!(!without.contains(secret));
    home.save("api-curl-ask.sh", &without);
    let output = bash(&home, "bash ./api-curl-ask.sh", &format!("{secret}\n"));
    lists_the_project(
        &assert_ok(&output, "curl with the key typed in"),
        "curl with the key typed in",
    );
    assert_refused(
        &bash(&home, "bash ./api-curl-ask.sh", "kp_not-the-key\n"),
        "curl with a wrong key typed in",
    );

    home.save("api-curl.sh", &broken(&with, secret));
    assert_refused(
        &bash(&home, "bash ./api-curl.sh", ""),
        "the curl example with a broken key",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_file_names_the_token_url_and_the_instance_and_feeds_the_curl_example() {
    let service = TokenService::start().await;
    let secret = service.key.secret.as_str();
    let home = Home::new();
    let env = service.download("api-env", "with").await;
    home.save("api-env.sh", &env);
    home.save(
        "api-curl-ask.sh",
        &service.download("api-curl", "without").await,
    );
    let show = format!(
        "source ./api-env.sh && printf '%s\\n' \"${PREFIX}_TOKEN_URL\" \"${PREFIX}_INSTANCE_ID\" \"${PREFIX}_URL\""
    );
    let shown = assert_ok(&bash(&home, &show, ""), "api-env.sh");
    let app = &service.api.app.url;
    assert_eq!(
        shown,
        format!(
            "{app}/identity/token\n{}\n{app}/api/v1/projects\n",
            service.instance_id
        )
    );

    // With the key in the environment, the script asks nothing: standard input stays empty.
    let run_with_env = "source ./api-env.sh && bash ./api-curl-ask.sh";
    let output = bash(&home, run_with_env, "");
    lists_the_project(
        &assert_ok(&output, "curl with api-env.sh"),
        "curl with api-env.sh",
    );
    home.save("api-env.sh", &broken(&env, secret));
    assert_refused(
        &bash(&home, run_with_env, ""),
        "curl with a broken api-env.sh",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_example_authenticates_with_ibms_sdk() {
    let service = TokenService::start().await;
    let secret = service.key.secret.as_str();
    let home = Home::new();
    let interpreter = test_venv().join("bin/python");
    let python = |script: &str, key: Option<&str>| {
        let mut command = home.command(interpreter.to_str().unwrap());
        command.arg(script);
        if let Some(key) = key {
            command.env(format!("{PREFIX}_KEY"), key);
        }
        tokio::task::block_in_place(|| run(&mut command))
    };
    let with = service.download("api-python", "with").await;
    home.save("api_example.py", &with);
    let output = python("api_example.py", None);
    lists_the_project(&assert_ok(&output, "api_example.py"), "api_example.py");

    let without = service.download("api-python", "without").await;
    assert!(!without.contains(secret));
    home.save("api_example_env.py", &without);
    let output = python("api_example_env.py", Some(secret));
    lists_the_project(
        &assert_ok(&output, "api_example.py with the key in the environment"),
        "api_example.py with the key in the environment",
    );
    assert_refused(
        &python("api_example_env.py", Some("kp_not-the-key")),
        "api_example.py with a wrong key in the environment",
    );

    home.save("api_example.py", &broken(&with, secret));
    assert_refused(
        &python("api_example.py", None),
        "api_example.py with a broken key",
    );
}
