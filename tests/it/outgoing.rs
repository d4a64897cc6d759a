//! Outgoing requests under control: backend settings ("Check and save") and Test never reach
//! link-local or metadata addresses, reach loopback only when the instance allows it, follow no
//! redirect (a request carries a password), and never repeat what the remote end answered.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::{
    driven::Driven,
    helpers::{TestApp, Visitor, notice},
};

const PASSWORD: &str = "admin-password-7f3a9c";

/// A tiny HTTP server on loopback that records every request it receives and answers each with
/// `answer` (a whole HTTP response).
struct Recorder {
    url: String,
    received: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(answer: String) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Headers, then as much body as Content-Length says.
                    loop {
                        let Ok(n) = stream.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        request.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&request).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&request).to_string());
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Recorder { url, received }
    }

    fn requests(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

fn answer(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// "Check and save" of a Keystone backend at `auth_url`, as the project's admin; the page or
/// notice shown afterwards.
async fn save_keystone(app: &TestApp, admin: &Visitor, auth_url: &str) -> (StatusCode, String) {
    app.project(admin, "team", "").await;
    let service_path = app.service(admin, "openstack", "Cloud", "demo").await;
    let backend = format!("{service_path}/backend");
    let response = admin
        .submit(
            &backend,
            &backend,
            &[
                ("driver", "keystone"),
                ("auth_url", auth_url),
                ("username", "admin"),
                ("password", PASSWORD),
                ("user_domain", "Default"),
                ("project", "admin"),
                ("project_domain", "Default"),
            ],
        )
        .await;
    let status = response.status();
    let body = response.text().await.unwrap();
    if status == StatusCode::SEE_OTHER {
        (status, notice(&admin.get_text(&backend).await.1))
    } else {
        (status, body)
    }
}

#[tokio::test]
async fn metadata_addresses_are_never_reached() {
    let app = TestApp::spawn_with(|c| {
        // Even an instance that allows every network does not reach them.
        c.limits.backend_allowed_networks =
            vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
    })
    .await;
    let admin = app.admin().await;
    for url in [
        "http://169.254.169.254/v3",
        "http://[fd00:ec2::254]/v3",
        "http://[::ffff:169.254.169.254]/v3",
    ] {
        let (status, page) = save_keystone(&app, &admin, url).await;
        assert_ne!(status, StatusCode::SEE_OTHER, "{url} is not saved");
        assert!(
            page.contains("link-local and cloud metadata addresses are never reached"),
            "{url}: {page}"
        );
        sqlx::query("delete from projects")
            .execute(app.db.pool())
            .await
            .ok();
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_a_refused_address_is_refused() {
    let recorder = Recorder::start(answer("201 Created", "", "{}")).await;
    let app = TestApp::spawn_with(|c| c.limits.backend_allowed_networks = Vec::new()).await;
    let admin = app.admin().await;
    let port = recorder.url.rsplit(':').next().unwrap();
    let (status, page) = save_keystone(&app, &admin, &format!("http://localhost:{port}/v3")).await;
    assert_ne!(status, StatusCode::SEE_OTHER);
    assert!(page.contains("loopback or private address"), "{page}");
    assert!(
        recorder.requests().is_empty(),
        "nothing reached the listener"
    );
}

#[tokio::test]
async fn loopback_is_refused_unless_the_instance_allows_it() {
    let recorder = Recorder::start(answer("401 Unauthorized", "", "{}")).await;
    let app = TestApp::spawn_with(|c| c.limits.backend_allowed_networks = Vec::new()).await;
    let admin = app.admin().await;
    let (status, page) = save_keystone(&app, &admin, &format!("{}/v3", recorder.url)).await;
    assert_ne!(status, StatusCode::SEE_OTHER);
    assert!(page.contains("loopback or private address"), "{page}");
    assert!(page.contains("KEYPORT_BACKEND_ALLOWED_NETWORKS"), "{page}");
    assert!(
        recorder.requests().is_empty(),
        "nothing reached the listener"
    );

    // The test harness's own setting allows loopback: the same request then goes out.
    let allowed = TestApp::spawn().await;
    let admin = allowed.admin().await;
    save_keystone(&allowed, &admin, &format!("{}/v3", recorder.url)).await;
    assert_eq!(recorder.requests().len(), 1, "allowed loopback is reached");
}

#[tokio::test]
async fn redirects_are_not_followed_and_the_password_stays_home() {
    for (status, code) in [("302 Found", "302"), ("307 Temporary Redirect", "307")] {
        let target = Recorder::start(answer("201 Created", "x-subject-token: t\r\n", "{}")).await;
        let redirect = Recorder::start(answer(
            status,
            &format!("location: {}/v3/auth/tokens\r\n", target.url),
            "",
        ))
        .await;
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        let (saved, page) = save_keystone(&app, &admin, &format!("{}/v3", redirect.url)).await;
        assert_ne!(saved, StatusCode::SEE_OTHER, "not saved: {page}");
        assert!(page.contains(&format!("redirect (HTTP {code})")), "{page}");
        let first = redirect.requests();
        assert_eq!(first.len(), 1, "the first request was made");
        assert!(first[0].contains(PASSWORD), "it carried the password");
        assert!(
            target.requests().is_empty(),
            "the redirect target received nothing: {:?}",
            target.requests()
        );
    }
}

#[tokio::test]
async fn remote_answers_are_summarised_never_echoed() {
    let marker = "internal-banner-9d2e";
    // Keystone-like JSON with the remote's own words.
    let keystone = Recorder::start(answer(
        "400 Bad Request",
        "content-type: application/json\r\n",
        &format!(r#"{{"error": {{"message": "{marker}", "code": 400}}}}"#),
    ))
    .await;
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (_, page) = save_keystone(&app, &admin, &format!("{}/v3", keystone.url)).await;
    assert!(page.contains("HTTP 400"), "{page}");
    assert!(!page.contains(marker), "{page}");

    // The Test button of an S3 key at an endpoint that answers with an unknown code and text.
    let s3 = Recorder::start(answer(
        "403 Forbidden",
        "content-type: application/xml\r\n",
        &format!("<Error><Code>{marker}</Code><Message>{marker}</Message></Error>"),
    ))
    .await;
    let driven = Driven::new("s3", "", &[["Here", "us-east-1", "public", &s3.url]]).await;
    let response = driven
        .admin
        .submit(
            &driven.page,
            "/projects/team/credentials",
            &[
                ("service_id", driven.service_id()),
                ("name", "imported"),
                ("kind", "key"),
                ("mode", "import"),
                ("access_key", "AKIAEXAMPLE"),
                ("secret", "imported-secret"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let notice = driven.test("imported").await;
    assert!(notice.contains("HTTP 403"), "{notice}");
    assert!(!notice.contains(marker), "{notice}");
    assert_eq!(s3.requests().len(), 1, "the probe reached the endpoint");
}
