//! Development tasks, run as `cargo xtask <task>`:
//!
//! - `up`: the whole system on this machine (gateway, both services,
//!   databases migrated and seeded) until Ctrl-C.
//! - `test`: checks PostgreSQL and Redis, checks each service's `.sqlx/`
//!   query data is current, then runs every test of the workspace, the
//!   end-to-end journeys through the real gateway included, then
//!   auth-service's suite on a Redis Cluster, a short fuzzing run (`fuzz`)
//!   and the journeys against the docker-compose stack (`compose-e2e`).
//! - `compose-e2e`: builds the compose stack's images, brings it up on free
//!   ports and runs the journeys against it.
//! - `fuzz`: builds the cargo-fuzz targets and runs each for a while.
//! - `offline-images`: builds stand-ins for the upstream images from
//!   Debian's packages, for machines without a container registry.
//! - `prepare`: regenerates each service's `.sqlx/` query data.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use xtask::local_services;
use xtask::stack::{Stack, StackConfig, default_work_dir};
use xtask::{check_services, postgres_server_url, redis_url, workspace_root};

/// Crates that own a database, its migrations and their `.sqlx/` data.
const DATABASE_CRATES: &[&str] = &["auth-service", "commerce-service"];
const SQLX_CLI_VERSION: &str = "0.9.0";
/// Seconds each fuzz target runs in `cargo xtask test`.
const FUZZ_SECONDS_IN_TESTS: u64 = 20;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Development tasks of the shop backend")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the whole system locally: gateway on 127.0.0.1:8080, auth-service
    /// on 8081, commerce-service on 8082, until Ctrl-C or SIGTERM.
    Up {
        /// Build and run release binaries.
        #[arg(long)]
        release: bool,
        /// Replicas of each service behind the gateway: auth-service on
        /// 8081, 8083, ..., commerce-service on 8082, 8084, ...
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
        replicas: u16,
        /// Serve HTTPS on 127.0.0.1:8443 too (plain HTTP then redirects),
        /// with the certificate `cargo xtask dev-cert` wrote.
        #[arg(long)]
        tls: bool,
    },
    /// Write a self-signed certificate for localhost and the gateway's
    /// HTTPS configuration (for `up --tls` and docker-compose).
    DevCert {
        #[arg(long, default_value = "deploy/gateway/tls")]
        dir: std::path::PathBuf,
    },
    /// Run every test against the local PostgreSQL and Redis, then the
    /// journeys against the docker-compose stack.
    Test {
        /// Skip the docker-compose run (it needs a Docker engine).
        #[arg(long)]
        no_compose: bool,
        /// Extra arguments for `cargo test` (after `--`); with any, only
        /// `cargo test` runs.
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Build the docker-compose stack, bring it up on free ports, run the
    /// end-to-end journeys against it (also with auth-service on the Redis
    /// Cluster profile) and remove it.
    ComposeE2e {
        #[arg(long, value_enum, default_value_t = xtask::compose::Images::Auto)]
        images: xtask::compose::Images,
        /// Leave the stack running afterwards (the next run removes it).
        #[arg(long)]
        keep: bool,
        /// Skip the Redis Cluster pass.
        #[arg(long)]
        default_only: bool,
    },
    /// Build the cargo-fuzz targets of fuzz/ (nightly toolchain) and run
    /// each for a bounded time; a crash fails.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only these targets (e.g. `--only phone,json_body`).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// A debug build: shorter to compile, slower to run (the test
        /// command's short run uses it).
        #[arg(long)]
        quick: bool,
    },
    /// Build the offline stand-ins for the upstream images
    /// (deploy/offline/); then `docker compose --env-file
    /// deploy/offline/images.env up --build` needs no registry.
    OfflineImages {
        /// Make the debootstrapped base again even if it exists.
        #[arg(long)]
        rebuild_base: bool,
    },
    /// Regenerate the `.sqlx/` offline query data of every service.
    Prepare,
    /// Regenerate the TypeScript client (clients/typescript/) from both
    /// services' OpenAPI documents.
    Client,
    /// Simulate an SMS-pumping attack against a stack of its own (scaled
    /// windows and thresholds) while customers log in, and report it.
    SmsAttack,
    /// Measure the hot paths under load; writes bench/REPORT.md and bench/results.json.
    Bench(xtask::bench::BenchArgs),
    /// The benchmark's floor handler (started by `bench`, configured by
    /// environment).
    #[command(hide = true)]
    BenchFloor,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Up {
            release,
            replicas,
            tls,
        } => up(release, replicas, tls),
        Task::DevCert { dir } => {
            let dir = workspace_root().join(dir);
            xtask::gateway::write_dev_certificate(&dir)?;
            println!(
                "wrote {}: cert.pem, key.pem and tls.conf (trust cert.pem, e.g. curl --cacert)",
                dir.display()
            );
            Ok(())
        }
        Task::Test {
            no_compose,
            cargo_args,
        } => test(&cargo_args, !no_compose),
        Task::ComposeE2e {
            images,
            keep,
            default_only,
        } => xtask::compose::run(&xtask::compose::ComposeE2eOptions {
            images,
            keep,
            default_shape_only: default_only,
        }),
        Task::Fuzz {
            seconds,
            only,
            quick,
        } => xtask::fuzz::run(seconds, &only, quick),
        Task::OfflineImages { rebuild_base } => {
            let work_dir = xtask::compose::work_dir();
            xtask::compose::ensure_docker(&work_dir)?;
            xtask::compose::offline_images::build(&work_dir, rebuild_base)
        }
        Task::Prepare => prepare(false),
        Task::Client => xtask::node::regenerate(),
        Task::SmsAttack => xtask::sms_attack::run_own(),
        Task::BenchFloor => xtask::bench::floor::serve_from_env(),
        Task::Bench(args) => xtask::bench::run(args.into()),
    }
}

