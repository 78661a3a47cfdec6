//! Faults of the deployed shape, on stacks of their own (the real binaries
//! behind a real nginx): auth-service frozen with `SIGSTOP` while the app
//! keeps calling commerce-service through the gateway, and the gateway
//! restarted while the app rotates its refresh token as fast as it can.
//! Runs only with stacks of its own (not against `E2E_BASE_URL`): it
//! signals processes.

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

#[test]
fn a_gateway_restarted_mid_refresh_never_forks_or_ends_the_session() -> anyhow::Result<()> {
    if std::env::var("E2E_BASE_URL").is_ok() {
        return Ok(());
    }
    let mut stack = own_stack("gwrestart", &[("OTP_RESEND_SECONDS", "1")])?;
    let app = App::new(Arc::new(target_of(&stack)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let session = runtime.block_on(app.login(&next_phone()))?;
    // The app refreshes as fast as it can; an answer lost with the
    // gateway is retried with the same token, as a real app does.
    let refreshing = runtime.spawn(async move {
        let mut current = session;
        let (mut rotated, mut lost) = (0u32, 0u32);
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            match app.refresh(&current.refresh).await {
                Ok((StatusCode::OK, pair)) => {
                    current = e2e::app::Session::of(&pair)?;
                    rotated += 1;
                }
                Ok((status, body)) if status.is_client_error() => {
                    anyhow::bail!("refresh answered {status} after {rotated} rotations: {body}")
                }
                // The gateway is away: no answer, or its own error page.
                Ok(_) | Err(_) => {
                    lost += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        let (status, body) = app
            .call(Method::GET, "/api/v1/cart", &current.access, None)
            .await?;
        ensure!(
            status == StatusCode::OK,
            "the session ended: {status} {body}"
        );
        Ok((rotated, lost))
    });
    std::thread::sleep(Duration::from_millis(700));
    let restarted = stack.restart_gateway();
    let outcome = runtime.block_on(refreshing)?;
    drop_stack(stack);
    restarted?;
    let (rotated, lost) = outcome?;
    ensure!(lost > 0, "the restart cut at least one refresh off");
    ensure!(rotated > 10, "the refresh loop kept rotating ({rotated})");
    Ok(())
}
