//! Time of each backend operation as the user sees it: the POST of Add, Test, Regenerate and
//! Delete until the portal answers, 20 runs each (KEYPORT_BENCH_RUNS), against moto's IAM and
//! against Keystone + Swift (the test stack: KEYPORT_TEST_OPENSTACK names a running one, or one
//! is started). Prints p50, p90 and the slowest run per operation, of the runs the backend
//! answered; a run the backend did not answer in time ("it may have acted") is counted apart,
//! and the rest of that round is left out.
//!
//!   cargo bench --bench backend_ops

#[allow(dead_code)]
#[path = "../tests/it/backends.rs"]
mod backends;
#[allow(dead_code)]
#[path = "../tests/it/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use backends::{Moto, OpenStack};
use helpers::{TestApp, Visitor, csrf_token, location, notice};
use reqwest::StatusCode;

const POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

/// How a timed operation ended.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// The backend answered and the portal did it.
    Done(Duration),
    /// The backend did not answer in time: it may have acted, and reconcile finishes or undoes
    /// the change. Not a success, and not a time of the operation either.
    Uncertain,
}

/// A portal with one service whose backend is set, signed in as its admin.
struct Bench {
    _app: TestApp,
    admin: Visitor,
    service: String,
    token: String,
}

impl Bench {
    async fn new(
        kind: &str,
        os_project: &str,
        endpoint: [&str; 4],
        backend: &[(&str, &str)],
    ) -> Bench {
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        app.project(&admin, "team", "").await;
        let service_path = app.service(&admin, kind, "Storage", os_project).await;
        app.endpoint(&admin, &service_path, endpoint).await;
        let settings = format!("{service_path}/backend");
        let response = admin.submit(&settings, &settings, backend).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "backend saved");
        let token = csrf_token(&admin.get_text("/projects").await.1).unwrap();
        Bench {
            _app: app,
            admin,
            service: service_path.rsplit('/').next().unwrap().to_string(),
            token,
        }
    }

    /// Posts a form and returns how long the portal took to answer, unless the backend did not
    /// answer in time.
    async fn timed(&self, path: &str, fields: &[(&str, &str)]) -> Outcome {
        let mut form = vec![("csrf_token", self.token.as_str())];
        form.extend_from_slice(fields);
        let started = Instant::now();
        let response = self.admin.post(path, &form).await;
        let took = started.elapsed();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        // The notice says whether the backend agreed; a refusal would make the figures lie.
        let notice = notice(&self.admin.get_text(&location(&response)).await.1);
        assert!(!notice.is_empty(), "{path}: the portal says what it did");
        assert!(
            !notice.contains("Nothing was changed"),
            "{path} was refused"
        );
        if notice.contains("it may have acted") {
            eprintln!("{path}: {notice}");
            return Outcome::Uncertain;
        }
        assert!(
            !path.ends_with("/test") || notice.contains(": OK in"),
            "{path} did not succeed"
        );
        Outcome::Done(took)
    }

    async fn add(&self, name: &str, kind: &str) -> (Outcome, String) {
        let took = self
            .timed(
                "/projects/team/credentials",
                &[
                    ("service_id", &self.service),
                    ("name", name),
                    ("kind", kind),
                    ("mode", "generate"),
                ],
            )
            .await;
        let html = self
            .admin
            .get_text(&format!(
                "/projects/team/credentials?service={}",
                self.service
            ))
            .await
            .1;
        let id = html
            .split("id=\"credential-")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].to_string())
            .last()
            .expect("the new credential is shown");
        (took, id)
    }

    async fn on(&self, id: &str, action: &str) -> Outcome {
        let path = format!("/projects/team/credentials/{id}/{action}");
        self.timed(&path, &[("confirm", "yes")]).await
    }
}

/// Per operation: the times of the runs the backend answered, and how many runs it did not
/// answer in time.
#[derive(Default)]
struct Timings(Vec<(&'static str, Vec<Duration>, usize)>);

impl Timings {
    /// Records a run; true when it was done, so that the round may go on with its credential.
    fn record(&mut self, operation: &'static str, outcome: Outcome) -> bool {
        let at = match self.0.iter().position(|(name, ..)| *name == operation) {
            Some(at) => at,
            None => {
                self.0.push((operation, Vec::new(), 0));
                self.0.len() - 1
            }
        };
        let (_, runs, uncertain) = &mut self.0[at];
        match outcome {
            Outcome::Done(took) => runs.push(took),
            Outcome::Uncertain => *uncertain += 1,
        }
        matches!(outcome, Outcome::Done(_))
    }

    fn print(&self, backend: &str) {
        let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
        for (operation, runs, uncertain) in &self.0 {
            let mut sorted = runs.clone();
            sorted.sort();
            let at = |q: f64| {
                sorted
                    .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
                    .map_or("-".to_string(), |d| ms(*d))
            };
            println!(
                "| {backend} | {operation} | {} | {uncertain} | {} | {} | {} |",
                sorted.len(),
                at(0.5),
                at(0.9),
                at(1.0)
            );
        }
    }
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("KEYPORT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    println!("| backend | operation | runs | may have acted | p50 ms | p90 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");

    let (moto, admin_key) = Moto::start().await;
    let iam = Bench::new(
        "s3",
        "",
        ["Loopback", "us-east-1", "public", &moto.url],
        &moto.iam_settings(&admin_key, POLICY),
    )
    .await;
    let mut timings = Timings::default();
    for run in 0..runs {
        // A step the backend may or may not have done leaves the credential to reconcile: the
        // round's later steps would be refused, so the round ends there.
        let (took, id) = iam.add(&format!("key {run}"), "key").await;
        let _ = timings.record("add (CreateAccessKey)", took)
            && timings.record("test (S3 ListBuckets)", iam.on(&id, "test").await)
            && timings.record(
                "regenerate (create + delete)",
                iam.on(&id, "regenerate").await,
            )
            && timings.record("delete (DeleteAccessKey)", iam.on(&id, "delete").await);
    }
    timings.print("moto IAM");
    drop(iam);
    drop(moto);

    let stack = OpenStack::get();
    let user = stack.create_user().await;
    let keystone = Bench::new(
        "openstack",
        &user.project,
        ["Loopback", &stack.region, "auth", &stack.keystone_url],
        &stack.keystone_settings(),
    )
    .await;
    let mut timings = Timings::default();
    let (took, password) = keystone.add("password", "key").await;
    if timings.record("add password (create user)", took) {
        for _ in 0..runs {
            // Keystone refuses tokens issued within a second of a password change.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let done = timings.record(
                "test password (token issue)",
                keystone.on(&password, "test").await,
            ) && timings.record(
                "regenerate password (PATCH)",
                keystone.on(&password, "regenerate").await,
            );
            if !done {
                break;
            }
        }
    }
    for run in 0..runs {
        let (took, id) = keystone.add(&format!("ec2 {run}"), "ec2").await;
        let _ = timings.record("add EC2 pair", took)
            && timings.record("regenerate EC2 pair", keystone.on(&id, "regenerate").await)
            && timings.record("delete EC2 pair", keystone.on(&id, "delete").await);
    }
    timings.print("Keystone");
}