fn test(cargo_args: &[String], with_compose: bool) -> anyhow::Result<()> {
    check_services(&postgres_server_url(), &redis_url())?;
    // The end-to-end journeys run through a real gateway.
    xtask::gateway::nginx_binary()?;
    prepare(true)?;
    ensure_kubernetes_validate()?;
    // The Node packages' dependencies, for the suites that run them.
    xtask::node::install()?;
    xtask::node::check()?;
    let root = workspace_root();
    let mut command = Command::new(cargo());
    command
        .current_dir(&root)
        .args(["test", "--workspace"])
        .args(cargo_args)
        // `#[sqlx::test]` creates a fresh database per test on this server.
        .env(
            "DATABASE_URL",
            format!("{}/postgres", postgres_server_url()),
        )
        .env("REDIS_URL", redis_url())
        .env("SQLX_OFFLINE", "true");
    run(&mut command, "cargo test")?;
    // No filter given: auth-service's suite once more, on a Redis Cluster
    // of three masters, as it is deployed at scale; then the deployed shape
    // itself, the compose stack.
    if cargo_args.is_empty() {
        test_auth_on_redis_cluster()?;
        // A short fuzzing run of every parser of client input: a crash
        // fails the build.
        xtask::fuzz::run(FUZZ_SECONDS_IN_TESTS, &[], true)?;
        if with_compose {
            xtask::compose::run(&xtask::compose::ComposeE2eOptions {
                images: xtask::compose::Images::Auto,
                keep: false,
                default_shape_only: false,
            })?;
        }
    }
    Ok(())
}

/// auth-service's integration suite against a local three-master Redis
/// Cluster (started on free ports, removed afterwards), with the test
/// binary the workspace run built.
fn test_auth_on_redis_cluster() -> anyhow::Result<()> {
    let root = workspace_root();
    let executable = xtask::built_test_binary("auth-service", "api")?;
    let cluster = xtask::redis_cluster::LocalCluster::start(&root.join("target/redis-cluster"))?;
    eprintln!(
        "xtask: auth-service's suite on a Redis Cluster ({})",
        cluster.url()
    );
    let mut command = Command::new(executable);
    command
        .current_dir(root.join("auth-service"))
        .env(
            "DATABASE_URL",
            format!("{}/postgres", postgres_server_url()),
        )
        .env("REDIS_URL", cluster.url());
    run(&mut command, "auth-service's suite on a Redis Cluster")
}

