//! Schemathesis (PyPI), the property-based checker of OpenAPI documents, in
//! a virtualenv of the workspace's own (`target/schemathesis`), made and
//! pinned on first use, and one bounded, seeded run of it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};

use crate::workspace_root;

/// The release the documents are checked with: a new one can find new
/// classes of fault, so it changes by a commit, not by itself.
pub const VERSION: &str = "4.32.5";

/// The `schemathesis` executable, installing it into the workspace's
/// virtualenv when it is missing or of another version.
pub fn ensure() -> anyhow::Result<PathBuf> {
    let venv = workspace_root().join("target/schemathesis");
    let executable = venv.join("bin/schemathesis");
    let installed = Command::new(&executable)
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(VERSION));
    if installed {
        return Ok(executable);
    }
    eprintln!("schemathesis: installing {VERSION} into {}", venv.display());
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("python3 -m venv (Debian: apt-get install python3-venv)")?;
    ensure!(made.success(), "python3 -m venv failed");
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("schemathesis=={VERSION}"))
        .status()
        .context("pip install schemathesis")?;
    ensure!(pip.success(), "pip install schemathesis=={VERSION} failed");
    Ok(executable)
}

/// What one run checks: every answer is no 5xx, has a documented status
/// and content type (problem+json for errors), and matches its schema.
pub const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// One run over the operations of `schema` whose path matches (or, with
/// `exclude`, does not match) `paths`, sent to `base_url`.
pub struct Run<'a> {
    pub schema: &'a str,
    pub base_url: &'a str,
    pub bearer: Option<&'a str>,
    pub paths: &'a str,
    pub exclude: bool,
    pub examples: u32,
    pub seed: u64,
    pub time_limit: Duration,
}

impl Run<'_> {
    /// Runs schemathesis; an error carries its report of what failed.
    pub fn execute(&self, executable: &std::path::Path) -> anyhow::Result<()> {
        let report_dir = workspace_root().join("target/schemathesis/reports");
        let mut command = Command::new(executable);
        command
            .arg("run")
            .arg(self.schema)
            .args(["--url", self.base_url])
            .args(["--checks", CHECKS])
            .args(["--max-examples", &self.examples.to_string()])
            .args(["--seed", &self.seed.to_string()])
            .args(["--request-timeout", "10"])
            .args(["--report-dir"])
            .arg(&report_dir)
            .args([
                if self.exclude {
                    "--exclude-path-regex"
                } else {
                    "--include-path-regex"
                },
                self.paths,
            ])
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(token) = self.bearer {
            command.args(["--header", &format!("Authorization: Bearer {token}")]);
        }
        let mut child = command.spawn().context("starting schemathesis")?;
        let finished =
            crate::wait_until(self.time_limit, || matches!(child.try_wait(), Ok(Some(_))));
        if finished.is_err() {
            let _ = child.kill();
        }
        let output = child.wait_with_output()?;
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if finished.is_err() {
            bail!(
                "schemathesis ran past {:?} on {} at {}:\n{report}",
                self.time_limit,
                self.schema,
                self.base_url
            );
        }
        if !output.status.success() {
            bail!(
                "schemathesis found faults in {} at {} (seed {}; replay: \
                 SCHEMATHESIS_SEED={} cargo test -p e2e --test contract):\n{report}",
                self.schema,
                self.base_url,
                self.seed,
                self.seed
            );
        }
        let summary = report
            .lines()
            .rev()
            .find(|line| line.contains("generated"))
            .unwrap_or("")
            .trim();
        println!(
            "schemathesis {} at {}: {summary}",
            self.schema, self.base_url
        );
        Ok(())
    }
}
