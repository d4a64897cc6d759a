//! The Buckets console's objects page of a bucket of 10,000 objects at moto (signatures
//! checked): its first page and a later one (page 40 of 50, reached by its continuation token),
//! answered by the portal (one `ListObjectsV2` of 200 keys, rendered, sent over loopback), beside
//! the API's page of the same objects (`GET /api/v1/…/buckets/bench/objects`, JSON), and
//! `aws s3api list-objects-v2` asking moto for the same page.
//!
//! Puts the objects with boto3 (the test venv), then asks each page `KEYPORT_BENCH_VIEWS` times
//! (20 by default) after two to warm up, and the AWS CLI 5 times; prints the fastest, median,
//! 90th percentile and slowest answer. Any answer but 200 fails the run.
//!
//!   cargo bench --bench buckets
//!
//! The AWS CLI's figures include starting its Python; the portal's include moto's answer, which
//! is most of them.

#[allow(dead_code)]
#[path = "../tests/it/helpers.rs"]
mod helpers;

mod timing;

#[allow(dead_code)]
#[path = "../tests/it/backends.rs"]
mod backends;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, ensure};
use keyport::commands::{ApiKeyRequest, create_api_key};
use timing::{measure, measure_requests, print_row, views};

const OBJECTS: usize = 10_000;
const LATER_PAGE: usize = 40;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (moto, key) = backends::Moto::start().await;
    let mut config = None;
    let app = helpers::TestApp::spawn_with(|c| config = Some(c.clone())).await;
    let config = config.context("the portal's configuration")?;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let service_path = app.service(&admin, "s3", "Object storage", "team").await;
    app.endpoint(
        &admin,
        &service_path,
        ["Loopback", "us-east-1", "public", &moto.url],
    )
    .await;
    let service = service_path.rsplit('/').next().unwrap().to_string();
    let page = format!("/projects/team/credentials?service={service}");
    let imported = admin
        .submit(
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", service.as_str()),
                ("name", "bench"),
                ("mode", "import"),
                ("access_key", &key.access_key),
                ("secret", &key.secret),
            ],
        )
        .await;
    ensure!(imported.status() == 303, "key imported");
    let credential: String = sqlx::query_scalar("select id from credentials where name = 'bench'")
        .fetch_one(app.db.pool())
        .await?;
    let base = format!("/projects/team/services/{service}/buckets");
    let (_, html) = admin
        .get_text(&format!("{base}?credential={credential}"))
        .await;
    let token = helpers::csrf_token(&html).context("the buckets page has forms")?;
    let created = admin
        .post(
            &base,
            &[
                ("csrf_token", token.as_str()),
                ("credential", credential.as_str()),
                ("name", "bench"),
            ],
        )
        .await;
    ensure!(created.status() == 303, "bucket created");

    let started = Instant::now();
    put_objects(&moto.url, &key)?;
    println!(
        "Buckets console, objects page: {OBJECTS} objects at moto (put in {:.1} s); {} views each after 2 to warm up",
        started.elapsed().as_secs_f64(),
        views()
    );

    // The later page's link, as a user reaches it: Next page, again and again.
    let first = format!("{base}/bench?credential={credential}");
    let mut later = first.clone();
    let mut token_40 = String::new();
    for _ in 1..LATER_PAGE {
        let (status, html) = admin.get_text(&later).await;
        ensure!(status == 200, "{later} answered {status}");
        let next = helpers::attrs(&html, "a[rel=next]", "href");
        later = next.first().context("a next page")?.clone();
        let query = later.split_once('?').map(|(_, q)| q).unwrap_or_default();
        token_40 = form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "start")
            .map(|(_, value)| value.into_owned())
            .context("the continuation token in the link")?;
    }

    println!();
    println!("| page | fastest ms | median ms | p90 ms | slowest ms | KB |");
    println!("|---|---|---|---|---|---|");
    for (what, path) in [
        ("the portal's objects page, page 1", &first),
        ("the portal's objects page, page 40", &later),
    ] {
        let (times, bytes) = measure(&admin, path).await?;
        print_row(what, &times, bytes);
    }
    let token = access_token(&app, &config).await?;
    let http = reqwest::Client::new();
    for (what, start) in [
        ("the API's objects, page 1", None),
        ("the API's objects, page 40", Some(token_40.as_str())),
    ] {
        let mut url = format!(
            "{}/api/v1{base}/bench/objects?credential={credential}",
            app.url
        );
        if let Some(start) = start {
            url.push_str("&start=");
            url.push_str(&form_urlencoded::byte_serialize(start.as_bytes()).collect::<String>());
        }
        let (times, bytes) = measure_requests(what, || http.get(&url).bearer_auth(&token)).await?;
        print_row(what, &times, bytes);
    }
    let token = token_40;
    for (what, start) in [
        ("`aws s3api list-objects-v2`, page 1", None),
        ("`aws s3api list-objects-v2`, page 40", Some(token.as_str())),
    ] {
        let (times, bytes) = aws_cli(&moto.url, &key, start)?;
        print_row(what, &times, bytes);
    }
    Ok(())
}

/// An access token of the admin, from a personal API key exchanged at `/identity/token`.
async fn access_token(
    app: &helpers::TestApp,
    config: &keyport::config::Config,
) -> anyhow::Result<String> {
    let request = ApiKeyRequest {
        email: helpers::ADMIN_EMAIL,
        name: "bench",
        description: "",
        expires: "",
        project: None,
        app: None,
    };
    let key = create_api_key(&config.data(), request).await?;
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/identity/token", app.url))
        .form(&[("grant_type", "apikey"), ("apikey", key.secret.as_str())])
        .send()
        .await?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_string)
        .context("an access token")
}

fn put_objects(endpoint: &str, key: &backends::S3Key) -> anyhow::Result<()> {
    let script = r#"
import sys, boto3, concurrent.futures
endpoint, access, secret, count = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id=access, aws_secret_access_key=secret,
    config=boto3.session.Config(max_pool_connections=16))
def put(n):
    s3.put_object(Bucket="bench", Key=f"logs-{n:05d}.txt", Body=b"x" * (n % 100))
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    list(pool.map(put, range(int(count))))
"#;
    let output = Command::new(backends::test_venv().join("bin/python"))
        .args(["-c", script, endpoint, &key.access_key, &key.secret])
        .arg(OBJECTS.to_string())
        .output()?;
    ensure!(
        output.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The AWS CLI asking for the same page (200 keys, `/` as delimiter), 5 times.
fn aws_cli(
    endpoint: &str,
    key: &backends::S3Key,
    start: Option<&str>,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let mut command = Command::new("/usr/bin/aws");
        command
            .args(["--endpoint-url", endpoint, "--region", "us-east-1"])
            .args(["s3api", "list-objects-v2", "--bucket", "bench"])
            .args(["--max-keys", "200", "--delimiter", "/", "--no-paginate"])
            .env("AWS_ACCESS_KEY_ID", &key.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &key.secret)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_CA_BUNDLE");
        if let Some(token) = start {
            command.args(["--continuation-token", token]);
        }
        let asked = Instant::now();
        let output = command.output()?;
        times.push(asked.elapsed());
        ensure!(
            output.status.success(),
            "aws s3api list-objects-v2: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        bytes = output.stdout.len();
    }
    times.sort();
    Ok((times, bytes))
}
