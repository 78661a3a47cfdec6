//! `cargo xtask compose-e2e`: the deployed shape, tested. The compose stack
//! (docker-compose.yml: two replicas of each service behind the gateway) is
//! built and brought up on free host ports, the end-to-end journeys, the
//! OpenAPI contract checks (schemathesis), the TypeScript client's suite and
//! the admin panel's (Playwright, served by the gateway image) run against
//! it through its gateway, then everything is removed
//! (containers, networks, volumes); the containers' logs are kept when
//! something fails.
//! A second pass does the same with auth-service on the compose Redis
//! Cluster (`deploy/compose/redis-cluster.env`).

mod engine;
mod network;
pub mod offline_images;
mod project;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, ensure};

pub use engine::ensure_docker;
use project::Project;

use crate::workspace_root;

/// Where the images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Images {
    /// The official upstream images when a registry answers, otherwise the
    /// offline stand-ins.
    Auto,
    /// The official images (pulled from their registry).
    Upstream,
    /// The stand-ins of `deploy/offline/`, built here when missing.
    Offline,
}

/// One shape of the stack the journeys run against.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// As `docker compose up` runs it: one Redis.
    Default,
    /// auth-service on the three-master Redis Cluster profile.
    RedisCluster,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Default => "default",
            Shape::RedisCluster => "redis-cluster",
        }
    }

    /// What the journeys cannot see: on the cluster profile, auth-service's
    /// keys must be on the cluster's masters.
    fn verify(self, project: &Project) -> anyhow::Result<()> {
        if let Shape::RedisCluster = self {
            let mut keys = 0;
            for node in ["redis-node-1", "redis-node-2", "redis-node-3"] {
                let held: u64 = project
                    .exec(node, &["redis-cli", "dbsize"])?
                    .trim()
                    .parse()
                    .with_context(|| format!("DBSIZE of {node}"))?;
                eprintln!("xtask: {node} holds {held} keys");
                keys += held;
            }
            ensure!(keys > 0, "auth-service kept nothing on the Redis Cluster");
        }
        Ok(())
    }

    fn variables(self) -> anyhow::Result<Vec<(String, String)>> {
        match self {
            Shape::Default => Ok(Vec::new()),
            Shape::RedisCluster => {
                env_file(&workspace_root().join("deploy/compose/redis-cluster.env"))
            }
        }
    }
}

pub struct ComposeE2eOptions {
    pub images: Images,
    /// Leave the stack running after the journeys (to look at it); it is
    /// removed by the next run.
    pub keep: bool,
    /// Only the default shape (no Redis Cluster pass).
    pub default_shape_only: bool,
}

pub fn work_dir() -> PathBuf {
    workspace_root().join("target/compose-e2e")
}

pub fn run(options: &ComposeE2eOptions) -> anyhow::Result<()> {
    let work_dir = work_dir();
    std::fs::create_dir_all(&work_dir)?;
    ensure_docker(&work_dir)?;
    project::remove_abandoned()?;
    let images = image_variables(options.images, &work_dir)?;
    let journeys = crate::built_test_binary("e2e", "journeys")?;
    let contract = crate::built_test_binary("e2e", "contract")?;
    let clients = crate::built_test_binary("e2e", "clients")?;
    let admin_panel = crate::built_test_binary("e2e", "admin_panel")?;
    let shapes: &[Shape] = if options.default_shape_only {
        &[Shape::Default]
    } else {
        &[Shape::Default, Shape::RedisCluster]
    };
    for (pass, shape) in shapes.iter().enumerate() {
        let mut variables = images.clone();
        variables.extend(shape.variables()?);
        let mut project = Project::create(shape.name(), variables)?;
        // The first pass builds the images; the next ones find them cached.
        let outcome = project.up(pass == 0).and_then(|healthy_after| {
            eprintln!(
                "xtask: compose stack `{}` ({}) healthy {healthy_after:.0?} after `up`",
                project.name,
                shape.name(),
            );
            run_end_to_end(&project, &journeys, "the journeys")?;
            run_end_to_end(&project, &clients, "the TypeScript client's suite")?;
            run_end_to_end(&project, &admin_panel, "the admin panel's suite")?;
            // Last: with the admin's token it may deactivate any account,
            // the admin's own among them.
            run_end_to_end(&project, &contract, "the OpenAPI contract (schemathesis)")?;
            shape.verify(&project)
        });
        if let Err(error) = outcome {
            let logs = project.save_logs(&work_dir);
            if options.keep {
                project.keep();
            }
            return Err(error.context(format!(
                "compose end-to-end run ({}) failed; the containers' logs are in {}",
                shape.name(),
                logs.display()
            )));
        }
        if options.keep {
            project.keep();
            eprintln!("xtask: left `{}` running", project.name);
        }
    }
    Ok(())
}

/// The image variables for the stack: none for the upstream images, the
/// stand-ins' (built when missing) for offline ones.
fn image_variables(
    images: Images,
    work_dir: &std::path::Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let offline = match images {
        Images::Upstream => false,
        Images::Offline => true,
        Images::Auto => !registry_answers(),
    };
    if !offline {
        return Ok(Vec::new());
    }
    if !offline_images::all_present()? {
        eprintln!("xtask: building the offline images (deploy/offline/)");
        offline_images::build(work_dir, false)?;
    }
    offline_images::image_variables()
}

/// Whether the official images can be had: present already, or a pull of
/// the smallest one succeeds within 30 s.
fn registry_answers() -> bool {
    const PROBE: &str = "debian:bookworm-slim";
    if offline_images::image_present(PROBE) {
        return true;
    }
    let Ok(mut pull) = Command::new("docker")
        .args(["pull", "--quiet", PROBE])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        return false;
    };
    let answered = crate::wait_until(Duration::from_secs(30), || {
        matches!(pull.try_wait(), Ok(Some(_)))
    })
    .is_ok();
    if !answered {
        let _ = pull.kill();
        let _ = pull.wait();
        eprintln!("xtask: no registry answered; using the offline images");
        return false;
    }
    pull.wait().is_ok_and(|status| status.success())
}

/// An end-to-end test binary (the journeys, the contract) against the
/// stack's gateway, with each replica's own port for the metrics check, the
/// OpenAPI documents and the development SMS outbox.
fn run_end_to_end(project: &Project, binary: &std::path::Path, what: &str) -> anyhow::Result<()> {
    let auth = project.replica_urls("auth-service", 8081)?;
    let commerce = project.replica_urls("commerce-service", 8082)?;
    ensure!(
        auth.len() >= 2 && commerce.len() >= 2,
        "expected two replicas of each service, found {} and {}",
        auth.len(),
        commerce.len()
    );
    let status = Command::new(binary)
        .current_dir(workspace_root().join("e2e"))
        .env("E2E_BASE_URL", project.gateway_url()?)
        .env("E2E_AUTH_URL", &auth[0])
        .env("E2E_AUTH_REPLICAS", auth.join(","))
        .env("E2E_COMMERCE_REPLICAS", commerce.join(","))
        .status()
        .with_context(|| format!("running {what}"))?;
    ensure!(
        status.success(),
        "{what} failed against the compose stack ({status})"
    );
    Ok(())
}

/// `NAME=value` lines of an env file (comments and blank lines skipped).
pub fn env_file(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}
