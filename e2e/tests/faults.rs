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
use serde_json::json;

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

/// Whether an answer may be asked again as it stands: no answer at all, the
/// gateway's 502/503/504, or a checkout still running under the same key.
fn worth_asking_again(answer: &anyhow::Result<(StatusCode, serde_json::Value)>) -> bool {
    match answer {
        Err(_) => true,
        Ok((status, body)) => {
            matches!(status.as_u16(), 502..=504) || body["code"] == "idempotency_in_progress"
        }
    }
}

/// Asks until an answer stands (at most 40 times), as the app does with a
/// request that is safe to repeat; the final answer and how many were
/// asked again.
async fn ask_safely<F, Fut>(ask: F) -> (anyhow::Result<(StatusCode, serde_json::Value)>, u32)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(StatusCode, serde_json::Value)>>,
{
    let mut again = 0;
    loop {
        let answer = ask().await;
        if !worth_asking_again(&answer) || again == 40 {
            return (answer, again);
        }
        again += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One buyer's traffic until `stop`: catalog and cart reads, a cart write
/// (a PUT: the same quantity twice is one change) and a checkout with its
/// own idempotency key. Returns the keys whose checkout made an order and
/// how many requests were asked again.
async fn shop_until(
    app: Arc<App>,
    buyer: e2e::app::Session,
    sku: i64,
    tag: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<(Vec<String>, u32)> {
    let (mut ordered, mut asked_again) = (Vec::new(), 0);
    let mut round = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        round += 1;
        let cart_line = format!("/api/v1/cart/items/{sku}");
        let key = format!("rolling-{tag}-{round}");
        // (what, method, path, body, safe to repeat as it stands): reads, a
        // PUT of the same quantity and a checkout under its idempotency key
        // may be asked again; an add may not (twice adds two), so it must
        // never fail.
        let add = json!({"sku_id": sku, "quantity": 1});
        let steps: [(&str, Method, &str, Option<serde_json::Value>, bool); 5] = [
            (
                "catalog",
                Method::GET,
                "/api/v1/products?per_page=5",
                None,
                true,
            ),
            ("cart read", Method::GET, "/api/v1/cart", None, true),
            (
                "cart write",
                Method::PUT,
                &cart_line,
                Some(json!({"quantity": 1})),
                true,
            ),
            (
                "cart add",
                Method::POST,
                "/api/v1/cart/items",
                Some(add),
                false,
            ),
            (
                "checkout",
                Method::POST,
                "/api/v1/orders",
                Some(json!({})),
                true,
            ),
        ];
        for (what, method, path, body, repeatable) in steps {
            let ask = || async {
                let mut request = app
                    .http
                    .request(method.clone(), app.url(path))
                    .bearer_auth(&buyer.access);
                if what == "checkout" {
                    request = request.header("idempotency-key", &key);
                }
                if let Some(body) = &body {
                    request = request.json(body);
                }
                Ok(e2e::app::json_of(request.send().await?).await)
            };
            let answer = if repeatable {
                let (answer, again) = ask_safely(ask).await;
                asked_again += again;
                answer
            } else {
                ask().await
            };
            let (status, body) = answer.with_context(|| format!("{what} never answered"))?;
            ensure!(
                status.is_success(),
                "{what} failed during the rolling restart: {status} {body}"
            );
            if what == "checkout" {
                ordered.push(key.clone());
            }
        }
    }
    Ok((ordered, asked_again))
}

/// Rotates a refresh token until `stop`, repeating a rotation whose answer
/// was lost with the same token (the grace period hands back the same
/// successor). Returns the session's last tokens and the rotations.
async fn refresh_until(
    app: Arc<App>,
    mut session: e2e::app::Session,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<(e2e::app::Session, u32)> {
    let mut rotations = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let refresh = session.refresh.clone();
        let (answer, _) = ask_safely(|| app.refresh(&refresh)).await;
        let (status, pair) = answer.context("a refresh never answered")?;
        ensure!(
            status == StatusCode::OK,
            "a refresh failed for good after {rotations} rotations: {status} {pair}"
        );
        session = e2e::app::Session::of(&pair)?;
        rotations += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((session, rotations))
}

#[test]
fn a_rolling_restart_of_every_replica_fails_no_request_and_duplicates_nothing() -> anyhow::Result<()>
{
    if std::env::var("E2E_BASE_URL").is_ok() {
        return Ok(());
    }
    let mut stack = e2e::stacks::own_stack_with_replicas(
        "rolling",
        2,
        &[
            ("OTP_RESEND_SECONDS", "1"),
            // Longer than the gateway's upstream keepalive_timeout (1 s).
            ("SHUTDOWN_GRACE_MS", "1500"),
            ("MAX_PENDING_ORDERS", "100000"),
            ("MAX_HELD_UNITS_PER_SKU", "100000"),
        ],
    )?;
    let app = Arc::new(App::new(Arc::new(target_of(&stack))));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcome = (|| -> anyhow::Result<()> {
        let (buyers, refresher, sku) = runtime.block_on(async {
            let admin = app.admin().await?;
            let (status, product) = app
                .call(
                    Method::POST,
                    "/api/v1/admin/products",
                    &admin,
                    Some(json!({
                        "slug": "rolling-restart", "name": "Plenty", "description": "Enough for every checkout",
                        "skus": [{"code": "rolling-1", "attributes": {}, "stock": 1_000_000, "prices": {"us": 100}}],
                    })),
                )
                .await?;
            ensure!(status == StatusCode::CREATED, "{status} {product}");
            let sku = product["skus"][0]["id"].as_i64().context("sku id")?;
            let mut buyers = Vec::new();
            for _ in 0..3 {
                buyers.push(app.login(&next_phone()).await?);
            }
            let refresher = app.login(&next_phone()).await?;
            Ok::<_, anyhow::Error>((buyers, refresher, sku))
        })?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let shoppers: Vec<_> = buyers
            .iter()
            .enumerate()
            .map(|(tag, buyer)| {
                runtime.spawn(shop_until(
                    app.clone(),
                    buyer.clone(),
                    sku,
                    tag,
                    stop.clone(),
                ))
            })
            .collect();
        let refreshing = runtime.spawn(refresh_until(app.clone(), refresher, stop.clone()));

        // Each replica in turn: SIGTERM (readiness drops, in-flight
        // requests drain, a clean exit), started again, ready; then a pause
        // longer than the gateway's fail_timeout before its twin goes.
        std::thread::sleep(Duration::from_millis(500));
        for name in [
            "auth-service",
            "auth-service-2",
            "commerce-service",
            "commerce-service-2",
        ] {
            let exited = stack.signal_and_wait(name, "TERM", Duration::from_secs(10))?;
            ensure!(
                exited.is_some_and(|status| status.success()),
                "{name} did not exit cleanly on SIGTERM: {exited:?}"
            );
            stack.start_service_again(name)?;
            std::thread::sleep(Duration::from_millis(2500));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);

        let (mut asked_again, mut orders_made) = (0, 0);
        let rotations = runtime.block_on(async {
            for (buyer, shopper) in buyers.iter().zip(shoppers) {
                let (ordered, again) = shopper.await??;
                asked_again += again;
                orders_made += ordered.len();
                ensure!(!ordered.is_empty(), "the buyer kept checking out");
                // Every key made exactly one order: none lost, none twice.
                let (status, orders) = app
                    .call(
                        Method::GET,
                        "/api/v1/orders?per_page=100",
                        &buyer.access,
                        None,
                    )
                    .await?;
                ensure!(status == StatusCode::OK, "{status} {orders}");
                ensure!(
                    orders["total"].as_u64() == Some(ordered.len() as u64),
                    "{} checkouts answered, {} orders exist",
                    ordered.len(),
                    orders["total"]
                );
            }
            let (session, rotations) = refreshing.await??;
            ensure!(
                rotations > 10,
                "the refresh loop kept rotating ({rotations})"
            );
            // The family never forked: its last token still rotates and its
            // access token still reads the cart.
            let (status, pair) = app.refresh(&session.refresh).await?;
            ensure!(
                status == StatusCode::OK,
                "the session ended: {status} {pair}"
            );
            let (status, body) = app
                .call(Method::GET, "/api/v1/cart", &session.access, None)
                .await?;
            ensure!(status == StatusCode::OK, "{status} {body}");
            Ok::<_, anyhow::Error>(rotations)
        })?;
        println!(
            "rolling restart: {orders_made} orders, {rotations} refreshes, \
             {asked_again} requests asked again by the client, none failed"
        );
        Ok(())
    })();
    drop_stack(stack);
    outcome
}