/// The base URLs of a service's replicas, for people to read.
fn replica_urls(config: &StackConfig, service: &str) -> String {
    config
        .replicas(service)
        .into_iter()
        .map(|(_, url)| url)
        .collect::<Vec<_>>()
        .join(", ")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Installs PyPI's `kubernetes-validate` when missing (once per machine):
/// the Kubernetes manifests are checked against the Kubernetes schemas
/// offline (`xtask/src/deploy_checks.rs`).
fn ensure_kubernetes_validate() -> anyhow::Result<()> {
    let installed = || {
        Command::new("python3")
            .args(["-m", "kubernetes_validate", "--version"])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if installed() {
        return Ok(());
    }
    eprintln!("xtask: installing kubernetes-validate (once)");
    let pip = |extra: &[&str]| {
        Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "kubernetes-validate"])
            .args(extra)
            .status()
            .is_ok_and(|status| status.success())
    };
    // A Debian system Python refuses installs outside a virtualenv; the
    // user's site-packages is then the place.
    if !(pip(&[]) || pip(&["--user", "--break-system-packages"])) || !installed() {
        bail!(
            "kubernetes-validate could not be installed: python3 -m pip install kubernetes-validate"
        );
    }
    Ok(())
}

/// Installs sqlx-cli when missing (once per machine; cargo keeps it).
fn ensure_sqlx_cli() -> anyhow::Result<()> {
    let installed = Command::new(cargo())
        .args(["sqlx", "--version"])
        .output()
        .is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains(SQLX_CLI_VERSION)
        });
    if installed {
        return Ok(());
    }
    eprintln!("xtask: installing sqlx-cli {SQLX_CLI_VERSION} (once)");
    run(
        Command::new(cargo()).args([
            "install",
            "sqlx-cli",
            "--version",
            SQLX_CLI_VERSION,
            "--locked",
            "--no-default-features",
            "--features",
            "rustls,postgres",
        ]),
        "cargo install sqlx-cli",
    )
}

/// For each database crate: a scratch database, migrated, against which
/// `cargo sqlx prepare` writes (or with `check`, verifies) `.sqlx/`.
fn prepare(check: bool) -> anyhow::Result<()> {
    ensure_sqlx_cli()?;
    let root = workspace_root();
    for krate in DATABASE_CRATES {
        let dir = root.join(krate);
        let database = format!("xtask_prepare_{}", krate.replace('-', "_"));
        let url = format!("{}/{database}", postgres_server_url());
        let sqlx = |args: &[&str]| {
            let mut command = Command::new(cargo());
            command
                .current_dir(&dir)
                .arg("sqlx")
                .args(args)
                .env("DATABASE_URL", &url);
            command
        };
        run(&mut sqlx(&["database", "drop", "-y"]), "sqlx database drop")?;
        run(&mut sqlx(&["database", "create"]), "sqlx database create")?;
        run(
            &mut sqlx(&["migrate", "run", "--source", "migrations"]),
            "sqlx migrate run",
        )?;
        let mut prepare = sqlx(&["prepare"]);
        if check {
            prepare.arg("--check");
        }
        prepare
            .args(["--", "--all-targets"])
            .env("SQLX_OFFLINE", "false");
        let outcome = run(&mut prepare, &format!("sqlx prepare of {krate}"));
        run(&mut sqlx(&["database", "drop", "-y"]), "sqlx database drop")?;
        outcome.with_context(|| {
            format!("{krate}/.sqlx is out of date with its queries: run `cargo xtask prepare` and commit it")
        })?;
    }
    Ok(())
}

