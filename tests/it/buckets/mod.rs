//! The Buckets console against real S3 APIs: moto (signatures checked) and Swift's s3api with a
//! Keystone EC2 pair. The page is driven as a browser without JavaScript would; many objects are
//! made with boto3 (not through the page), and downloads are fetched with curl.

mod access;
mod api;
mod browser;
mod moto;
mod region;
mod swift;

use std::process::Command;

use reqwest::StatusCode;

use crate::{
    backends::{S3Key, test_venv},
    helpers::{TestApp, Visitor, csrf_token, location, notice, texts},
};

/// Names that must round-trip exactly: spaces, unicode, `+`, `%`, `#`, `?`, and dots.
pub const AWKWARD_NAMES: [&str; 7] = [
    "with space.txt",
    "ünïcødé ✓ 名前.txt",
    "plus+sign.txt",
    "per%20cent.txt",
    "hash#and?question.txt",
    "..leading-dots",
    "dir/a..b/c..txt",
];

/// A member's console of one service: the visitor, the service's id and the key acted with.
pub struct Console {
    pub who: Visitor,
    pub service: String,
    pub credential: String,
}

impl Console {
    pub fn base(&self) -> String {
        format!("/projects/team/services/{}/buckets", self.service)
    }

    fn acting(&self) -> String {
        format!("credential={}", self.credential)
    }

    pub async fn buckets_page(&self) -> (StatusCode, String) {
        self.who
            .get_text(&format!("{}?{}", self.base(), self.acting()))
            .await
    }

    /// The bucket names the page lists.
    pub async fn bucket_names(&self) -> Vec<String> {
        let (status, html) = self.buckets_page().await;
        assert_eq!(status, StatusCode::OK, "{html}");
        texts(&html, "table.list tbody tr td:first-child a")
    }

    async fn token(&self) -> String {
        let (_, html) = self.buckets_page().await;
        csrf_token(&html).expect("the buckets page has forms")
    }

