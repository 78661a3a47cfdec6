//! The two ways load is generated: `wrk` with one of `bench/wrk/*.lua` for
//! single-request scenarios, and an async client in this process for
//! scenarios of several requests per unit (login, checkout).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::future::join_all;
use hdrhistogram::Histogram;
use serde_json::Value;

/// One unit of in-process load: `(worker, iteration)` to the answer's
/// status, or `Err("exhausted")` when a scenario has nothing left to do.
pub type Op = Arc<
    dyn Fn(usize, u64) -> futures::future::BoxFuture<'static, Result<u16, String>> + Send + Sync,
>;

/// How a scenario's load is generated.
pub enum Load {
    /// `wrk` with one of `bench/wrk/*.lua` against `url`; `args` go to the
    /// script's `init`.
    Wrk {
        script: &'static str,
        url: String,
        args: Vec<String>,
    },
    /// The in-process client, for scenarios of several requests per unit.
    Driver(Op),
}

/// What one bounded load run saw.
pub struct Driven {
    pub requests: u64,
    pub failed: u64,
    pub elapsed: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs wrk for `seconds` with `connections` over two threads and reads
/// back the JSON line `bench/wrk/report.lua` prints.
pub fn drive_wrk(
    connections: usize,
    seconds: f64,
    script: &str,
    url: &str,
    args: &[String],
) -> anyhow::Result<Driven> {
    let script = crate::workspace_root().join("bench/wrk").join(script);
    let threads = connections.clamp(1, 2);
    let output = std::process::Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", seconds.ceil().max(1.0)))
        .args(["--timeout", "10s", "-s"])
        .arg(&script)
        .arg(url)
        .arg("--")
        .args(args)
        .output()
        .context("wrk could not be started (install it: apt-get install wrk)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "wrk failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .rfind(|line| line.starts_with('{'))
        .with_context(|| format!("no summary in wrk's output: {stdout}"))?;
    let summary: Value = serde_json::from_str(line)?;
    let number = |key: &str| summary[key].as_u64().unwrap_or(0);
    Ok(Driven {
        requests: number("requests"),
        failed: number("failed"),
        elapsed: number("duration_us") as f64 / 1e6,
        p50_ms: number("p50_us") as f64 / 1000.0,
        p99_ms: number("p99_us") as f64 / 1000.0,
    })
}

/// Runs `op` from `connections` concurrent workers for `seconds`; each call
/// is one request (or one unit, for multi-request scenarios).
pub async fn drive(connections: usize, seconds: f64, op: Op) -> Driven {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let workers = (0..connections).map(|worker| {
        let op = op.clone();
        tokio::spawn(async move {
            let mut histogram =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
            let (mut count, mut bad) = (0u64, 0u64);
            let mut iteration = 0u64;
            while Instant::now() < deadline {
                let begun = Instant::now();
                match op(worker, iteration).await {
                    Ok(status) if (200..300).contains(&status) => {}
                    Ok(_) => bad += 1,
                    Err(error) if error == "exhausted" => break,
                    Err(_) => bad += 1,
                }
                let _ = histogram.record(begun.elapsed().as_micros() as u64);
                count += 1;
                iteration += 1;
            }
            (count, bad, histogram)
        })
    });
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let (mut count, mut bad) = (0, 0);
    for (c, b, h) in join_all(workers).await.into_iter().flatten() {
        count += c;
        bad += b;
        let _ = total.add(&h);
    }
    Driven {
        requests: count,
        failed: bad,
        elapsed: started.elapsed().as_secs_f64(),
        p50_ms: total.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: total.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

/// The status of one request, or why it got none.
pub async fn status_of(request: reqwest::RequestBuilder) -> Result<u16, String> {
    request
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.without_url().to_string())
}