fn up(release: bool, replicas: u16, tls: bool) -> anyhow::Result<()> {
    let root = workspace_root();
    let mut build = Command::new(cargo());
    build
        .current_dir(&root)
        .args(["build", "-p", "auth-service", "-p", "commerce-service"]);
    if release {
        build.arg("--release");
    }
    run(&mut build, "cargo build")?;
    // The admin panel the gateway serves at /admin/.
    xtask::node::build_admin_panel()?;
    let admin_email =
        std::env::var("ADMIN_EMAIL").unwrap_or_else(|_| "admin@example.com".to_owned());
    let admin_password =
        std::env::var("ADMIN_PASSWORD").unwrap_or_else(|_| "admin-dev-password".to_owned());
    let work_dir = default_work_dir(&root);
    // The PostgreSQL and Redis configured or on the default addresses, or,
    // when nothing answers there, ones of the stack's own (dropped, and so
    // stopped, after the stack).
    let (postgres_url, _own_postgres) = local_services::postgres_for_the_stack(&work_dir)?;
    let (redis_url, _own_redis) = local_services::redis_for_the_stack(&work_dir)?;
    let (nats_url, _own_nats) = local_services::nats_for_the_stack(&work_dir)?;
    let config = StackConfig {
        gateway_port: 8080,
        auth_ports: (0..replicas).map(|i| 8081 + 2 * i).collect(),
        commerce_ports: (0..replicas).map(|i| 8082 + 2 * i).collect(),
        postgres_url,
        auth_database: "auth".to_owned(),
        commerce_database: "commerce".to_owned(),
        redis_url,
        redis_key_prefix: "auth".to_owned(),
        nats_url,
        nats_namespace: String::new(),
        bin_dir: root
            .join("target")
            .join(if release { "release" } else { "debug" }),
        work_dir: work_dir.clone(),
        admin_email: admin_email.clone(),
        admin_password: admin_password.clone(),
        extra_env: Vec::new(),
    };
    // HTTPS: the gateway serves what its `tls` directory holds.
    let gateway_tls = work_dir.join("gateway/tls");
    let _ = std::fs::remove_dir_all(&gateway_tls);
    if tls {
        let source = root.join("deploy/gateway/tls");
        if !source.join("cert.pem").exists() {
            bail!(
                "no certificate in {}: run `cargo xtask dev-cert` first",
                source.display()
            );
        }
        std::fs::create_dir_all(&gateway_tls)?;
        for file in ["cert.pem", "key.pem", "tls.conf"] {
            std::fs::copy(source.join(file), gateway_tls.join(file))
                .with_context(|| format!("copying {file}"))?;
        }
    }
    let (signal_tx, signal_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = signal_tx.send(());
    })
    .context("installing the Ctrl-C handler")?;
    eprintln!(
        "xtask: starting the stack (logs in {})",
        work_dir.join("logs").display()
    );
    let mut stack = Stack::start(config)?;
    let config = &stack.config;
    println!(
        "\nThe shop backend is running:\n\
         \x20 gateway           {gateway}   (the API: {gateway}/api/v1/...)\n\
         \x20 auth-service      {auth}   (/openapi.json, /metrics, /internal/v1/dev/sms-outbox)\n\
         \x20 commerce-service  {commerce}   (/openapi.json, /metrics)\n\
         \x20 admin panel       {gateway}/admin/   (log in as {admin_email} / {admin_password})\n\
         \x20 event bus         {bus}\n\
         \x20 logs              {logs}\n\n\
         Try it:\n\
         \x20 curl -s {gateway}/api/v1/products?per_page=2\n\
         \x20 curl -s -X POST {gateway}/api/v1/auth/send-code -H 'content-type: application/json' -d '{{\"phone\": \"+13128059851\"}}'\n\
         \x20 curl -s '{first_auth}/internal/v1/dev/sms-outbox?phone=%2B13128059851' -H 'authorization: Bearer dev-internal-token'\n\n\
         Ctrl-C stops everything.",
        gateway = config.gateway_url(),
        auth = replica_urls(config, "auth-service"),
        first_auth = config.auth_url(),
        commerce = replica_urls(config, "commerce-service"),
        logs = work_dir.join("logs").display(),
        bus = config
            .nats_url
            .as_deref()
            .unwrap_or("none (no pushed revocation, no events)"),
    );
    loop {
        if signal_rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            eprintln!("xtask: stopping the stack");
            break;
        }
        if let Some(name) = stack.exited() {
            stack.stop();
            bail!(
                "{name} exited unexpectedly; see {}",
                work_dir.join(format!("logs/{name}.log")).display()
            );
        }
    }
    stack.stop();
    Ok(())
}
