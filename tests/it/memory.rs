//! A burst of sign-ins against the real `keyport` process: resident memory stays bounded while
//! the passwords are checked (at most one argon2 check per core, a bounded queue, 503 past it)
//! and falls back to its baseline afterwards. The burst and the bound scale with the cores, as
//! the design's bound does: one check's memory per core above the baseline.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::{StatusCode, cookie::Jar, redirect::Policy};

use keyport::crypto::password;

use crate::{
    helpers::{TestDb, Visitor, complete_setup},
    process::Server,
};

const MIB: u64 = 1024 * 1024;

/// What the server holds during the burst beside the checks themselves: the burst's connections
/// and requests, the queue, the allocator's own pages.
const HEADROOM: u64 = 48 * MIB;

/// The server's resident memory, from `/proc`.
fn resident(pid: u32) -> u64 {
    field(pid, "VmRSS:")
}

/// A size in `/proc/PID/status`, in bytes.
fn field(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kib * 1024
}

/// A visitor connecting from its own loopback address (127.0.0.0/8 is all loopback on Linux).
fn visitor_from(base: &str, n: u32) -> Visitor {
    let address = Ipv4Addr::new(127, 0, 1 + (n / 250) as u8, 2 + (n % 250) as u8);
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .local_address(IpAddr::V4(address))
        .build()
        .unwrap();
    Visitor {
        base: base.to_string(),
        client,
        jar,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_wrong_sign_ins_stays_bounded_and_memory_returns() {
    // The server sees the same cores as this test: it runs one check per core, and lets 16 per
    // core wait. Twice that many visitors at once (120 at least) are more than it takes.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let taken = cores * (password::WAITING_PER_WORKER + 1);
    let visitors = (2 * taken).max(120);
    let bound_above_baseline = cores as u64 * u64::from(password::CHECK_MEMORY_KIB) * 1024;
    let db = TestDb::new().await;
    let connections = (visitors + 64).max(512).to_string();
    let server = Server::start(&db, &[("KEYPORT_MAX_CONNECTIONS", &connections)]).await;
    complete_setup(&server.visitor()).await;
    let pid = server.child.id();

    // Each visitor has its login form (and CSRF token) before the burst starts.
    let mut forms = Vec::new();
    for n in 0..visitors as u32 {
        let visitor = visitor_from(&server.base, n);
        let (status, html) = visitor.get_text("/login").await;
        assert_eq!(status, StatusCode::OK);
        let token = crate::helpers::csrf_token(&html).unwrap();
        forms.push((visitor, token));
    }
    let baseline = resident(pid);
    let baseline_anonymous = field(pid, "RssAnon:");

    let peak = Arc::new(AtomicU64::new(baseline));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::SeqCst) {
                peak.fetch_max(resident(pid), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let burst: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(n, (visitor, token))| {
            tokio::spawn(async move {
                let email = format!("guess{n}@example.org");
                let response = visitor
                    .post(
                        "/login",
                        &[
                            ("csrf_token", token.as_str()),
                            ("email", &email),
                            ("password", "not the password"),
                        ],
                    )
                    .await;
                let status = response.status();
                let retry = response.headers().contains_key("retry-after");
                (status, retry, response.text().await.unwrap())
            })
        })
        .collect();
    let mut refused = 0;
    let mut busy = 0;
    for answer in burst {
        let (status, retry, html) = answer.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry, "a 503 says when to come back");
                assert!(html.contains("checking as many passwords"), "{html}");
                assert!(
                    html.contains(r#"name="password""#),
                    "the form is shown again"
                );
                busy += 1;
            }
            other => panic!("{other}: {html}"),
        }
    }
    sampling.store(false, Ordering::SeqCst);
    sampler.await.unwrap();
    let peak = peak.load(Ordering::SeqCst);
    eprintln!(
        "sign-in burst of {visitors} on {cores} cores: baseline {} MiB, peak {} MiB; \
         {refused} checked, {busy} answered 503",
        baseline / MIB,
        peak / MIB
    );
    let bound = baseline + bound_above_baseline + HEADROOM;
    assert!(
        peak < bound,
        "peak {} MiB during the burst; bound {} MiB: the baseline {} MiB, {} MiB for one check \
         per core, {} MiB headroom",
        peak / MIB,
        bound / MIB,
        baseline / MIB,
        bound_above_baseline / MIB,
        HEADROOM / MIB
    );
    assert!(
        refused >= cores * password::WAITING_PER_WORKER,
        "what the queue took was checked: {refused} of {visitors}"
    );
    assert!(busy > 0, "past the queue, the server answered 503");

    // The heap comes back to near its size before the burst; the binary's own pages (RssFile,
    // large in a debug build) are not the heap's.
    let started = Instant::now();
    loop {
        let anonymous = field(pid, "RssAnon:");
        if anonymous < baseline_anonymous + 8 * MIB {
            eprintln!(
                "after the burst: {} MiB ({} MiB anonymous, {} before; {} MiB of files)",
                resident(pid) / MIB,
                anonymous / MIB,
                baseline_anonymous / MIB,
                field(pid, "RssFile:") / MIB
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "memory falls back after the burst: {} MiB anonymous, {} before",
            anonymous / MIB,
            baseline_anonymous / MIB
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
