//! One compose project of the end-to-end run: docker-compose.yml under a
//! name of its own (`shop-e2e-<pid>-<shape>`), on host ports Docker
//! chooses and a free network, removed with its volumes when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, ensure};

use super::network::free_subnet;
use crate::workspace_root;

const PREFIX: &str = "shop-e2e-";

pub struct Project {
    pub name: String,
    variables: Vec<(String, String)>,
    kept: bool,
}

impl Project {
    /// A project for this process, with `variables` (images, profiles) and
    /// free ports and network of its own.
    pub fn create(shape: &str, mut variables: Vec<(String, String)>) -> anyhow::Result<Self> {
        let network = free_subnet()?;
        // Docker chooses every host port (on loopback), so that none can
        // be taken between choosing and binding it.
        let any_port = "127.0.0.1:".to_owned();
        variables.extend(
            [
                ("GATEWAY_PORT", any_port.clone()),
                ("GATEWAY_TLS_PORT", any_port.clone()),
                ("JAEGER_UI_PORT", any_port),
                ("COMPOSE_SUBNET", network.subnet),
                ("COMPOSE_IP_RANGE", network.dynamic_range),
                ("GATEWAY_IP", network.gateway_ip),
                // The journeys ask for several codes per number.
                ("OTP_RESEND_SECONDS", "1".to_owned()),
            ]
            .map(|(name, value)| (name.to_owned(), value)),
        );
        Ok(Self {
            name: format!("{PREFIX}{}-{shape}", std::process::id()),
            variables,
            kept: false,
        })
    }

    fn compose(&self) -> Command {
        let mut command = Command::new("docker");
        command
            .current_dir(workspace_root())
            .args(["compose", "-p", &self.name, "-f", "docker-compose.yml"])
            // Compose builds through the engine's BuildKit (no buildx here).
            .env("COMPOSE_BAKE", "false")
            .envs(self.variables.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Builds the images (when `build`) and starts the stack, waiting until
    /// every service is healthy and every one-shot has finished; returns
    /// how long that wait took.
    pub fn up(&mut self, build: bool) -> anyhow::Result<std::time::Duration> {
        if build {
            let started = std::time::Instant::now();
            let status = self
                .compose()
                .arg("build")
                .status()
                .context("docker compose build")?;
            ensure!(status.success(), "docker compose build failed");
            eprintln!("xtask: images built in {:.0?}", started.elapsed());
        }
        let started = std::time::Instant::now();
        let status = self
            .compose()
            .args(["up", "--detach", "--wait", "--wait-timeout", "300"])
            .status()
            .context("docker compose up")?;
        ensure!(status.success(), "docker compose up --wait failed");
        Ok(started.elapsed())
    }

    /// The gateway's base URL, at the host port Docker chose.
    pub fn gateway_url(&self) -> anyhow::Result<String> {
        self.replica_urls("gateway", 8080)?
            .into_iter()
            .next()
            .context("the gateway publishes no port")
    }

    /// The base URL of every replica of `service`, from the host port
    /// Docker published for each one's `port`.
    pub fn replica_urls(&self, service: &str, port: u16) -> anyhow::Result<Vec<String>> {
        let mut urls = Vec::new();
        for index in 1.. {
            let output = self
                .compose()
                .args([
                    "port",
                    "--index",
                    &index.to_string(),
                    service,
                    &port.to_string(),
                ])
                .stderr(Stdio::null())
                .output()
                .context("docker compose port")?;
            let published = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if !output.status.success() || published.is_empty() {
                break;
            }
            urls.push(format!("http://{published}"));
        }
        Ok(urls)
    }

    /// What `command` prints in `service`'s (first) container.
    pub fn exec(&self, service: &str, command: &[&str]) -> anyhow::Result<String> {
        let output = self
            .compose()
            .args(["exec", "-T", service])
            .args(command)
            .output()
            .context("docker compose exec")?;
        ensure!(
            output.status.success(),
            "{command:?} in {service} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Writes every container's log to `<dir>/<project>.log` and returns
    /// its path.
    pub fn save_logs(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.log", self.name));
        let written = std::fs::File::create(&path).and_then(|file| {
            self.compose()
                .args(["logs", "--no-color", "--timestamps"])
                .stdout(file)
                .stderr(Stdio::null())
                .status()
        });
        if let Err(error) = written {
            eprintln!("xtask: could not save the containers' logs: {error}");
        }
        path
    }

    /// Leaves the stack running when dropped.
    pub fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if !self.kept {
            down(&self.name);
        }
    }
}

/// Removes a project's containers, networks and volumes.
fn down(name: &str) {
    let status = Command::new("docker")
        .current_dir(workspace_root())
        .args(["compose", "-p", name, "-f", "docker-compose.yml"])
        // Every profile, so that the Redis Cluster's nodes go too.
        .args(["--profile", "redis-cluster"])
        .args(["down", "--volumes", "--remove-orphans", "--timeout", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !status.is_ok_and(|status| status.success()) {
        eprintln!("xtask: could not remove the compose project {name}");
    }
}

/// Removes the projects of earlier runs whose process is gone (killed
/// before it could clean up, or kept with `--keep`).
pub fn remove_abandoned() -> anyhow::Result<()> {
    let listed = Command::new("docker")
        .args(["compose", "ls", "--all", "--quiet"])
        .output()
        .context("docker compose ls")?;
    for name in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("xtask: removing the abandoned compose project {name}");
            down(name);
        }
    }
    Ok(())
}
