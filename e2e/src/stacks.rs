//! Where the journeys run: stacks of their own (the real binaries behind a
//! real nginx, on free ports, with databases and Redis keys of their own,
//! removed afterwards), or a deployment that is already running
//! (`E2E_BASE_URL`, e.g. docker-compose).

use std::path::PathBuf;

use anyhow::Context;
use xtask::stack::{Stack, StackConfig, free_port, free_ports};

/// Where the journeys send their requests.
pub struct Target {
    pub gateway: String,
    pub auth_internal: String,
    pub admin_email: String,
    pub admin_password: String,
}

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

pub fn bin_dir() -> PathBuf {
    // target/<profile>/deps/journeys-<hash> -> target/<profile>
    let exe = std::env::current_exe().expect("the test binary knows its path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("a target directory")
        .to_path_buf()
}

/// A stack of our own, on free ports, with `extra` variables for both services.
pub fn own_stack(name: &str, extra: &[(&str, &str)]) -> anyhow::Result<Stack> {
    own_stack_with_replicas(name, 1, extra)
}

/// A stack of our own with `replicas` of each service behind the gateway.
pub fn own_stack_with_replicas(
    name: &str,
    replicas: usize,
    extra: &[(&str, &str)],
) -> anyhow::Result<Stack> {
    let id = format!("{name}_{}", std::process::id());
    let work_dir = bin_dir().join(format!("e2e-{id}"));
    let _ = std::fs::remove_dir_all(&work_dir);
    let config = StackConfig {
        gateway_port: free_port()?,
        auth_ports: free_ports(replicas)?,
        commerce_ports: free_ports(replicas)?,
        postgres_url: xtask::postgres_server_url(),
        auth_database: format!("e2e_auth_{id}"),
        commerce_database: format!("e2e_commerce_{id}"),
        redis_url: xtask::redis_url(),
        redis_key_prefix: format!("e2e-{id}"),
        // The machine's NATS server, a namespace per stack: the journeys
        // run with pushed revocation and events, as deployed.
        nats_url: Some(xtask::nats_url()),
        nats_namespace: format!("e2e{id}"),
        bin_dir: bin_dir(),
        work_dir,
        admin_email: "admin@example.com".to_owned(),
        admin_password: "admin-dev-password".to_owned(),
        extra_env: extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    Stack::start(config)
        .context("starting an end-to-end stack (build the binaries first: cargo xtask test does)")
}

pub fn target_of(stack: &Stack) -> Target {
    Target {
        gateway: stack.config.gateway_url(),
        auth_internal: stack.config.auth_url(),
        admin_email: stack.config.admin_email.clone(),
        admin_password: stack.config.admin_password.clone(),
    }
}

pub fn drop_stack(stack: Stack) {
    let config = stack.config.clone();
    drop(stack);
    for database in [&config.auth_database, &config.commerce_database] {
        if let Err(error) =
            xtask::database::drop_database(&format!("{}/{database}", config.postgres_url))
        {
            eprintln!("e2e: could not drop {database}: {error:#}");
        }
    }
    let _ = std::fs::remove_dir_all(&config.work_dir);
}

/// The targets of a run: the main one, the one with three-second access
/// tokens (only with stacks of our own), and the stacks to drop afterwards.
pub struct Targets {
    pub main: std::sync::Arc<Target>,
    pub short_tokens: Option<std::sync::Arc<Target>>,
    stacks: Vec<Stack>,
}

impl Targets {
    /// From the environment: `E2E_BASE_URL` names a running deployment
    /// (`E2E_AUTH_URL`, `ADMIN_EMAIL`, `ADMIN_PASSWORD` reach the rest of
    /// it); without it, two stacks of our own start.
    pub fn from_env() -> anyhow::Result<Self> {
        if let Ok(base) = std::env::var("E2E_BASE_URL") {
            let target = Target {
                gateway: base.trim_end_matches('/').to_owned(),
                auth_internal: env_or("E2E_AUTH_URL", "http://127.0.0.1:8081"),
                admin_email: env_or("ADMIN_EMAIL", "admin@example.com"),
                admin_password: env_or("ADMIN_PASSWORD", "admin-dev-password"),
            };
            return Ok(Self {
                main: std::sync::Arc::new(target),
                short_tokens: None,
                stacks: Vec::new(),
            });
        }
        // Two replicas of each service, as deployed: every journey must
        // hold whichever replica each request lands on.
        let main = own_stack_with_replicas("main", 2, &[("OTP_RESEND_SECONDS", "1")])?;
        // Three-second access tokens with no leeway, to watch one expire.
        let short = own_stack(
            "short",
            &[
                ("OTP_RESEND_SECONDS", "1"),
                ("ACCESS_TOKEN_TTL_SECONDS", "3"),
                ("JWT_LEEWAY_SECONDS", "0"),
            ],
        )?;
        Ok(Self {
            main: std::sync::Arc::new(target_of(&main)),
            short_tokens: Some(std::sync::Arc::new(target_of(&short))),
            stacks: vec![main, short],
        })
    }

    /// Every replica of `service` in the main stack (name, base URL). For a
    /// deployment given by `E2E_BASE_URL`, those that `E2E_AUTH_REPLICAS`
    /// and `E2E_COMMERCE_REPLICAS` list (comma-separated base URLs, e.g.
    /// each compose replica's published port), or none.
    pub fn main_replicas(&self, service: &str) -> Vec<(String, String)> {
        if let Some(stack) = self.stacks.first() {
            return stack.config.replicas(service);
        }
        let variable = match service {
            "auth-service" => "E2E_AUTH_REPLICAS",
            "commerce-service" => "E2E_COMMERCE_REPLICAS",
            _ => return Vec::new(),
        };
        replicas_listed(service, &env_or(variable, ""))
    }

    /// Stops the stacks of our own and drops their databases.
    pub fn finish(self) {
        for stack in self.stacks {
            drop_stack(stack);
        }
    }
}

/// Replicas named `service`, `service-2`, ... from a comma-separated list of
/// base URLs.
fn replicas_listed(service: &str, list: &str) -> Vec<(String, String)> {
    list.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .enumerate()
        .map(|(index, url)| {
            (
                xtask::stack::replica_name(service, index),
                url.trim_end_matches('/').to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::replicas_listed;

    #[test]
    fn replicas_are_read_from_a_comma_separated_list() {
        assert_eq!(
            replicas_listed("auth-service", "http://127.0.0.1:1/, http://127.0.0.1:2"),
            vec![
                ("auth-service".to_owned(), "http://127.0.0.1:1".to_owned()),
                ("auth-service-2".to_owned(), "http://127.0.0.1:2".to_owned()),
            ]
        );
        assert!(replicas_listed("auth-service", "").is_empty());
    }
}
