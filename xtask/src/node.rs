//! The Node packages of the repository: the TypeScript client
//! (`clients/typescript/`) and, built on it, the admin panel. `cargo xtask
//! test` installs their locked dependencies (`npm ci`) and checks the
//! generated client against the committed OpenAPI documents before the
//! end-to-end suites run them; `cargo xtask client` regenerates it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, ensure};

use crate::workspace_root;

/// Every Node package, by folder.
/// The client first: the panel builds from its source and dependencies.
pub const PACKAGES: &[&str] = &["clients/typescript", "admin-web"];

pub fn client_dir() -> PathBuf {
    workspace_root().join("clients/typescript")
}

/// `npm ci` in each package whose `node_modules` is missing or older than
/// its lock file (npm records the installed tree in
/// `node_modules/.package-lock.json`).
pub fn install() -> anyhow::Result<()> {
    for package in PACKAGES {
        let dir = workspace_root().join(package);
        if installed_is_current(&dir) {
            continue;
        }
        eprintln!("xtask: npm ci in {package}");
        npm(&dir, &["ci", "--no-audit", "--no-fund"])?;
    }
    Ok(())
}

fn installed_is_current(dir: &Path) -> bool {
    let modified = |path: PathBuf| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    match (
        modified(dir.join("node_modules/.package-lock.json")),
        modified(dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed >= locked,
        _ => false,
    }
}

/// The generated client matches the committed documents, and every
/// package type-checks.
pub fn check() -> anyhow::Result<()> {
    npm(&client_dir(), &["run", "--silent", "check-generated"])
        .context("the generated client is out of date: run `cargo xtask client` and commit it")?;
    for package in PACKAGES {
        npm(
            &workspace_root().join(package),
            &["run", "--silent", "typecheck"],
        )?;
    }
    Ok(())
}

/// The admin panel's static files (`admin-web/dist/admin/`), which the
/// local gateway serves at `/admin/`: installed and built.
pub fn build_admin_panel() -> anyhow::Result<()> {
    install()?;
    npm(
        &workspace_root().join("admin-web"),
        &["run", "--silent", "build"],
    )
}

/// `cargo xtask client`: each service's OpenAPI document (from the debug
/// binary's `openapi` subcommand) into `clients/typescript/openapi/`, then
/// the typed client generated from them.
pub fn regenerate() -> anyhow::Result<()> {
    let root = workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(&root)
        .args(["build", "-p", "auth-service", "-p", "commerce-service"])
        .env("SQLX_OFFLINE", "true")
        .status()
        .context("cargo build")?;
    ensure!(status.success(), "building the services failed ({status})");
    let bin_dir = root.join("target/debug");
    let dir = client_dir();
    for service in ["auth-service", "commerce-service"] {
        let output = Command::new(bin_dir.join(service))
            .arg("openapi")
            .output()
            .with_context(|| format!("running {service} openapi"))?;
        ensure!(
            output.status.success(),
            "{service} openapi failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let path = dir.join("openapi").join(format!("{service}.json"));
        std::fs::write(&path, &output.stdout)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    install()?;
    npm(&dir, &["run", "--silent", "generate"])
}

fn npm(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("npm")
        .current_dir(dir)
        .args(args)
        .status()
        .context("running npm (install Node.js and npm: apt-get install nodejs npm)")?;
    ensure!(
        status.success(),
        "npm {} in {} failed ({status})",
        args.join(" "),
        dir.display()
    );
    Ok(())
}
