//! How fast a logout or a deactivation bites at commerce-service, and how
//! often a live session makes commerce ask auth-service, with the pushed
//! revocation (the stack's commerce-service, on NATS) and without it (a
//! variant with no bus, the short 2 s status TTL alone).
//!
//! Latency: a client polls `GET /cart` of a session every 2 ms; the time
//! from auth-service's answer to the logout (or deactivation) to the first
//! `401` at commerce, over many sessions, 25 at a time.
//!
//! Call rate: sessions each read their cart every 200 ms for a window;
//! commerce's `auth_status_calls_total` grows by what they cost.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use futures::future::join_all;
use reqwest::{Client, StatusCode};
use serde_json::json;

use super::stack::{Bench, Customer};

/// One measured change (logout or deactivation) at one variant.
#[derive(Debug, Clone)]
pub struct Latency {
    pub variant: &'static str,
    pub change: &'static str,
    pub trials: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Token-status calls live sessions cost one variant.
#[derive(Debug, Clone)]
pub struct CallRate {
    pub variant: &'static str,
    pub sessions: usize,
    pub seconds: f64,
    pub calls: u64,
}

impl CallRate {
    pub fn per_session_per_minute(&self) -> f64 {
        self.calls as f64 / self.sessions as f64 / (self.seconds / 60.0)
    }
}

/// Both measures for both variants: `(name, commerce base URL)`.
pub async fn measure(
    bench: &Bench,
    variants: [(&'static str, String); 2],
    first_phone: usize,
) -> anyhow::Result<(Vec<Latency>, Vec<CallRate>)> {
    let trials = if bench.options.quick { 200 } else { 400 };
    let admin = admin_token(bench).await?;
    let mut latencies = Vec::new();
    let mut next = first_phone;
    for (variant, base) in &variants {
        for change in ["logout", "deactivate"] {
            let customers = bench.customers(next, trials, "us").await?;
            next += trials;
            eprintln!("bench: {change} latency, {variant} ({trials} sessions)");
            let mut samples = Vec::with_capacity(trials);
            for chunk in customers.chunks(25) {
                let runs = chunk
                    .iter()
                    .map(|customer| trial(bench, base, &admin, change, customer));
                for sample in join_all(runs).await {
                    samples.push(sample?);
                }
            }
            latencies.push(summarise(variant, change, samples));
        }
    }
    let window = if bench.options.quick { 30.0 } else { 60.0 };
    let sessions = bench.readers.len().min(100);
    let mut rates = Vec::new();
    for (variant, base) in &variants {
        eprintln!("bench: token-status calls, {variant} ({sessions} sessions, {window} s)");
        let before = calls(bench, base).await;
        let readers = &bench.readers[..sessions];
        let deadline = Instant::now() + Duration::from_secs_f64(window);
        join_all(readers.iter().map(|reader| async {
            while Instant::now() < deadline {
                let _ = cart(&bench.client, base, &reader.access).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }))
        .await;
        rates.push(CallRate {
            variant,
            sessions,
            seconds: window,
            calls: calls(bench, base).await.saturating_sub(before),
        });
    }
    Ok((latencies, rates))
}

/// One session: primed, polled, revoked; how long after auth's answer
/// commerce refused it (ms).
async fn trial(
    bench: &Bench,
    base: &str,
    admin: &str,
    change: &str,
    customer: &Customer,
) -> anyhow::Result<f64> {
    let client = &bench.client;
    ensure!(cart(client, base, &customer.access).await? == StatusCode::OK);
    let refused_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let poller = {
        let (client, base, token) = (client.clone(), base.to_owned(), customer.access.clone());
        let refused_at = refused_at.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(15) {
                if cart(&client, &base, &token).await.ok() == Some(StatusCode::UNAUTHORIZED) {
                    *refused_at.lock().unwrap() = Some(Instant::now());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let request = if change == "logout" {
        client
            .post(format!("{}/api/v1/auth/logout", bench.auth))
            .bearer_auth(&customer.access)
    } else {
        client
            .post(format!(
                "{}/api/v1/admin/users/{}/deactivate",
                bench.auth, customer.user_id
            ))
            .bearer_auth(admin)
    };
    let answer = request.send().await?;
    let answered = Instant::now();
    ensure!(
        answer.status().is_success(),
        "{change} answered {}",
        answer.status()
    );
    poller.await?;
    let refused = refused_at
        .lock()
        .unwrap()
        .context("commerce never refused the session")?;
    Ok(refused.saturating_duration_since(answered).as_secs_f64() * 1000.0)
}

fn summarise(variant: &'static str, change: &'static str, mut samples: Vec<f64>) -> Latency {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Latency {
        variant,
        change,
        trials: samples.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

async fn cart(client: &Client, base: &str, token: &str) -> anyhow::Result<StatusCode> {
    Ok(client
        .get(format!("{base}/api/v1/cart"))
        .bearer_auth(token)
        .send()
        .await?
        .status())
}

/// commerce's token-status calls so far (`auth_status_calls_total`).
async fn calls(bench: &Bench, base: &str) -> u64 {
    super::probes::counter_total(&bench.metrics(base).await, "auth_status_calls_total")
}

async fn admin_token(bench: &Bench) -> anyhow::Result<String> {
    let config = &bench.stack.config;
    let pair: serde_json::Value = bench
        .client
        .post(format!("{}/api/v1/auth/login", bench.auth))
        .json(&json!({"email": config.admin_email, "password": config.admin_password}))
        .send()
        .await?
        .json()
        .await?;
    pair["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the admin could not log in")
}

/// The report's section, its JSON, and the two targets the issue set:
/// `(name, met, seen)`.
pub fn report(
    (latencies, rates): &(Vec<Latency>, Vec<CallRate>),
) -> (String, serde_json::Value, Vec<(&'static str, bool, String)>) {
    let mut md = format!(
        "\n\n{}. Pushed revocation. From auth-service's answer to a logout (or a deactivation) to the first `401` \
         at commerce-service, while a client polls `GET /cart` of that session every 2 ms (sessions 25 at a time); \
         *push*: the stack's commerce-service on NATS, *no push*: a variant without the bus (the 2 s status TTL alone).\n\n\
         | change | variant | trials | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n",
        super::REVOCATION
    );
    for latency in latencies {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} |\n",
            latency.change,
            latency.variant,
            latency.trials,
            latency.p50_ms,
            latency.p99_ms,
            latency.max_ms
        ));
    }
    md.push_str(
        "\nToken-status calls a live session costs (each session reads its cart every 200 ms):\n\n\
         | variant | sessions | seconds | calls | per session per minute |\n|---|---|---|---|---|\n",
    );
    for rate in rates {
        md.push_str(&format!(
            "| {} | {} | {:.0} | {} | {:.2} |\n",
            rate.variant,
            rate.sessions,
            rate.seconds,
            rate.calls,
            rate.per_session_per_minute()
        ));
    }
    let pushed_p99 = latencies
        .iter()
        .filter(|latency| latency.variant == "push")
        .map(|latency| latency.p99_ms)
        .fold(0.0, f64::max);
    let rate_of = |variant: &str| {
        rates
            .iter()
            .find(|rate| rate.variant == variant)
            .map_or(0.0, CallRate::per_session_per_minute)
    };
    let (with, without) = (rate_of("push"), rate_of("no push"));
    let fewer = if with > 0.0 {
        without / with
    } else {
        f64::INFINITY
    };
    let targets = vec![
        (
            "pushed revocation p99 <= 100 ms (logout and deactivation)",
            pushed_p99 <= 100.0,
            format!("{pushed_p99:.1} ms"),
        ),
        (
            "token-status calls per live session at least 10x fewer with the push",
            fewer >= 10.0,
            format!("{without:.2} -> {with:.2} per minute ({fewer:.1}x)"),
        ),
    ];
    let json = serde_json::json!({
        "latency": latencies.iter().map(|l| serde_json::json!({
            "change": l.change, "variant": l.variant, "trials": l.trials,
            "p50_ms": l.p50_ms, "p99_ms": l.p99_ms, "max_ms": l.max_ms,
        })).collect::<Vec<_>>(),
        "token_status_calls": rates.iter().map(|r| serde_json::json!({
            "variant": r.variant, "sessions": r.sessions, "seconds": r.seconds,
            "calls": r.calls, "per_session_per_minute": r.per_session_per_minute(),
        })).collect::<Vec<_>>(),
    });
    (md, json, targets)
}
