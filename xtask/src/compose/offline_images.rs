//! The offline stand-ins for docker-compose's upstream images
//! (`deploy/offline/`): a Debian base made with `debootstrap` that trusts
//! the host's CA certificates (so that apt, crates.io and PyPI answer from
//! inside builds behind a TLS-inspecting egress), the host's Rust toolchain
//! on it, and PostgreSQL, Redis, nginx and an OTLP sink from Debian's
//! packages, built by `docker compose -f deploy/offline/images.yml build`.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail, ensure};

use super::engine::apt_install;
use crate::local_services::running_as_root;
use crate::workspace_root;

pub const BASE_IMAGE: &str = "shop-offline/debian:bookworm-slim";
const DEBIAN_SUITE: &str = "bookworm";
const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

/// The variables that point docker-compose.yml at the stand-ins.
pub fn image_variables() -> anyhow::Result<Vec<(String, String)>> {
    super::env_file(&workspace_root().join("deploy/offline/images.env"))
}

/// Whether every stand-in is already in the engine.
pub fn all_present() -> anyhow::Result<bool> {
    Ok(image_variables()?
        .iter()
        .all(|(_, image)| image_present(image)))
}

pub fn image_present(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Builds every stand-in (the base only when missing, or always with
/// `rebuild_base`); `work_dir` holds the root file system and the rust
/// image's context.
pub fn build(work_dir: &Path, rebuild_base: bool) -> anyhow::Result<()> {
    if rebuild_base || !image_present(BASE_IMAGE) {
        import_base(&work_dir.join("rootfs"))?;
    }
    stage_rust_context(&workspace_root().join("target/offline-images/rust"))?;
    let status = Command::new("docker")
        .args(["compose", "-f", "deploy/offline/images.yml", "build"])
        .env("COMPOSE_BAKE", "false")
        .current_dir(workspace_root())
        .status()
        .context("docker compose build (deploy/offline/images.yml)")?;
    ensure!(status.success(), "building the offline images failed");
    Ok(())
}

/// `debootstrap --variant=minbase` into `rootfs`, the host's CA certificates
/// added (as local ones, so that the `ca-certificates` package keeps them
/// when an image installs it), services kept from starting during package
/// installs, then `docker import`.
fn import_base(rootfs: &Path) -> anyhow::Result<()> {
    ensure!(
        running_as_root(),
        "debootstrap needs root: run `sudo cargo xtask offline-images` once"
    );
    if Command::new("sh")
        .args(["-c", "command -v debootstrap"])
        .stdout(Stdio::null())
        .status()
        .map_or(true, |status| !status.success())
    {
        apt_install(&["debootstrap"])?;
    }
    let _ = std::fs::remove_dir_all(rootfs);
    std::fs::create_dir_all(rootfs)?;
    eprintln!(
        "xtask: debootstrap {DEBIAN_SUITE} into {}",
        rootfs.display()
    );
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", DEBIAN_SUITE])
        .arg(rootfs)
        .arg(DEBIAN_MIRROR)
        .stdout(Stdio::null())
        .status()
        .context("debootstrap")?;
    ensure!(status.success(), "debootstrap failed");

    trust_host_certificates(rootfs)?;
    let policy = rootfs.join("usr/sbin/policy-rc.d");
    std::fs::write(
        &policy,
        "#!/bin/sh\n# No service starts during image builds.\nexit 101\n",
    )?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o755))?;
    let _ = std::fs::remove_dir_all(rootfs.join("var/lib/apt/lists"));
    std::fs::create_dir_all(rootfs.join("var/lib/apt/lists/partial"))?;

    let import = format!(
        "tar -C '{}' -c . | docker import \
         --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
         --change 'CMD [\"bash\"]' - {BASE_IMAGE}",
        rootfs.display()
    );
    let status = Command::new("sh")
        .args(["-c", &import])
        .stdout(Stdio::null())
        .status()
        .context("docker import")?;
    ensure!(status.success(), "docker import of the base failed");
    std::fs::remove_dir_all(rootfs)?;
    Ok(())
}

/// The host's system bundle as the image's, and the host's local
/// certificates (`/usr/local/share/ca-certificates`) as the image's local
/// ones.
fn trust_host_certificates(rootfs: &Path) -> anyhow::Result<()> {
    let local = Path::new("/usr/local/share/ca-certificates");
    let target = rootfs.join("usr/local/share/ca-certificates");
    std::fs::create_dir_all(&target)?;
    if let Ok(entries) = std::fs::read_dir(local) {
        for entry in entries.filter_map(Result::ok) {
            if entry.path().extension().is_some_and(|ext| ext == "crt") {
                std::fs::copy(entry.path(), target.join(entry.file_name()))?;
            }
        }
    }
    let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if bundle.exists() {
        std::fs::create_dir_all(rootfs.join("etc/ssl/certs"))?;
        std::fs::copy(bundle, rootfs.join("etc/ssl/certs/ca-certificates.crt"))?;
    }
    Ok(())
}

/// The rust image's build context: its Dockerfile and the host toolchain's
/// `bin/` (cargo, rustc, rustdoc) and `lib/`, hard-linked where possible.
fn stage_rust_context(context: &Path) -> anyhow::Result<()> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("rustc --print sysroot")?;
    ensure!(sysroot.status.success(), "rustc --print sysroot failed");
    let sysroot = String::from_utf8(sysroot.stdout)?.trim().to_owned();
    let _ = std::fs::remove_dir_all(context);
    let toolchain = context.join("toolchain");
    std::fs::create_dir_all(toolchain.join("bin"))?;
    std::fs::copy(
        workspace_root().join("deploy/offline/rust.Dockerfile"),
        context.join("rust.Dockerfile"),
    )?;
    let copy = |from: String, to: &Path| -> anyhow::Result<()> {
        let status = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "cp -al {from} '{}' 2>/dev/null || cp -a {from} '{}'",
                    to.display(),
                    to.display()
                ),
            ])
            .status()?;
        if !status.success() {
            bail!("copying {from} into the rust image's context failed");
        }
        Ok(())
    };
    for tool in ["cargo", "rustc", "rustdoc"] {
        copy(format!("'{sysroot}/bin/{tool}'"), &toolchain.join("bin"))?;
    }
    copy(format!("'{sysroot}/lib'"), &toolchain)?;
    Ok(())
}
