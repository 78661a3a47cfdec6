//! The development tooling shared by `cargo xtask` and the end-to-end
//! tests: starting the whole system locally and checking what it needs.

pub mod bench;
pub mod compose;
pub mod database;
#[cfg(test)]
mod deploy_checks;
pub mod fuzz;
pub mod gateway;
pub mod local_services;
pub mod node;
pub mod redis_cluster;
pub mod schemathesis;
pub mod sms_attack;
pub mod stack;

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, ensure};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Polls `ready` every 100 ms until it holds, for at most `limit`.
pub fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("not ready within {limit:?}")
}

/// The path of `package`'s integration test binary `test`, as the
/// workspace test run built it: asked of cargo with the same environment,
/// so nothing is compiled again (building it for one package would unify
/// features differently and compile everything a second time).
pub fn built_test_binary(package: &str, test: &str) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let built = std::process::Command::new(cargo)
        .current_dir(workspace_root())
        .args(["test", "--workspace", "--test", test, "--no-run"])
        .args(["--message-format", "json"])
        .env(
            "DATABASE_URL",
            format!("{}/postgres", postgres_server_url()),
        )
        .env("REDIS_URL", redis_url())
        .env("SQLX_OFFLINE", "true")
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("listing the test binaries")?;
    let manifest = format!("{package}/Cargo.toml");
    String::from_utf8_lossy(&built.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|message| {
            message["reason"] == "compiler-artifact"
                && message["target"]["name"] == test
                && message["manifest_path"]
                    .as_str()
                    .is_some_and(|path| path.ends_with(&manifest))
        })
        .and_then(|message| message["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("cargo did not name {package}'s {test} test binary"))
}

/// The PostgreSQL server (no database), from `TEST_POSTGRES_URL` or the default.
pub fn postgres_server_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The NATS server tests use (`TEST_NATS_URL`, or the machine's).
pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// Fails with instructions when PostgreSQL or Redis is not reachable.
pub fn check_services(postgres_url: &str, redis_url: &str) -> anyhow::Result<()> {
    let checks = [
        (
            "PostgreSQL",
            host_port(postgres_url, 5432),
            "sudo apt-get install -y postgresql && sudo pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n  (user postgres must be let in without a password on 127.0.0.1: trust auth)",
        ),
        (
            "Redis",
            host_port(redis_url, 6379),
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
pub fn host_port(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    }
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
