//! The benchmark's stack (the run command's, on ports and databases of its
//! own, with limits raised through configuration, plus a second
//! commerce-service with the status cache off) and what the scenarios share.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use anyhow::{Context, ensure};
use futures::future::join_all;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::drivers::{Load, Op, drive, drive_wrk, status_of};
use super::probes::{counter_total, cpu_seconds, take_peak_rss};
use super::sms_sink::SmsSink;
use super::{BenchOptions, Measure};
use crate::stack::{Stack, StackConfig, free_port};

/// Database connections per service in this benchmark.
pub const DATABASE_CONNECTIONS: &str = "6";

/// commerce-service's token-status cache TTL in this benchmark (its default).
pub const STATUS_CACHE_TTL_MS: u64 = 2000;
pub const STATUS_CACHE_TTL: &str = "2000";

/// Starts the stack on free ports (release binaries, databases `bench_auth`
/// and `bench_commerce` made afresh), the cache-less commerce-service and
/// one without the event bus, and the floor handler; returns the stack and
/// the ports of those three.
pub fn start(root: &std::path::Path, sms_webhook: &str) -> anyhow::Result<(Stack, [u16; 3])> {
    let config = StackConfig {
        gateway_port: free_port()?,
        auth_ports: vec![free_port()?],
        commerce_ports: vec![free_port()?],
        postgres_url: crate::postgres_server_url(),
        auth_database: "bench_auth".into(),
        commerce_database: "bench_commerce".into(),
        redis_url: crate::redis_url(),
        redis_key_prefix: "bench".into(),
        // The machine's NATS, a namespace of the run's own: the stack's
        // commerce-service has the pushed revocation, as deployed
        // (`BENCH_EVENT_BUS=off`, for an A/B of its cost, runs without).
        nats_url: (std::env::var("BENCH_EVENT_BUS").as_deref() != Ok("off")).then(crate::nats_url),
        nats_namespace: format!("bench{}", std::process::id()),
        bin_dir: root.join("target/release"),
        work_dir: root.join("target/bench"),
        admin_email: "admin@example.com".into(),
        admin_password: "admin-dev-password".into(),
        extra_env: [
            // The level the run command and the deployments use: spans and
            // logs cost what they cost in production.
            ("RUST_LOG", "info"),
            // Codes go to a provider, as in production (`sms_sink.rs`).
            ("SMS_PROVIDER", "webhook"),
            ("SMS_WEBHOOK_URL", sms_webhook),
            ("OTP_RESEND_SECONDS", "0"),
            ("OTP_PER_NUMBER_HOUR", "1000000"),
            ("OTP_PER_IP_HOUR", "100000000"),
            ("OTP_VERIFY_PER_IP_HOUR", "100000000"),
            ("LOGIN_PER_IP_HOUR", "100000000"),
            // The logins' numbers are sequential (one range) and many: the
            // range rule and the budgets still run (their cost is measured)
            // but never drop a send.
            ("SMS_PER_RANGE_HOUR", "100000000"),
            ("SMS_DAILY_BUDGET", "0"),
            ("SMS_DAILY_BUDGET_PER_COUNTRY", "0"),
            ("MAX_PENDING_ORDERS", "1000000"),
            ("MAX_HELD_UNITS_PER_SKU", "1000000000"),
            // Sized for a database on 2 cores (PostgreSQL's advice: about
            // twice the cores, plus a few): measured best among 4, 6, 8, 12,
            // 16 and 32 here (bench/FINDINGS.md).
            ("DATABASE_MAX_CONNECTIONS", DATABASE_CONNECTIONS),
            ("STATUS_CACHE_TTL_MS", STATUS_CACHE_TTL),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
    };
    for database in [&config.auth_database, &config.commerce_database] {
        crate::database::drop_database(&format!("{}/{database}", config.postgres_url))?;
    }
    let mut stack = Stack::start(config)?;
    let nocache_port = free_port()?;
    stack.spawn_commerce_variant(
        "commerce-nocache",
        nocache_port,
        &[("STATUS_CACHE_TTL_MS", "0")],
    )?;
    let nopush_port = free_port()?;
    stack.spawn_commerce_variant("commerce-nopush", nopush_port, &[("NATS_URL", "")])?;
    let floor_port = free_port()?;
    // Optimised as the services are (`cargo xtask` itself is a debug build).
    let mut floor = std::process::Command::new(root.join("target/release/xtask"));
    let config = &stack.config;
    floor
        .arg("bench-floor")
        .env("LISTEN_ADDR", format!("127.0.0.1:{floor_port}"))
        .env("AUTH_URL", config.auth_url())
        .env("REDIS_URL", &config.redis_url)
        .env("REDIS_KEY_PREFIX", &config.redis_key_prefix)
        .env(
            "DATABASE_URL",
            config.database_url(&config.commerce_database),
        );
    stack.spawn_beside("floor", floor, floor_port)?;
    Ok((stack, [nocache_port, nopush_port, floor_port]))
}

/// The running stack and what the scenarios share: clients, URLs, the
/// customers logged in up front, the SKUs and the token files.
pub struct Bench {
    pub stack: Stack,
    pub client: Client,
    pub options: BenchOptions,
    pub commerce: String,
    pub nocache: String,
    /// commerce-service without the event bus (the short status TTL alone).
    pub nopush: String,
    pub auth: String,
    /// Where auth-service's codes arrive.
    pub sms: SmsSink,
    pub gateway: String,
    /// The floor handler of `floor.rs`.
    pub floor: String,
    /// PostgreSQL's server process (its backends are its children).
    pub postgres_pid: Option<u32>,
    /// Customers whose carts are read (scenarios 3, 4 and 9), three lines each.
    pub readers: Vec<Customer>,
    /// Customers who add to their carts (scenario 5); emptied before each run.
    pub adder_ids: Vec<i64>,
    /// Customers who check out (scenario 8); their carts are filled before each run.
    pub buyers: Vec<Customer>,
    /// SKUs sold in the `us` market.
    pub skus: Vec<i64>,
    pub next_phone: Arc<AtomicUsize>,
    pub files: TokenFiles,
}

/// Token files the wrk scripts read.
pub struct TokenFiles {
    pub dir: std::path::PathBuf,
    pub readers: std::path::PathBuf,
    pub adders: std::path::PathBuf,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub user_id: i64,
    pub access: String,
    pub refresh: String,
}

impl Bench {
    pub fn phone(n: usize) -> String {
        // Valid Chicago numbers, distinct per index.
        format!("+1312{:07}", 2_000_000 + n)
    }

    pub async fn login(
        client: &Client,
        auth: &str,
        sms: &SmsSink,
        phone: &str,
        market: &str,
    ) -> anyhow::Result<Value> {
        let sent = client
            .post(format!("{auth}/api/v1/auth/send-code"))
            .json(&json!({"phone": phone}))
            .send()
            .await?;
        ensure!(
            sent.status() == StatusCode::ACCEPTED,
            "send-code answered {}",
            sent.status()
        );
        let code = sms.take(phone)?;
        let response = client
            .post(format!("{auth}/api/v1/auth/verify-code"))
            .header("x-market", market)
            .json(&json!({"phone": phone, "verification_code": code}))
            .send()
            .await?;
        ensure!(
            response.status() == StatusCode::OK,
            "verify-code answered {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    /// Logs in `count` customers of `market`, 64 at a time.
    pub async fn customers(
        &self,
        first: usize,
        count: usize,
        market: &str,
    ) -> anyhow::Result<Vec<Customer>> {
        let mut out = Vec::with_capacity(count);
        for chunk in (first..first + count).collect::<Vec<_>>().chunks(64) {
            let phones: Vec<String> = chunk.iter().map(|n| Self::phone(*n)).collect();
            let logins = phones
                .iter()
                .map(|phone| Self::login(&self.client, &self.auth, &self.sms, phone, market));
            for pair in join_all(logins).await {
                let pair = pair?;
                out.push(Customer {
                    user_id: pair["user"]["id"].as_i64().context("user id")?,
                    access: pair["access_token"].as_str().context("access")?.to_owned(),
                    refresh: pair["refresh_token"]
                        .as_str()
                        .context("refresh")?
                        .to_owned(),
                });
            }
        }
        Ok(out)
    }

    pub async fn metrics(&self, base: &str) -> String {
        match self.client.get(format!("{base}/metrics")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Runs one scenario once, with CPU, memory and token-status accounting.
    pub async fn measure(&self, load: Load, count_status_calls: bool) -> anyhow::Result<Measure> {
        let pids: Vec<(&'static str, u32)> = [
            "auth-service",
            "commerce-service",
            "commerce-nocache",
            "gateway",
            "floor",
        ]
        .into_iter()
        .filter_map(|name| self.stack.pid(name).map(|pid| (name, pid)))
        .chain(self.postgres_pid.map(|pid| ("postgres", pid)))
        .collect();
        // Peak memory is the services' (and the floor's), not the database's.
        let services = || pids.iter().filter(|(name, _)| *name != "postgres");
        for (_, pid) in services() {
            take_peak_rss(*pid);
        }
        let calls_before = counter_total(
            &self.metrics(&self.auth).await,
            "token_status_requests_total",
        );
        let cpu_before: Vec<f64> = pids.iter().map(|(_, pid)| cpu_seconds(*pid)).collect();
        let (connections, seconds) = (self.options.connections, self.options.seconds);
        let driven = match load {
            Load::Driver(op) => drive(connections, seconds, op).await,
            Load::Wrk { script, url, args } => {
                tokio::task::spawn_blocking(move || {
                    drive_wrk(connections, seconds, script, &url, &args)
                })
                .await??
            }
        };
        let requests = driven.requests;
        let mut measure = Measure {
            requests,
            non_2xx: driven.failed,
            elapsed: driven.elapsed,
            p50_ms: driven.p50_ms,
            p99_ms: driven.p99_ms,
            ..Measure::default()
        };
        for ((name, pid), before) in pids.iter().zip(cpu_before) {
            let used = cpu_seconds(*pid) - before;
            if requests > 0 {
                measure
                    .cpu_us_per_request
                    .insert(name, used * 1e6 / requests as f64);
            }
        }
        for (name, pid) in services() {
            measure.peak_rss_mib.insert(name, take_peak_rss(*pid));
        }
        if count_status_calls {
            let after = counter_total(
                &self.metrics(&self.auth).await,
                "token_status_requests_total",
            );
            measure.token_status_calls = Some(after.saturating_sub(calls_before));
        }
        Ok(measure)
    }

    pub fn cart_op(&self, base: &str) -> Op {
        let client = self.client.clone();
        let url = format!("{base}/api/v1/cart");
        let tokens: Arc<Vec<String>> =
            Arc::new(self.readers.iter().map(|c| c.access.clone()).collect());
        Arc::new(move |worker, iteration| {
            let token = &tokens[(worker * 7919 + iteration as usize) % tokens.len()];
            Box::pin(status_of(client.get(&url).bearer_auth(token)))
        })
    }
}

/// One token per line, for the wrk scripts.
pub fn write_lines<'a>(
    path: &std::path::Path,
    lines: impl Iterator<Item = &'a str>,
) -> anyhow::Result<()> {
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
