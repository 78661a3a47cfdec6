//! The Node suites (the TypeScript client's vitest suite, the admin panel's
//! Playwright suite) against a running deployment: a stack of our own with
//! two replicas of each service, six-second access tokens and a
//! three-second refresh grace (so expiry and reuse can be waited out), or
//! the deployment `E2E_BASE_URL` names (docker-compose). Node packages come
//! from `npm ci`, which `cargo xtask test` runs first.

use std::path::PathBuf;
use std::process::Command;

use crate::stacks::{drop_stack, env_or, own_stack_with_replicas};

const ACCESS_TTL_SECONDS: &str = "6";
const REFRESH_GRACE_SECONDS: &str = "3";

/// Runs `node_modules/.bin/<program> <args>` in the repository folder
/// `package` against a stack, and asserts that it succeeded.
pub fn run(package: &str, program: &str, args: &[&str]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(package);
    let executable = dir.join("node_modules/.bin").join(program);
    assert!(
        executable.exists(),
        "{} has no node_modules: run `npm ci` there (cargo xtask test does)",
        dir.display()
    );
    let mut suite = Command::new(executable);
    suite.current_dir(&dir).args(args);
    let stack = match std::env::var("E2E_BASE_URL") {
        Ok(base) => {
            suite
                .env("SHOP_BASE_URL", base)
                .env("SHOP_AUTH_REPLICAS", env_or("E2E_AUTH_REPLICAS", ""));
            None
        }
        Err(_) => {
            let stack = own_stack_with_replicas(
                &package.replace(['/', '-'], "_"),
                2,
                &[
                    ("OTP_RESEND_SECONDS", "1"),
                    ("ACCESS_TOKEN_TTL_SECONDS", ACCESS_TTL_SECONDS),
                    ("JWT_LEEWAY_SECONDS", "0"),
                    ("REFRESH_GRACE_SECONDS", REFRESH_GRACE_SECONDS),
                ],
            )
            .expect("a stack for the suite");
            let auth: Vec<String> = stack
                .config
                .replicas("auth-service")
                .into_iter()
                .map(|(_, url)| url)
                .collect();
            suite
                .env("SHOP_BASE_URL", stack.config.gateway_url())
                .env("SHOP_AUTH_REPLICAS", auth.join(","))
                .env("SHOP_ACCESS_TTL_SECONDS", ACCESS_TTL_SECONDS)
                .env("SHOP_REFRESH_GRACE_SECONDS", REFRESH_GRACE_SECONDS)
                .env("ADMIN_EMAIL", &stack.config.admin_email)
                .env("ADMIN_PASSWORD", &stack.config.admin_password);
            Some(stack)
        }
    };
    let status = suite.status().expect("the suite starts");
    if let Some(stack) = stack {
        drop_stack(stack);
    }
    assert!(status.success(), "{program} in {package} failed ({status})");
}
