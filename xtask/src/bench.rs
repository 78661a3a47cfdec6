//! `cargo xtask bench`: the hot paths under load, on loopback, bounded in
//! time, written to `bench/REPORT.md` and `bench/results.json`.
//!
//! The stack is the run command's (release binaries, gateway, seeded
//! catalog) on ports and databases of its own; limits such as code
//! cooldowns and per-IP caps are raised through configuration. The load
//! generator is `wrk` (Debian's package) with the Lua scripts of
//! `bench/wrk/` for single-request scenarios, and an async Rust client in
//! this process for the multi-step ones (login, checkout); 64 connections
//! by default. Each service's CPU time is read from `/proc`, so the
//! generator's share does not count.

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures::future::join_all;
use hdrhistogram::Histogram;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::stack::{Stack, StackConfig, free_port};

/// What `cargo xtask bench` was asked for.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub seconds: f64,
    pub connections: usize,
    pub runs: usize,
    pub quick: bool,
    /// Scenario numbers to run; empty for all (and only then a report).
    pub only: Vec<usize>,
}

/// One measured run of one scenario.
#[derive(Debug, Clone, Default)]
struct Measure {
    requests: u64,
    non_2xx: u64,
    elapsed: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_request: BTreeMap<&'static str, f64>,
    peak_rss_mib: BTreeMap<&'static str, f64>,
    token_status_calls: Option<u64>,
}

impl Measure {
    fn rps(&self) -> f64 {
        if self.elapsed > 0.0 {
            self.requests as f64 / self.elapsed
        } else {
            0.0
        }
    }
}

type Op = Arc<
    dyn Fn(usize, u64) -> futures::future::BoxFuture<'static, Result<u16, String>> + Send + Sync,
>;

/// How a scenario's load is generated.
enum Load {
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
struct Driven {
    requests: u64,
    failed: u64,
    elapsed: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs wrk for `seconds` with `connections` over two threads and reads
/// back the JSON line `bench/wrk/report.lua` prints.
fn drive_wrk(
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
async fn drive(connections: usize, seconds: f64, op: Op) -> Driven {
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

/// User + system CPU seconds of a process and its direct children so far
/// (nginx's work is done by the worker processes of its master).
fn cpu_seconds(pid: u32) -> f64 {
    let children: f64 = fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
                .filter(|child| parent_of(*child) == Some(pid))
                .map(own_cpu_seconds)
                .sum()
        })
        .unwrap_or(0.0);
    own_cpu_seconds(pid) + children
}

fn stat_fields(pid: u32) -> Vec<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    rest.split_whitespace().map(str::to_owned).collect()
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid).get(1)?.parse().ok()
}

fn own_cpu_seconds(pid: u32) -> f64 {
    let fields = stat_fields(pid);
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory (VmHWM) in MiB, then reset so the next scenario has its own peak.
fn take_peak_rss(pid: u32) -> f64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
    kib / 1024.0
}

