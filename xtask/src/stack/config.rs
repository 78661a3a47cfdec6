//! What a stack is made of: ports per replica, databases, Redis, the
//! variables both services get, and the checks before anything starts.

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::ensure;

use crate::gateway;

/// Everything that varies between the development stack and a test stack.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub gateway_port: u16,
    /// One port per auth-service replica (the gateway balances over them).
    pub auth_ports: Vec<u16>,
    /// One port per commerce-service replica.
    pub commerce_ports: Vec<u16>,
    /// PostgreSQL server URL without a database, e.g. `postgres://postgres@127.0.0.1:5432`.
    pub postgres_url: String,
    pub auth_database: String,
    pub commerce_database: String,
    pub redis_url: String,
    pub redis_key_prefix: String,
    /// The event bus (`NATS_URL`); none runs the services without it.
    pub nats_url: Option<String>,
    /// Prefixes the stack's subjects and streams (`NATS_NAMESPACE`).
    pub nats_namespace: String,
    /// Where `auth-service` and `commerce-service` binaries are.
    pub bin_dir: PathBuf,
    /// Rendered gateway configuration, nginx's scratch files and the logs.
    pub work_dir: PathBuf,
    pub admin_email: String,
    pub admin_password: String,
    /// Extra variables for both services (e.g. a short token lifetime).
    pub extra_env: Vec<(String, String)>,
}

/// The process name of replica `index` (from 0) of `service`: the first
/// keeps the service's name.
pub fn replica_name(service: &str, index: usize) -> String {
    if index == 0 {
        service.to_owned()
    } else {
        format!("{service}-{}", index + 1)
    }
}

impl StackConfig {
    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.gateway_port)
    }

    /// The first auth-service replica.
    pub fn auth_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.auth_ports[0])
    }

    /// The first commerce-service replica.
    pub fn commerce_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.commerce_ports[0])
    }

    /// Every replica of `service` (`auth-service` or `commerce-service`):
    /// its process name and base URL.
    pub fn replicas(&self, service: &str) -> Vec<(String, String)> {
        let ports = if service == "auth-service" {
            &self.auth_ports
        } else {
            &self.commerce_ports
        };
        ports
            .iter()
            .enumerate()
            .map(|(index, port)| {
                (
                    replica_name(service, index),
                    format!("http://127.0.0.1:{port}"),
                )
            })
            .collect()
    }

    /// The port and service of a replica's process name.
    pub(super) fn replica(&self, name: &str) -> Option<(&'static str, u16)> {
        for service in ["auth-service", "commerce-service"] {
            let ports = if service == "auth-service" {
                &self.auth_ports
            } else {
                &self.commerce_ports
            };
            for (index, port) in ports.iter().enumerate() {
                if replica_name(service, index) == name {
                    return Some((service, *port));
                }
            }
        }
        None
    }

    pub fn database_url(&self, database: &str) -> String {
        let url = format!("{}/{database}", self.postgres_url.trim_end_matches('/'));
        // TLS to a server on this very machine protects nothing and costs
        // an encryption per query; elsewhere the default (prefer) stands.
        let host = crate::host_port(&self.postgres_url, 5432);
        if ["127.0.0.1:", "localhost:", "[::1]:"]
            .iter()
            .any(|loopback| host.starts_with(loopback))
        {
            format!("{url}?sslmode=disable")
        } else {
            url
        }
    }

    /// Variables of both services in this stack.
    pub(super) fn service_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("APP_ENV", "development".to_owned()),
            (
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            ),
            ("REDIS_URL", self.redis_url.clone()),
            ("REDIS_KEY_PREFIX", self.redis_key_prefix.clone()),
            // Migrated by the `migrate` step before they start, as deployed.
            ("MIGRATE_ON_START", "false".to_owned()),
            // Every auth replica: commerce's client goes round them (no
            // load balancer stands between the services here).
            (
                "AUTH_URL",
                self.replicas("auth-service")
                    .into_iter()
                    .map(|(_, url)| url)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("TRUSTED_PROXIES", "127.0.0.1/32,::1/128".to_owned()),
            // One address runs every automated journey here: raise the per-IP caps.
            ("OTP_PER_IP_HOUR", "100000".to_owned()),
            ("OTP_VERIFY_PER_IP_HOUR", "100000".to_owned()),
            ("LOGIN_PER_IP_HOUR", "100000".to_owned()),
            ("GUEST_CARTS_PER_IP_HOUR", "100000".to_owned()),
            // The SMS firewall stays on with its production defaults, but
            // for what a suite sending every code from this machine to
            // US numbers needs: its own address is never challenged, and
            // the conversion breaker does not judge the test country.
            ("SMS_CHALLENGE_EXEMPT", "127.0.0.1/32,::1/128".to_owned()),
            ("SMS_BREAKER_EXEMPT_COUNTRIES", "US".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(url) = &self.nats_url {
            env.push(("NATS_URL".to_owned(), url.clone()));
            env.push(("NATS_NAMESPACE".to_owned(), self.nats_namespace.clone()));
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }
}

/// Fails with a clear message when something the stack needs is missing.
pub fn check_prerequisites(config: &StackConfig) -> anyhow::Result<()> {
    gateway::nginx_binary()?;
    crate::check_services(&config.postgres_url, &config.redis_url)?;
    ensure!(
        !config.auth_ports.is_empty() && !config.commerce_ports.is_empty(),
        "a stack runs at least one replica of each service"
    );
    let ports = config.auth_ports.iter().chain(&config.commerce_ports);
    for &port in std::iter::once(&config.gateway_port).chain(ports) {
        ensure!(
            TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is already in use: is the stack already running? Stop it first (Ctrl-C where it runs)"
        );
    }
    for binary in ["auth-service", "commerce-service"] {
        let path = config.bin_dir.join(binary);
        ensure!(
            path.exists(),
            "{} is missing: build it with `cargo build -p {binary}`",
            path.display()
        );
    }
    Ok(())
}
