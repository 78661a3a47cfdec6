//! Faults of the deployed shape, on a stack of its own (the real binaries
//! behind a real nginx): auth-service frozen with `SIGSTOP` while the app
//! keeps calling commerce-service through the gateway. Runs only with
//! stacks of its own (not against `E2E_BASE_URL`): it signals processes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use e2e::app::{App, next_phone};
use e2e::stacks::{drop_stack, own_stack, target_of};
use reqwest::{Method, StatusCode};

/// Sends `signal` to `pid` with kill(1).
fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()?;
    ensure!(status.success(), "kill -{signal} {pid} failed");
    Ok(())
}

/// Thaws the process however the test ends, so no stack is left frozen.
struct Frozen(u32);

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = signal(self.0, "CONT");
    }
}

#[test]
fn a_frozen_auth_service_is_refused_fast_and_a_thawed_one_serves_again() -> anyhow::Result<()> {
    if std::env::var("E2E_BASE_URL").is_ok() {
        return Ok(());
    }
    let stack = own_stack(
        "faults",
        &[
            ("OTP_RESEND_SECONDS", "1"),
            ("STATUS_CACHE_TTL_MS", "100"),
            ("AUTH_TIMEOUT_MS", "500"),
            ("AUTH_BREAKER_FAILURES", "2"),
            ("AUTH_BREAKER_OPEN_MS", "1000"),
        ],
    )?;
    let auth = stack.pid("auth-service").context("auth-service runs")?;
    let app = App::new(Arc::new(target_of(&stack)));
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let session = app.login(&next_phone()).await?;
            let (status, body) = app
                .call(Method::GET, "/api/v1/cart", &session.access, None)
                .await?;
            ensure!(status == StatusCode::OK, "cart answered {status}: {body}");

            let frozen = Frozen(auth);
            signal(auth, "STOP")?;
            tokio::time::sleep(Duration::from_millis(300)).await; // the cached answer expires
            for attempt in 0..4 {
                let (status, body) = app
                    .call(Method::GET, "/api/v1/cart", &session.access, None)
                    .await?;
                ensure!(
                    status == StatusCode::SERVICE_UNAVAILABLE && body["code"] == "auth_unavailable",
                    "attempt {attempt} while auth-service is frozen answered {status}: {body}"
                );
            }
            // The catalog needs no token and still serves.
            let catalog = app
                .send(Method::GET, "/api/v1/products", None, None)
                .await?;
            ensure!(
                catalog.status() == StatusCode::OK,
                "catalog answered {}",
                catalog.status()
            );

            drop(frozen);
            // Recovery without a restart: once the breaker's open interval
            // is over, one probe finds auth-service answering again.
            let thawed = Instant::now();
            loop {
                let (status, body) = app
                    .call(Method::GET, "/api/v1/cart", &session.access, None)
                    .await?;
                if status == StatusCode::OK {
                    break;
                }
                ensure!(
                    status == StatusCode::SERVICE_UNAVAILABLE
                        && thawed.elapsed() < Duration::from_secs(10),
                    "after the thaw the cart answered {status}: {body}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let (status, _) = app.refresh(&session.refresh).await?;
            ensure!(
                status == StatusCode::OK,
                "refresh after the thaw answered {status}"
            );
            Ok(())
        });
    drop_stack(stack);
    outcome
}