/// A counter's total over all its label sets in Prometheus text.
fn counter_total(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter(|line| line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

struct Bench {
    stack: Stack,
    client: Client,
    options: BenchOptions,
    commerce: String,
    nocache: String,
    auth: String,
    gateway: String,
    /// Customers whose carts are read (scenarios 3, 4 and 9), three lines each.
    readers: Vec<Customer>,
    /// Customers who add to their carts (scenario 5); emptied before each run.
    adder_ids: Vec<i64>,
    /// Customers who check out (scenario 8); their carts are filled before each run.
    buyers: Vec<Customer>,
    /// SKUs sold in the `us` market.
    skus: Vec<i64>,
    next_phone: Arc<AtomicUsize>,
    files: TokenFiles,
}

/// Token files the wrk scripts read.
struct TokenFiles {
    dir: std::path::PathBuf,
    readers: std::path::PathBuf,
    adders: std::path::PathBuf,
}

#[derive(Debug, Clone)]
struct Customer {
    user_id: i64,
    access: String,
    refresh: String,
}

async fn status_of(request: reqwest::RequestBuilder) -> Result<u16, String> {
    request
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.without_url().to_string())
}

impl Bench {
    fn phone(n: usize) -> String {
        // Valid Chicago numbers, distinct per index.
        format!("+1312{:07}", 2_000_000 + n)
    }

    async fn login(
        client: &Client,
        auth: &str,
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
        let outbox: Value = client
            .get(format!("{auth}/internal/v1/dev/sms-outbox"))
            .query(&[("phone", phone)])
            .bearer_auth("dev-internal-token")
            .send()
            .await?
            .json()
            .await?;
        let code = outbox["items"][0]["code"]
            .as_str()
            .context("a code")?
            .to_owned();
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
    async fn customers(
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
                .map(|phone| Self::login(&self.client, &self.auth, phone, market));
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

    async fn metrics(&self, base: &str) -> String {
        match self.client.get(format!("{base}/metrics")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Runs one scenario once, with CPU, memory and token-status accounting.
    async fn measure(&self, load: Load, count_status_calls: bool) -> anyhow::Result<Measure> {
        let pids: Vec<(&'static str, u32)> = [
            "auth-service",
            "commerce-service",
            "commerce-nocache",
            "gateway",
        ]
        .into_iter()
        .filter_map(|name| self.stack.pid(name).map(|pid| (name, pid)))
        .collect();
        for (_, pid) in &pids {
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

    fn cart_op(&self, base: &str) -> Op {
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

/// Database connections per service in this benchmark.
const DATABASE_CONNECTIONS: &str = "6";

/// commerce-service's token-status cache TTL in this benchmark (its default).
const STATUS_CACHE_TTL_MS: u64 = 2000;
const STATUS_CACHE_TTL: &str = "2000";

/// The scenarios' names, in report order.
const SCENARIOS: [&str; 9] = [
    "1. GET /healthz (commerce)",
    "2. GET /api/v1/products?page=1",
    "3. GET /api/v1/cart, warm status cache",
    "4. GET /api/v1/cart, status cache off",
    "5. POST /api/v1/cart/items",
    "6. POST /api/v1/auth/refresh",
    "7. phone login (send-code + verify-code)",
    "8. POST /api/v1/orders (checkout)",
    "9. GET /api/v1/cart through the gateway",
];

pub fn run(options: BenchOptions) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "-p",
                "auth-service",
                "-p",
                "commerce-service",
            ])
            .status()?;
    ensure!(status.success(), "release build failed");
    let config = StackConfig {
        gateway_port: free_port()?,
        auth_port: free_port()?,
        commerce_port: free_port()?,
        postgres_url: crate::postgres_server_url(),
        auth_database: "bench_auth".into(),
        commerce_database: "bench_commerce".into(),
        redis_url: crate::redis_url(),
        redis_key_prefix: "bench".into(),
        bin_dir: root.join("target/release"),
        work_dir: root.join("target/bench"),
        admin_email: "admin@example.com".into(),
        admin_password: "admin-dev-password".into(),
        extra_env: [
            // The level the run command and the deployments use: spans and
            // logs cost what they cost in production.
            ("RUST_LOG", "info"),
            ("OTP_RESEND_SECONDS", "0"),
            ("OTP_PER_NUMBER_HOUR", "1000000"),
            ("OTP_PER_IP_HOUR", "100000000"),
            ("OTP_VERIFY_PER_IP_HOUR", "100000000"),
            ("LOGIN_PER_IP_HOUR", "100000000"),
            ("MAX_PENDING_ORDERS", "1000000"),
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(bench(stack, nocache_port, options));
    runtime.shutdown_timeout(Duration::from_secs(2));
    outcome
}

async fn bench(stack: Stack, nocache_port: u16, options: BenchOptions) -> anyhow::Result<()> {
    let config = stack.config.clone();
    let client = Client::builder().pool_max_idle_per_host(256).build()?;
    let dir = config.work_dir.join("wrk");
    fs::create_dir_all(&dir)?;
    let mut bench = Bench {
        commerce: config.commerce_url(),
        nocache: format!("http://127.0.0.1:{nocache_port}"),
        auth: config.auth_url(),
        gateway: config.gateway_url(),
        client,
        options: options.clone(),
        readers: Vec::new(),
        adder_ids: Vec::new(),
        buyers: Vec::new(),
        skus: Vec::new(),
        next_phone: Arc::new(AtomicUsize::new(1_000_000)),
        files: TokenFiles {
            readers: dir.join("readers.txt"),
            adders: dir.join("adders.txt"),
            dir,
        },
        stack,
    };
    // Ample stock, so that nothing fails for want of it.
    let commerce_db = format!("{}/{}", config.postgres_url, config.commerce_database);
    let pool = sqlx::PgPool::connect(&commerce_db).await?;
    sqlx::query("update skus set stock = 10000000")
        .execute(&pool)
        .await?;
    bench.skus = sqlx::query_scalar(
        "select s.id from skus s
         join products p on p.id = s.product_id
         join prices pr on pr.sku_id = s.id and pr.market = 'us'
         where s.is_active and p.is_active order by s.id",
    )
    .fetch_all(&pool)
    .await?;
    ensure!(bench.skus.len() >= 3, "the seeded catalog has too few SKUs");
    let users = if options.quick { 200 } else { 1000 };
    eprintln!("bench: logging in 2 x {users} customers");
    bench.readers = bench.customers(0, users, "us").await?;
    let adders = bench.customers(users, users, "us").await?;
    // Enough buyers that a run at 1,000 orders/s rarely runs out before its
    // time is up (when it does, the rate is over the time it took).
    if options.only.is_empty() || options.only.contains(&8) {
        let buyers = if options.quick { 300 } else { 8000 };
        eprintln!("bench: logging in {buyers} buyers");
        bench.buyers = bench.customers(2 * users, buyers, "us").await?;
    }
    bench.adder_ids = adders.iter().map(|c| c.user_id).collect();
    write_lines(
        &bench.files.readers,
        bench.readers.iter().map(|c| c.access.as_str()),
    )?;
    write_lines(
        &bench.files.adders,
        adders.iter().map(|c| c.access.as_str()),
    )?;
    // A cart worth reading: three lines each.
    let add_url = format!("{}/api/v1/cart/items", bench.commerce);
    for (n, reader) in bench.readers.iter().enumerate() {
        for line in 0..3 {
            let sku = bench.skus[(n * 3 + line) % bench.skus.len()];
            let added = bench
                .client
                .post(&add_url)
                .bearer_auth(&reader.access)
                .json(&json!({"sku_id": sku, "quantity": 1 + line}))
                .send()
                .await?;
            ensure!(
                added.status().is_success(),
                "cart add answered {}",
                added.status()
            );
        }
    }

    let partial = !options.only.is_empty();
    // Statistics for the rows just made, as autovacuum would gather them
    // on a database that has been running for a while.
    sqlx::query("analyze").execute(&pool).await?;
    let floors = if partial {
        BTreeMap::new()
    } else {
        floors(&config).await
    };
    let mut results: BTreeMap<&'static str, Vec<Measure>> = BTreeMap::new();
    for run in 0..options.runs {
        eprintln!("bench: run {} of {}", run + 1, options.runs);
        for (index, name) in SCENARIOS.iter().enumerate() {
            if partial && !options.only.contains(&(index + 1)) {
                continue;
            }
            let measure = scenario(&bench, index + 1, &pool).await?;
            let cpu: Vec<String> = measure
                .cpu_us_per_request
                .iter()
                .filter(|(_, us)| **us >= 1.0)
                .map(|(service, us)| format!("{service} {us:.0}"))
                .collect();
            eprintln!(
                "  {name}: {:.0}/s p50 {:.2} ms p99 {:.2} ms non-2xx {}; CPU µs/req: {}",
                measure.rps(),
                measure.p50_ms,
                measure.p99_ms,
                measure.non_2xx,
                cpu.join(", ")
            );
            results.entry(name).or_default().push(measure);
        }
    }
    if !partial {
        let micro = verifier_micro_benchmark(options.quick);
        write_report(&options, &results, &floors, &micro, bench.readers.len())?;
    }
    drop(bench);
    Ok(())
}

async fn scenario(bench: &Bench, number: usize, pool: &sqlx::PgPool) -> anyhow::Result<Measure> {
    let wrk =
        |script: &'static str, url: String, args: Vec<String>| Load::Wrk { script, url, args };
    let cart = |base: &str| {
        wrk(
            "bearer.lua",
            format!("{base}/api/v1/cart"),
            vec![bench.files.readers.display().to_string()],
        )
    };
    match number {
        1 => {
            let url = format!("{}/healthz", bench.commerce);
            bench.measure(wrk("plain.lua", url, vec![]), false).await
        }
        2 => {
            let url = format!("{}/api/v1/products?page=1", bench.commerce);
            bench.measure(wrk("plain.lua", url, vec![]), false).await
        }
        3 => {
            // Warm the cache first: one request per customer.
            drive(16, 2.0, bench.cart_op(&bench.commerce)).await;
            bench.measure(cart(&bench.commerce), true).await
        }
        4 => bench.measure(cart(&bench.nocache), true).await,
        5 => {
            // The same starting point in every run: empty carts.
            sqlx::query(
                "delete from cart_items where cart_id in
                   (select id from carts where user_id = any($1))",
            )
            .bind(&bench.adder_ids)
            .execute(pool)
            .await?;
            let skus = bench.skus.iter().map(i64::to_string).collect::<Vec<_>>();
            let load = wrk(
                "cart_add.lua",
                format!("{}/api/v1/cart/items", bench.commerce),
                vec![bench.files.adders.display().to_string(), skus.join(",")],
            );
            bench.measure(load, false).await
        }
        6 => {
            // Sessions of their own in each run: tokens rotated in flight
            // when wrk stops must never be presented again.
            let count = bench.readers.len();
            let first = bench.next_phone.fetch_add(count, Ordering::Relaxed);
            let sessions = bench.customers(first, count, "us").await?;
            let file = bench.files.dir.join("refresh.txt");
            write_lines(&file, sessions.iter().map(|c| c.refresh.as_str()))?;
            let threads = bench.options.connections.clamp(1, 2);
            let load = wrk(
                "refresh.lua",
                format!("{}/api/v1/auth/refresh", bench.auth),
                vec![file.display().to_string(), threads.to_string()],
            );
            bench.measure(load, false).await
        }
        7 => {
            let client = bench.client.clone();
            let auth = bench.auth.clone();
            let phones = bench.next_phone.clone();
            let op: Op = Arc::new(move |_, _| {
                let client = client.clone();
                let auth = auth.clone();
                let phone = Bench::phone(phones.fetch_add(1, Ordering::Relaxed));
                Box::pin(async move {
                    Bench::login(&client, &auth, &phone, "us")
                        .await
                        .map(|_| 200)
                        .map_err(|e| e.to_string())
                })
            });
            bench.measure(Load::Driver(op), false).await
        }
        8 => checkout_scenario(bench, pool).await,
        9 => bench.measure(cart(&bench.gateway), false).await,
        _ => bail!("no scenario {number}"),
    }
}

/// One token per line, for the wrk scripts.
fn write_lines<'a>(
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

/// Checkout: before each run every buyer's cart gets two lines (SKUs spread
/// over the catalog, as real baskets are); each buyer checks out once with
/// a fresh key. Afterwards orders and stock must add up exactly.
async fn checkout_scenario(bench: &Bench, pool: &sqlx::PgPool) -> anyhow::Result<Measure> {
    let skus = &bench.skus;
    let (mut users, mut line_skus, mut quantities) = (Vec::new(), Vec::new(), Vec::new());
    for (n, buyer) in bench.buyers.iter().enumerate() {
        for (offset, quantity) in [(0, 2), (1, 1)] {
            users.push(buyer.user_id);
            line_skus.push(skus[(n + offset) % skus.len()]);
            quantities.push(quantity);
        }
    }
    sqlx::query(
        "insert into carts (user_id, market) select distinct unnest($1::bigint[]), 'us'
         on conflict (user_id, market) do update set updated_at = now()",
    )
    .bind(&users)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into cart_items (cart_id, sku_id, quantity)
         select c.id, l.sku_id, l.quantity
         from unnest($1::bigint[], $2::bigint[], $3::int[]) as l (user_id, sku_id, quantity)
         join carts c on c.user_id = l.user_id and c.market = 'us'
         on conflict (cart_id, sku_id) do update set quantity = excluded.quantity",
    )
    .bind(&users)
    .bind(&line_skus)
    .bind(&quantities)
    .execute(pool)
    .await?;
    let units_per_order = 3;
    let total_stock = "select sum(stock)::bigint from skus";
    let stock_before: i64 = sqlx::query_scalar(total_stock).fetch_one(pool).await?;
    let orders_before: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(pool)
        .await?;
    let queue = Arc::new(std::sync::Mutex::new(
        bench
            .buyers
            .iter()
            .map(|b| b.access.clone())
            .collect::<Vec<_>>(),
    ));
    let url = format!("{}/api/v1/orders", bench.commerce);
    let client = bench.client.clone();
    let created = Arc::new(AtomicUsize::new(0));
    let counted = created.clone();
    // Keys never seen before, in this run or an earlier one.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let measure = bench
        .measure(
            Load::Driver(Arc::new(move |worker, iteration| {
                let token = queue.lock().ok().and_then(|mut q| q.pop());
                let client = client.clone();
                let url = url.clone();
                let created = counted.clone();
                Box::pin(async move {
                    let token = token.ok_or_else(|| "exhausted".to_owned())?;
                    let key = format!("bench-{run_id}-{worker}-{iteration}");
                    let status = status_of(
                        client
                            .post(&url)
                            .bearer_auth(token)
                            .header("idempotency-key", key),
                    )
                    .await?;
                    if status == 201 {
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(status)
                })
            })),
            false,
        )
        .await?;
    let stock_after: i64 = sqlx::query_scalar(total_stock).fetch_one(pool).await?;
    let orders_after: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(pool)
        .await?;
    let made = created.load(Ordering::Relaxed) as i64;
    ensure!(
        orders_after - orders_before == made,
        "orders: {} made, {} answered 201",
        orders_after - orders_before,
        made
    );
    ensure!(
        stock_before - stock_after == units_per_order * made,
        "stock moved by {}, orders took {}",
        stock_before - stock_after,
        units_per_order * made
    );
    Ok(measure)
}

/// PostgreSQL's and Redis's own floors on this machine, when their
/// benchmark tools are installed.
async fn floors(config: &StackConfig) -> BTreeMap<&'static str, f64> {
    let mut floors = BTreeMap::new();
    let pgbench = [
        "pgbench",
        "/usr/lib/postgresql/15/bin/pgbench",
        "/usr/lib/postgresql/16/bin/pgbench",
    ]
    .into_iter()
    .find(|p| {
        std::process::Command::new(p)
            .arg("--version")
            .output()
            .is_ok()
    });
    if let Some(pgbench) = pgbench {
        let url = format!("{}/bench_commerce", config.postgres_url);
        let _ = std::process::Command::new(pgbench)
            .args(["-i", "-q", "-s", "1", &url])
            .output();
        if let Ok(out) = std::process::Command::new(pgbench)
            .args(["-S", "-c", "16", "-j", "2", "-T", "5", &url])
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(tps) = text
                .lines()
                .find(|l| l.starts_with("tps"))
                .and_then(|l| l.split_whitespace().nth(2))
                .and_then(|v| v.parse::<f64>().ok())
            {
                floors.insert("postgresql_select_tps", tps);
            }
        }
    }
    if let Ok(out) = std::process::Command::new("redis-benchmark")
        .args(["-q", "-t", "get", "-n", "200000", "-c", "64"])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(rps) = text
            .split(['\r', '\n'])
            .filter(|l| l.starts_with("GET:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .next_back()
        {
            floors.insert("redis_get_rps", rps);
        }
    }
    floors
}

/// Scenario 10: `common`'s verifier, first sight and cached, both
/// algorithms (criterion), as nanoseconds per verification.
fn verifier_micro_benchmark(quick: bool) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut args = vec!["bench", "-p", "common", "--bench", "verifier", "--"];
    if quick {
        args.extend(["--warm-up-time", "0.2", "--measurement-time", "0.5"]);
    }
    let Ok(output) =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(crate::workspace_root())
            .args(&args)
            .output()
    else {
        return out;
    };
    // Criterion prints `verifier/eddsa_cached   time:   [61.2 ns 61.5 ns 61.9 ns]`.
    let text = String::from_utf8_lossy(&output.stdout);
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line
            .split_whitespace()
            .next()
            .filter(|n| n.starts_with("verifier/"))
        {
            current = Some(name.trim_start_matches("verifier/").to_owned());
        }
        if let (Some(name), Some(times)) = (&current, line.split_once("time:").map(|(_, t)| t)) {
            let parts: Vec<&str> = times
                .trim()
                .trim_matches(['[', ']'])
                .split_whitespace()
                .collect();
            if let (Some(value), Some(unit)) = (
                parts.get(2).and_then(|v| v.parse::<f64>().ok()),
                parts.get(3),
            ) {
                let scale = match *unit {
                    "ps" => 0.001,
                    "ns" => 1.0,
                    "µs" | "us" => 1_000.0,
                    "ms" => 1_000_000.0,
                    _ => 1.0,
                };
                out.insert(name.clone(), value * scale);
                current = None;
            }
        }
    }
    out
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The first line a tool prints about its version (stdout or stderr).
fn version_of(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|out| {
            let text = [out.stdout, out.stderr].concat();
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|_| format!("{program}: not found"))
}

/// The median over runs of one figure of one scenario.
fn median_of(
    results: &BTreeMap<&'static str, Vec<Measure>>,
    scenario: usize,
    figure: impl Fn(&Measure) -> f64,
) -> f64 {
    let mut values: Vec<f64> = results
        .get(SCENARIOS[scenario - 1])
        .map(|measures| measures.iter().map(figure).collect())
        .unwrap_or_default();
    median(&mut values)
}

/// One target of the issue, judged on the medians.
struct Target {
    name: &'static str,
    met: bool,
    seen: String,
}

fn judge_targets(
    options: &BenchOptions,
    results: &BTreeMap<&'static str, Vec<Measure>>,
    sessions: usize,
) -> Vec<Target> {
    let rps = |n: usize| median_of(results, n, Measure::rps);
    let p99 = |n: usize| median_of(results, n, |m| m.p99_ms);
    let commerce_cpu = median_of(results, 3, |m| {
        m.cpu_us_per_request
            .get("commerce-service")
            .copied()
            .unwrap_or(0.0)
    });
    // Each session may be asked about once per TTL, plus once at the start.
    let status_bound = sessions as u64
        * ((options.seconds * 1000.0 / STATUS_CACHE_TTL_MS as f64).ceil() as u64 + 1);
    let status_calls = results
        .get(SCENARIOS[2])
        .and_then(|m| m.iter().filter_map(|m| m.token_status_calls).max())
        .unwrap_or(0);
    let peak_rss = results
        .values()
        .flatten()
        .flat_map(|m| m.peak_rss_mib.values().copied())
        .fold(0.0, f64::max);
    let failures: u64 = results.values().flatten().map(|m| m.non_2xx).sum();
    let at_least = |name: &'static str, scenario: usize, floor: f64| Target {
        name,
        met: rps(scenario) >= floor,
        seen: format!("{:.0}/s", rps(scenario)),
    };
    vec![
        at_least("scenario 3: at least 10,000 req/s", 3, 10_000.0),
        Target {
            name: "scenario 3: p99 at most 15 ms",
            met: p99(3) <= 15.0,
            seen: format!("{:.2} ms", p99(3)),
        },
        Target {
            name: "scenario 3: at most one token-status call per session per cache TTL",
            met: status_calls <= status_bound,
            seen: format!(
                "{status_calls} calls for {sessions} sessions over {} s at TTL {STATUS_CACHE_TTL_MS} ms (bound {status_bound})",
                options.seconds
            ),
        },
        at_least("scenario 5: at least 5,000 req/s", 5, 5_000.0),
        at_least("scenario 6: at least 8,000 req/s", 6, 8_000.0),
        at_least("scenario 7: at least 2,000 logins/s", 7, 2_000.0),
        // The run fails before the report when stock and orders disagree.
        at_least(
            "scenario 8: at least 1,000 orders/s (stock and orders matched exactly)",
            8,
            1_000.0,
        ),
        Target {
            name: "commerce CPU per cart read at most 80 µs",
            met: commerce_cpu <= 80.0,
            seen: format!("{commerce_cpu:.0} µs"),
        },
        Target {
            name: "peak RSS of each service at most 64 MiB",
            met: peak_rss <= 64.0,
            seen: format!("{peak_rss:.1} MiB at most"),
        },
        Target {
            name: "the gateway costs at most 30% of scenario 3's throughput",
            met: rps(9) >= 0.7 * rps(3),
            seen: format!("{:.0}% lower", (1.0 - rps(9) / rps(3).max(1.0)) * 100.0),
        },
        Target {
            name: "no failed answers where nothing should fail",
            met: failures == 0,
            seen: format!("{failures} non-2xx"),
        },
    ]
}

fn write_report(
    options: &BenchOptions,
    results: &BTreeMap<&'static str, Vec<Measure>>,
    floors: &BTreeMap<&'static str, f64>,
    micro: &BTreeMap<String, f64>,
    sessions: usize,
) -> anyhow::Result<()> {
    let dir = crate::workspace_root().join("bench");
    fs::create_dir_all(&dir)?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = version_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let versions = [
        version_of("rustc", &["--version"]),
        version_of("wrk", &["--version"]),
        version_of("nginx", &["-v"]),
        version_of("psql", &["--version"]),
        version_of("redis-server", &["--version"]),
    ];
    let healthz = median_of(results, 1, Measure::rps);
    let pg_floor = floors.get("postgresql_select_tps").copied().unwrap_or(0.0);
    let redis_floor = floors.get("redis_get_rps").copied().unwrap_or(0.0);
    let ratio = |rps: f64, floor: f64| {
        if floor > 0.0 {
            format!("{:.2}", rps / floor)
        } else {
            "-".to_owned()
        }
    };
    let mut json_scenarios = Vec::new();
    let mut md = format!(
        "# Benchmark report\n\n`cargo xtask bench` on {date}: {cores} cores, the load generator on the same \
         machine (loopback). {}.\n\nEach scenario: {} s, {} connections, median of {} run(s){}. \
         Scenarios 1-6 and 9 are driven by wrk (`bench/wrk/*.lua`), 7 and 8 by xtask's own client. \
         The services log at `RUST_LOG=info` with {DATABASE_CONNECTIONS} database connections each. \
         CPU is user + system time of each service's process from /proc over the scenario, divided by its requests \
         (7: per login; 8: per order).\n\n\
         | scenario | req/s | × healthz | × pgbench -S | × redis GET | p50 ms | p99 ms | non-2xx | CPU µs/req (auth / commerce / gateway) | peak RSS MiB (auth / commerce) | token-status calls |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        versions.join("; "),
        options.seconds,
        options.connections,
        options.runs,
        if options.quick {
            " (quick smoke mode: numbers are not meaningful)"
        } else {
            ""
        }
    );
    for (index, name) in SCENARIOS.iter().enumerate() {
        let Some(measures) = results.get(name) else {
            continue;
        };
        let number = index + 1;
        let rps = median_of(results, number, Measure::rps);
        let cpu = |service: &'static str| {
            median_of(results, number, |m| {
                m.cpu_us_per_request.get(service).copied().unwrap_or(0.0)
            })
        };
        let rss = |service: &'static str| {
            median_of(results, number, |m| {
                m.peak_rss_mib.get(service).copied().unwrap_or(0.0)
            })
        };
        let commerce_key = if number == 4 {
            "commerce-nocache"
        } else {
            "commerce-service"
        };
        let calls = measures.iter().filter_map(|m| m.token_status_calls).max();
        let non_2xx: u64 = measures.iter().map(|m| m.non_2xx).sum();
        let p50 = median_of(results, number, |m| m.p50_ms);
        let p99 = median_of(results, number, |m| m.p99_ms);
        md.push_str(&format!(
            "| {name} | {rps:.0} | {:.2} | {} | {} | {p50:.2} | {p99:.2} | {non_2xx} | {:.0} / {:.0} / {:.0} | {:.1} / {:.1} | {} |\n",
            if healthz > 0.0 { rps / healthz } else { 0.0 },
            ratio(rps, pg_floor),
            ratio(rps, redis_floor),
            cpu("auth-service"),
            cpu(commerce_key),
            cpu("gateway"),
            rss("auth-service"),
            rss(commerce_key),
            calls.map_or("-".to_owned(), |c| c.to_string()),
        ));
        json_scenarios.push(json!({
            "scenario": name,
            "requests_per_second": rps,
            "p50_ms": p50,
            "p99_ms": p99,
            "non_2xx": non_2xx,
            "cpu_us_per_request": {"auth": cpu("auth-service"), "commerce": cpu(commerce_key), "gateway": cpu("gateway")},
            "peak_rss_mib": {"auth": rss("auth-service"), "commerce": rss(commerce_key)},
            "token_status_calls": calls,
            "runs": measures.iter().map(|m| json!({"rps": m.rps(), "p50_ms": m.p50_ms, "p99_ms": m.p99_ms, "non_2xx": m.non_2xx})).collect::<Vec<_>>(),
        }));
    }
    md.push_str("\nFloors measured in the same run (`pgbench -S -c 16 -j 2 -T 5`, `redis-benchmark -t get -c 64`): ");
    md.push_str(
        &floors
            .iter()
            .map(|(k, v)| format!("{k} = {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if floors.is_empty() {
        md.push_str(
            "none (install `postgresql-contrib`'s pgbench and `redis-tools` to measure them)",
        );
    }
    md.push_str("\n\n10. Verifier micro-benchmark (criterion, ns per verification): ");
    md.push_str(
        &micro
            .iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    md.push_str("\n\n## Targets\n\n");
    let targets = judge_targets(options, results, sessions);
    for target in &targets {
        md.push_str(&format!(
            "- {} {}: {}\n",
            if target.met { "met:" } else { "MISSED:" },
            target.name,
            target.seen
        ));
    }
    // The analysis (profiles, changes with before and after, what is left)
    // is written by hand and kept beside the generated numbers.
    if let Ok(findings) = fs::read_to_string(dir.join("FINDINGS.md")) {
        md.push('\n');
        md.push_str(&findings);
    }
    fs::write(dir.join("REPORT.md"), &md)?;
    let json = json!({
        "cores": cores, "date": date, "versions": versions,
        "targets": targets.iter().map(|t| json!({"target": t.name, "met": t.met, "seen": t.seen})).collect::<Vec<_>>(),
        "seconds": options.seconds, "connections": options.connections, "runs": options.runs, "quick": options.quick,
        "floors": floors, "verifier_ns": micro, "scenarios": json_scenarios,
    });
    fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    println!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{counter_total, median};

    #[test]
    fn a_counter_is_summed_over_its_label_sets_only() {
        let metrics = "# TYPE token_status_requests_total counter\n\
            token_status_requests_total{outcome=\"active\"} 40\n\
            token_status_requests_total{outcome=\"revoked\"} 2\n\
            token_status_requests_total_created 99\n\
            other_total 7\n";
        assert_eq!(counter_total(metrics, "token_status_requests_total"), 42);
        assert_eq!(counter_total(metrics, "missing_total"), 0);
    }

    #[test]
    fn the_median_is_the_middle_run() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut []), 0.0);
    }
}
