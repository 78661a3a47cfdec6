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

mod drivers;
pub mod floor;
mod pg_floor;
mod probes;
mod report;
mod revocation;
mod scale;
mod scenarios;
mod sms_sink;
mod stack;
mod write_floors;

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use reqwest::Client;
use serde_json::json;

use self::probes::{floors, verifier_micro_benchmark};
use self::report::{Results, write_report};
pub use self::scenarios::Scenario;
use self::sms_sink::SmsSink;
use self::stack::{Bench, TokenFiles, write_lines};
use crate::stack::Stack;

/// The number of the verifier's micro-benchmark in the report (after the
/// scenarios).
pub const MICRO: usize = Scenario::ALL.len() + 1;
/// The number of the pushed-revocation measurement (after the verifier's
/// micro-benchmark).
pub const REVOCATION: usize = Scenario::ALL.len() + 2;

/// `cargo xtask bench`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Runs per scenario (the report gives medians).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Smoke mode: one second per scenario, one run, less data.
    #[arg(long)]
    quick: bool,
    /// Only these scenarios (e.g. `--only 3,9`), for profiling one path;
    /// prints the figures and leaves bench/ as it is.
    #[arg(long, value_delimiter = ',')]
    only: Vec<usize>,
    /// How cost grows: the catalog grown to 1,000, 100,000 and 1,000,000
    /// products, its reads measured and explained at each size; writes
    /// bench/SCALE.md and its section of bench/REPORT.md (not part of CI).
    #[arg(long, conflicts_with = "only")]
    scale: bool,
}

/// What `cargo xtask bench` was asked for.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub seconds: f64,
    pub connections: usize,
    pub runs: usize,
    pub quick: bool,
    /// Scenario numbers to run; empty for all (and only then a report).
    pub only: Vec<usize>,
    pub scale: bool,
}

impl From<BenchArgs> for BenchOptions {
    fn from(args: BenchArgs) -> Self {
        Self {
            seconds: if args.quick { 1.0 } else { args.seconds },
            connections: args.connections,
            runs: if args.quick { 1 } else { args.runs.max(1) },
            quick: args.quick,
            only: args.only,
            scale: args.scale,
        }
    }
}

/// One measured run of one scenario.
#[derive(Debug, Clone, Default)]
pub struct Measure {
    pub requests: u64,
    pub non_2xx: u64,
    pub elapsed: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu_us_per_request: BTreeMap<&'static str, f64>,
    pub peak_rss_mib: BTreeMap<&'static str, f64>,
    pub token_status_calls: Option<u64>,
}

impl Measure {
    pub fn rps(&self) -> f64 {
        if self.elapsed > 0.0 {
            self.requests as f64 / self.elapsed
        } else {
            0.0
        }
    }
}

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
                // The floor handler, run as `xtask bench-floor`.
                "-p",
                "xtask",
            ])
            .status()?;
    ensure!(status.success(), "release build failed");
    // The in-process load generator (logins, checkouts, logouts) shares the
    // cores with the services: an unoptimised build of it would take CPU
    // from them. `cargo xtask` is a debug build, so the measuring is handed
    // to the optimised one just built.
    let release = root.join("target/release/xtask");
    if std::env::current_exe()?.canonicalize()? != release.canonicalize()? {
        let status = std::process::Command::new(&release)
            .args(std::env::args_os().skip(1))
            .status()
            .with_context(|| format!("starting {}", release.display()))?;
        ensure!(status.success(), "the benchmark failed");
        return Ok(());
    }
    for number in &options.only {
        ensure!(
            Scenario::from_number(*number).is_some() || *number == REVOCATION,
            "--only {number}: the scenarios are numbered 1 to {}, and {REVOCATION} (pushed revocation)",
            Scenario::ALL.len()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (sms, sms_url) = runtime.block_on(SmsSink::start())?;
    let (stack, ports) = stack::start(&root, &sms_url)?;
    let outcome = runtime.block_on(bench(stack, ports, sms, options));
    runtime.shutdown_timeout(Duration::from_secs(2));
    outcome
}

async fn bench(
    stack: Stack,
    ports: [u16; 3],
    sms: SmsSink,
    options: BenchOptions,
) -> anyhow::Result<()> {
    let [nocache_port, nopush_port, floor_port] = ports;
    let config = stack.config.clone();
    let client = Client::builder().pool_max_idle_per_host(256).build()?;
    let dir = config.work_dir.join("wrk");
    fs::create_dir_all(&dir)?;
    let mut bench = Bench {
        commerce: config.commerce_url(),
        nocache: format!("http://127.0.0.1:{nocache_port}"),
        nopush: format!("http://127.0.0.1:{nopush_port}"),
        auth: config.auth_url(),
        gateway: config.gateway_url(),
        floor: format!("http://127.0.0.1:{floor_port}"),
        postgres_pid: None,
        sms,
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
    bench.postgres_pid = probes::postgres_server_pid(&pool).await;
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
    if options.only.is_empty() || options.only.contains(&Scenario::Checkout.number()) {
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
    if options.scale {
        return scale::run(&bench, &pool).await;
    }
    let mut floors = if partial {
        BTreeMap::new()
    } else {
        floors(&config).await
    };
    if !partial || options.only.contains(&Scenario::CartAdd.number()) {
        write_floors::cart_add(&bench, &pool, &commerce_db, &mut floors).await?;
    }
    if !partial || options.only.contains(&Scenario::Checkout.number()) {
        write_floors::checkout(&bench, &pool, &commerce_db, &mut floors).await?;
    }
    let mut results = Results::new();
    for run in 0..options.runs {
        eprintln!("bench: run {} of {}", run + 1, options.runs);
        for scenario in Scenario::ALL {
            if partial && !options.only.contains(&scenario.number()) {
                continue;
            }
            let name = scenario.name();
            let measure = scenario.run(&bench, &pool).await?;
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
            results.entry(scenario).or_default().push(measure);
        }
    }
    let variants = [
        ("push", bench.commerce.clone()),
        ("no push", bench.nopush.clone()),
    ];
    if partial && options.only.contains(&REVOCATION) {
        let measured = revocation::measure(&bench, variants.clone(), 5_000_000).await?;
        eprintln!("{}", revocation::report(&measured).0);
    }
    if !partial {
        let micro = verifier_micro_benchmark(options.quick);
        let revocation = revocation::measure(&bench, variants, 5_000_000).await?;
        write_report(
            &options,
            &results,
            &floors,
            &micro,
            &revocation,
            bench.readers.len(),
        )?;
    }
    drop(bench);
    Ok(())
}
