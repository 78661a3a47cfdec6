//! A rolling restart under load, on a stack of its own with two replicas
//! of each service behind the real gateway: three buyers read and write
//! their carts and check out, and a session rotates its refresh token,
//! while each replica in turn gets `SIGTERM`, drains, exits and starts
//! again. No request fails for good, no checkout makes two orders, and the
//! refresh family never forks. Runs only with stacks of its own (not
//! against `E2E_BASE_URL`): it signals processes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use e2e::app::{App, next_phone};
use e2e::stacks::{drop_stack, target_of};
use reqwest::{Method, StatusCode};
use serde_json::json;

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
