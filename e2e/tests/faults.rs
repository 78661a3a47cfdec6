//! Faults of the deployed shape, on stacks of their own (the real binaries
//! behind a real nginx): auth-service frozen with `SIGSTOP` while the app
//! keeps calling commerce-service through the gateway; the gateway
//! restarted while the app rotates its refresh token as fast as it can;
//! auth-service killed and started again; commerce-service sent `SIGTERM`
//! under load.
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

#[test]
fn a_killed_auth_service_is_refused_fast_and_a_restarted_one_keeps_every_session()
-> anyhow::Result<()> {
    if std::env::var("E2E_BASE_URL").is_ok() {
        return Ok(());
    }
    let mut stack = own_stack(
        "authkill",
        &[("OTP_RESEND_SECONDS", "1"), ("STATUS_CACHE_TTL_MS", "100")],
    )?;
    let app = App::new(Arc::new(target_of(&stack)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = (|| -> anyhow::Result<()> {
        let session = runtime.block_on(app.login(&next_phone()))?;
        let killed = stack.signal_and_wait("auth-service", "KILL", Duration::from_secs(5))?;
        ensure!(killed.is_some(), "auth-service did not die");
        runtime.block_on(async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let started = Instant::now();
            let (status, body) = app
                .call(Method::GET, "/api/v1/cart", &session.access, None)
                .await?;
            ensure!(
                status == StatusCode::SERVICE_UNAVAILABLE && body["code"] == "auth_unavailable",
                "with auth-service dead the cart answered {status}: {body}"
            );
            ensure!(
                started.elapsed() < Duration::from_secs(5),
                "refused within the bound"
            );
            Ok(())
        })?;
        stack.start_service_again("auth-service")?;
        runtime.block_on(async {
            // Sessions live in Redis and PostgreSQL, not in the process: the
            // same session works at once, and it still rotates.
            let (status, body) = app
                .call(Method::GET, "/api/v1/cart", &session.access, None)
                .await?;
            ensure!(
                status == StatusCode::OK,
                "after the restart the cart answered {status}: {body}"
            );
            let (status, _) = app.refresh(&session.refresh).await?;
            ensure!(
                status == StatusCode::OK,
                "after the restart refresh answered {status}"
            );
            Ok(())
        })
    })();
    drop_stack(stack);
    outcome
}

#[test]
fn a_sigterm_drains_commerce_answering_every_request_until_it_exits_cleanly() -> anyhow::Result<()>
{
    drains_under_sigterm("commerce-service", "/api/v1/cart")
}

#[test]
fn a_sigterm_drains_auth_answering_every_request_until_it_exits_cleanly() -> anyhow::Result<()> {
    drains_under_sigterm("auth-service", "/api/v1/auth/me")
}

/// Sends `SIGTERM` to `service` while a client calls `path` on it without
/// pause: readiness says `stopping`, every request answered is `200`
/// until the listener closes, and the process exits cleanly.
fn drains_under_sigterm(service: &'static str, path: &'static str) -> anyhow::Result<()> {
    if std::env::var("E2E_BASE_URL").is_ok() {
        return Ok(());
    }
    let mut stack = own_stack(
        &format!("sigterm_{}", &service[..4]),
        &[("OTP_RESEND_SECONDS", "1"), ("SHUTDOWN_GRACE_MS", "1500")],
    )?;
    let app = Arc::new(App::new(Arc::new(target_of(&stack))));
    let base = if service == "auth-service" {
        stack.config.auth_url()
    } else {
        stack.config.commerce_url()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let session = runtime.block_on(app.login(&next_phone()))?;
    // Load straight at the service (one replica here: the gateway would
    // have nowhere else to send it), until the process is gone.
    let load = {
        let (app, base) = (app.clone(), base.clone());
        runtime.spawn(async move {
            let (mut served, mut stopping_seen) = (0u32, false);
            loop {
                let answer = app
                    .http
                    .get(format!("{base}{path}"))
                    .bearer_auth(&session.access)
                    .send()
                    .await;
                let Ok(answer) = answer else {
                    break; // the listener is closed: the process is draining or gone
                };
                let status = answer.status();
                ensure!(
                    status == StatusCode::OK,
                    "a request during the drain answered {status}"
                );
                served += 1;
                if !stopping_seen {
                    let ready = app.http.get(format!("{base}/readyz")).send().await;
                    stopping_seen =
                        ready.is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE);
                }
            }
            Ok((served, stopping_seen))
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let exited = stack.signal_and_wait(service, "TERM", Duration::from_secs(10));
    let outcome = runtime.block_on(load)?;
    drop_stack(stack);
    let exit = exited?.with_context(|| format!("{service} did not exit within 10 s of SIGTERM"))?;
    ensure!(exit.success(), "{service} exited with {exit}");
    let (served, stopping_seen) = outcome?;
    ensure!(
        stopping_seen,
        "readiness said stopping during the grace period"
    );
    ensure!(
        served > 10,
        "requests were served during the test ({served})"
    );
    Ok(())
}
