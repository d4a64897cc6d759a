//! Asking a page again and again and printing its answer times, for the page benchmarks
//! (`health`, `buckets`): each declares `mod helpers` (the test harness) beside this module.

use std::time::{Duration, Instant};

use anyhow::ensure;

use crate::helpers;

/// How many times each page is asked (`KEYPORT_BENCH_VIEWS`, 20 by default), after two to warm up.
pub fn views() -> usize {
    std::env::var("KEYPORT_BENCH_VIEWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// A row of the table: the fastest, median, 90th percentile and slowest of `times` (sorted).
pub fn print_row(what: &str, times: &[Duration], bytes: usize) {
    println!(
        "| {what} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        ms(times[times.len() - 1]),
        bytes as f64 / 1024.0
    );
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The answer times of `path`, sorted, and the answer's size; any answer but 200 fails.
pub async fn measure(who: &helpers::Visitor, path: &str) -> anyhow::Result<(Vec<Duration>, usize)> {
    measure_requests(path, || who.client.get(who.url(path))).await
}

/// Like [`measure`], for the requests `request` makes (`what` names them in an error).
pub async fn measure_requests(
    what: &str,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut times = Vec::new();
    let mut bytes = 0;
    for n in 0..views() + 2 {
        let asked = Instant::now();
        let response = request().send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        let took = asked.elapsed();
        ensure!(status == 200, "{what} answered {status}");
        bytes = body.len();
        if n >= 2 {
            times.push(took);
        }
    }
    times.sort();
    Ok((times, bytes))
}
