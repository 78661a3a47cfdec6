//! `cargo xtask fuzz [--seconds N]`: builds the cargo-fuzz targets of
//! `fuzz/` (libFuzzer's coverage instrumentation needs the nightly
//! toolchain) and runs each for a bounded time. A crash (a panic, an
//! assertion of a target, a timeout or running out of memory) fails the run
//! and leaves its input in `fuzz/artifacts/<target>/`; the corpus each run
//! grows is kept in `target/fuzz-corpus/<target>/` (seeded from
//! `fuzz/seeds/<target>/`).
//!
//! No sanitizer: the code under test is safe Rust, where AddressSanitizer
//! finds nothing a panic would not, and the C code beneath it (aws-lc) is
//! not instrumented by rustc's flags anyway; the build is much shorter.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail, ensure};

use crate::workspace_root;

/// The cargo-fuzz release the targets are built with.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Every target, in `fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &[
    "access_token",
    "refresh_token",
    "phone",
    "json_body",
    "request_parsers",
];

/// `quick`: a debug build (shorter to compile, slower to run), as the
/// test command's short run wants.
pub fn run(seconds: u64, only: &[String], quick: bool) -> anyhow::Result<()> {
    let toolchain = nightly_toolchain()?;
    ensure_cargo_fuzz()?;
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    let targets: Vec<&str> = TARGETS
        .iter()
        .copied()
        .filter(|target| only.is_empty() || only.iter().any(|o| o == target))
        .collect();
    ensure!(
        !targets.is_empty(),
        "no such target; the targets are {TARGETS:?}"
    );
    let started = std::time::Instant::now();
    let profile: &[&str] = if quick { &["--dev"] } else { &[] };
    let status = cargo_fuzz(&toolchain, &fuzz_dir)
        .args(["build", "--sanitizer", "none"])
        .args(profile)
        .status()
        .context("cargo fuzz build")?;
    ensure!(status.success(), "building the fuzz targets failed");
    eprintln!("xtask: fuzz targets built in {:.0?}", started.elapsed());
    let mut crashed = Vec::new();
    for target in targets {
        let corpus = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        let seeds = fuzz_dir.join("seeds").join(target);
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        let mut command = cargo_fuzz(&toolchain, &fuzz_dir);
        command
            .args(["run", "--sanitizer", "none"])
            .args(profile)
            .arg(target)
            .arg(&corpus);
        if seeds.is_dir() {
            command.arg(&seeds);
        }
        let status = command
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1")
            .status()
            .with_context(|| format!("cargo fuzz run {target}"))?;
        if !status.success() {
            crashed.push(target);
        }
    }
    if !crashed.is_empty() {
        bail!(
            "fuzzing found crashes in {crashed:?}: the inputs are in fuzz/artifacts/<target>/; \
             replay one with `cargo +nightly fuzz run <target> <file>` in fuzz/, and keep it \
             as a regression test"
        );
    }
    Ok(())
}

fn cargo_fuzz(toolchain: &str, fuzz_dir: &Path) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg(format!("+{toolchain}"))
        .arg("fuzz")
        .current_dir(fuzz_dir)
        // The services' SQL is checked against the committed .sqlx data.
        .env("SQLX_OFFLINE", "true")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO");
    command
}

/// The installed nightly toolchain (libFuzzer's sanitizer flags need one;
/// none is downloaded).
fn nightly_toolchain() -> anyhow::Result<String> {
    let listed = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .context("rustup toolchain list")?;
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .find(|name| name.starts_with("nightly"))
        .map(str::to_owned)
        .context("no nightly toolchain is installed: `rustup toolchain install nightly` (cargo-fuzz needs it)")
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(CARGO_FUZZ_VERSION));
    if installed {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} (once)");
    let status = Command::new("cargo")
        .args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ])
        .status()
        .context("cargo install cargo-fuzz")?;
    ensure!(status.success(), "installing cargo-fuzz failed");
    Ok(())
}
