//! Development tasks, run as `cargo xtask <task>`:
//!
//! - `test`: checks PostgreSQL and Redis, checks each service's `.sqlx/`
//!   query data is current, then runs every test of the workspace.
//! - `prepare`: regenerates each service's `.sqlx/` query data.
//! - `gen-key`: prints a fresh Ed25519 keyring entry for production.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::{Parser, Subcommand};

/// Crates that own a database, its migrations and their `.sqlx/` data.
const DATABASE_CRATES: &[&str] = &["auth-service", "commerce-service"];
const SQLX_CLI_VERSION: &str = "0.9.0";

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Development tasks of the shop backend")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every test against the local PostgreSQL and Redis.
    Test {
        /// Extra arguments for `cargo test` (after `--`).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Regenerate the `.sqlx/` offline query data of every service.
    Prepare,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Test { cargo_args } => test(&cargo_args),
        Task::Prepare => prepare(false),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The PostgreSQL server the tests create their databases on.
fn postgres_server_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn test(cargo_args: &[String]) -> anyhow::Result<()> {
    check_services()?;
    prepare(true)?;
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
    run(&mut command, "cargo test")
}

/// Fails with instructions when PostgreSQL or Redis is not reachable.
fn check_services() -> anyhow::Result<()> {
    let checks = [
        (
            "PostgreSQL",
            host_port(&postgres_server_url(), 5432),
            "sudo apt-get install -y postgresql && sudo pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n  (the tests connect as user postgres without a password: trust auth on 127.0.0.1)",
        ),
        (
            "Redis",
            host_port(&redis_url(), 6379),
            "sudo apt-get install -y redis-server && redis-server --daemonize yes --bind 127.0.0.1 --port 6379",
        ),
    ];
    for (name, address, remedy) in checks {
        let reachable = address
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
        ensure!(
            reachable,
            "{name} is not reachable at {address}. Start it, e.g.:\n  {remedy}"
        );
    }
    Ok(())
}

/// `host:port` of a URL such as `postgres://user@host:5432/db`.
fn host_port(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    }
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

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_and_port_are_read_from_urls() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432", 1),
            "127.0.0.1:5432"
        );
        assert_eq!(
            host_port("postgres://u:p@db/x?sslmode=disable", 5432),
            "db:5432"
        );
        assert_eq!(host_port("redis://127.0.0.1:6379", 1), "127.0.0.1:6379");
        assert_eq!(host_port("redis://localhost", 6379), "localhost:6379");
    }
}