    /// Posts `fields` (with the key and the CSRF token) to `path` under the console.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.token().await;
        let mut all = vec![
            ("csrf_token", token.as_str()),
            ("credential", self.credential.as_str()),
        ];
        all.extend_from_slice(fields);
        self.who.post(&format!("{}{path}", self.base()), &all).await
    }

    /// Creates `name`; the notice or the page's error.
    pub async fn create(&self, name: &str) -> (StatusCode, String) {
        let response = self.post("", &[("name", name)]).await;
        let status = response.status();
        if status == StatusCode::SEE_OTHER {
            let (_, html) = self.who.get_text(&location(&response)).await;
            return (status, notice(&html));
        }
        let html = response.text().await.unwrap();
        let error = texts(&html, ".field-error").join(" ");
        (status, error)
    }

    /// Deletes the bucket (confirmed); the status and the notice or page shown after.
    pub async fn delete_bucket(&self, name: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let mut all = vec![("confirm", "yes")];
        all.extend_from_slice(fields);
        let response = self.post(&format!("/{}/delete", encode(name)), &all).await;
        let status = response.status();
        if status == StatusCode::SEE_OTHER {
            let (_, html) = self.who.get_text(&location(&response)).await;
            return (status, notice(&html));
        }
        (status, response.text().await.unwrap())
    }

    /// One page of a bucket's folder: (status, html).
    pub async fn objects_page(&self, bucket: &str, query: &str) -> (StatusCode, String) {
        self.who
            .get_text(&format!(
                "{}/{}?{}&{query}",
                self.base(),
                encode(bucket),
                self.acting()
            ))
            .await
    }

    /// Every object key of a folder, following the Next page links; and the pages seen.
    pub async fn all_keys(&self, bucket: &str, prefix: &str) -> (Vec<String>, usize) {
        let (status, mut html) = self
            .objects_page(bucket, &format!("prefix={}", encode(prefix)))
            .await;
        assert_eq!(status, StatusCode::OK, "{html}");
        let mut keys = Vec::new();
        let mut pages = 1;
        loop {
            keys.extend(crate::helpers::attrs(
                &html,
                "input[type=checkbox][name=object]",
                "value",
            ));
            let next = crate::helpers::attrs(&html, "a[rel=next]", "href");
            let Some(next) = next.first() else { break };
            let (status, page) = self.who.get_text(next).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            html = page;
            pages += 1;
        }
        (keys, pages)
    }

    /// Uploads `body` as `file_name` into `prefix` of `bucket`, as the page's form does.
    pub async fn upload(
        &self,
        bucket: &str,
        prefix: &str,
        file_name: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let token = self.token().await;
        let form = reqwest::multipart::Form::new()
            .text("credential", self.credential.clone())
            .text("prefix", prefix.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(body).file_name(file_name.to_string()),
            );
        self.who
            .client
            .post(self.who.url(&format!(
                "{}/{}/objects/upload?csrf_token={}",
                self.base(),
                encode(bucket),
                encode(&token)
            )))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Deletes `objects` of `bucket` in one form (confirmed); the notice shown after.
    pub async fn delete_objects(&self, bucket: &str, objects: &[&str]) -> String {
        let mut fields = vec![("confirm", "yes")];
        fields.extend(objects.iter().map(|o| ("object", *o)));
        let response = self
            .post(&format!("/{}/objects/delete", encode(bucket)), &fields)
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, html) = self.who.get_text(&location(&response)).await;
        notice(&html)
    }

    /// The Download button's answer: the presigned URL it redirects to.
    pub async fn download_url(&self, bucket: &str, object: &str) -> String {
        let response = self
            .post(
                &format!("/{}/objects/download", encode(bucket)),
                &[("object", object)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        location(&response)
    }
}

/// A user who joins project `team` with `role`, signed in.
pub async fn member(app: &TestApp, owner: &Visitor, email: &str, role: &str) -> Visitor {
    app.insert_user(email, email, false).await;
    let response = owner
        .submit(
            "/projects/team/members",
            "/projects/team/members",
            &[("email", email), ("role", role)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email} joins");
    app.sign_in(email, crate::helpers::PASSWORD).await
}

/// A path segment or query value, percent-encoded.
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Imports `key` for `who` as a credential of `service` (`kind` `key` or `ec2`); its id.
pub async fn import_key(
    app: &TestApp,
    who: &Visitor,
    service: &str,
    kind: &str,
    name: &str,
    key: &S3Key,
    owner: &str,
) -> String {
    let page = format!("/projects/team/credentials?service={service}");
    let response = who
        .submit(
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", service),
                ("name", name),
                ("kind", kind),
                ("owner", owner),
                ("mode", "import"),
                ("access_key", &key.access_key),
                ("secret", &key.secret),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "key imported");
    sqlx::query_scalar("select id from credentials where access_key = $1 and name = $2")
        .bind(&key.access_key)
        .bind(name)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// Puts `count` objects named `{prefix}{n:05}` into `bucket` with boto3, many at once.
pub fn put_many(
    endpoint: &str,
    region: &str,
    key: &S3Key,
    bucket: &str,
    prefix: &str,
    count: usize,
) {
    let script = r#"
import sys, boto3, concurrent.futures
endpoint, region, access, secret, bucket, prefix, count = sys.argv[1:8]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region,
    aws_access_key_id=access, aws_secret_access_key=secret,
    config=boto3.session.Config(max_pool_connections=16, retries={"max_attempts": 5}))
def put(n):
    s3.put_object(Bucket=bucket, Key=f"{prefix}{n:05d}", Body=b"x")
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(put, range(int(count))))
"#;
    let output = Command::new(test_venv().join("bin/python"))
        .args(["-c", script, endpoint, region])
        .args([
            &key.access_key,
            &key.secret,
            bucket,
            prefix,
            &count.to_string(),
        ])
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "boto3 put_object: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Fetches `url` with curl; the body.
pub fn curl(url: &str) -> Vec<u8> {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", url])
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The audit events of project `team` with `action`: (target, detail).
pub async fn audited(app: &TestApp, action: &str) -> Vec<(String, String)> {
    sqlx::query_as("select target, detail from audit_events where action = $1 order by at, id")
        .bind(action)
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

/// A file of `len` bytes that is not all the same byte.
pub fn file_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}
