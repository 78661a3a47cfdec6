//! A Redis Cluster of three masters on free ports, from the installed
//! `redis-server` and `redis-cli`, for running auth-service's suite against
//! the deployed shape of Redis. Stopped and removed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};

use crate::wait_until;

const MASTERS: usize = 3;

pub struct LocalCluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

/// A port that is free, and whose cluster-bus port (port + 10000) is too.
fn cluster_port(taken: &[u16]) -> anyhow::Result<u16> {
    let seed = std::process::id() as usize;
    for attempt in 0..5000usize {
        let port = 20_000 + ((seed + attempt * 7919) % 20_000) as u16;
        if taken.contains(&port) {
            continue;
        }
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return Ok(port);
        }
    }
    bail!("no free port pair for a Redis Cluster node")
}

fn redis_cli(port: u16, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .context("redis-cli is not installed: sudo apt-get install -y redis-tools")?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

impl LocalCluster {
    /// Starts three cluster-enabled servers under `dir`, joins them into a
    /// cluster (every slot covered) and waits until every node says `ok`.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let mut cluster = Self {
            ports: Vec::new(),
            children: Vec::new(),
            dir: dir.to_owned(),
        };
        for _ in 0..MASTERS {
            let port = cluster_port(&cluster.ports)?;
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir)?;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
                .args(["--cluster-node-timeout", "2000"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--maxmemory-policy", "noeviction"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("redis-server is not installed: sudo apt-get install -y redis-server")?;
            cluster.children.push(child);
            cluster.ports.push(port);
        }
        for &port in &cluster.ports {
            wait_until(Duration::from_secs(10), || {
                redis_cli(port, &["PING"]).is_ok_and(|reply| reply.trim() == "PONG")
            })
            .with_context(|| format!("the Redis node on {port} did not start"))?;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        ensure!(created.success(), "redis-cli --cluster create failed");
        for &port in &cluster.ports {
            wait_until(Duration::from_secs(20), || {
                redis_cli(port, &["CLUSTER", "INFO"])
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            })
            .with_context(|| format!("the cluster node on {port} never reported ok"))?;
        }
        Ok(cluster)
    }

    /// `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
