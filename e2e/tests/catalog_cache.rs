//! The public catalog cached at the gateway, on a stack of its own: a
//! second read is a cache hit, a burst for a new answer reaches
//! commerce-service about once, `If-None-Match` is answered `304` by the
//! gateway, markets are cached apart, and an admin's price change reaches
//! shoppers within the documented bound (1 s fresh, then one background
//! refresh). Runs only with stacks of its own: it counts requests in
//! commerce-service's metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use e2e::app::{App, json_of};
use e2e::stacks::{drop_stack, own_stack, target_of};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// What the README promises for an admin's change: visible within this.
const STALENESS_BOUND: Duration = Duration::from_secs(3);

#[test]
fn the_catalog_is_served_from_the_gateway_cache_and_changes_show_within_the_bound()
-> anyhow::Result<()> {
    if std::env::var("E2E_BASE_URL").is_ok() {
        return Ok(());
    }
    let stack = own_stack("catalog_cache", &[])?;
    let commerce = stack.config.commerce_url();
    let app = App::new(Arc::new(target_of(&stack)));
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(scenario(&app, &commerce));
    drop_stack(stack);
    outcome
}

async fn scenario(app: &App, commerce: &str) -> anyhow::Result<()> {
    let admin = app.admin().await?;
    let (status, product) = app
        .call(
            Method::POST,
            "/api/v1/admin/products",
            &admin,
            Some(
                json!({"slug": "cached-lamp", "name": "Cached lamp", "skus": [
                {"code": "cached-lamp-1", "stock": 5, "prices": {"us": 1000, "eu": 900}}]}),
            ),
        )
        .await?;
    ensure!(status == StatusCode::CREATED, "create: {product}");
    let id = product["id"].as_i64().context("id")?;
    let sku = product["skus"][0]["id"].as_i64().context("sku")?;
    let path = format!("/api/v1/products/{id}");
    let read = |market: &'static str, tag: Option<String>| {
        let mut request = app.http.get(app.url(&path)).header("x-market", market);
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        request.send()
    };
    let upstream_reads = || async {
        let text = app
            .http
            .get(format!("{commerce}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let series =
            r#"http_requests_total{method="GET",route="/api/v1/products/{id}",status="200"} "#;
        anyhow::Ok(
            text.lines()
                .find_map(|line| line.strip_prefix(series))
                .and_then(|value| value.trim().parse::<f64>().ok())
                .unwrap_or(0.0),
        )
    };

    // A burst of shoppers for an answer nobody asked yet: one fills the
    // entry, the others wait for it.
    let before = upstream_reads().await?;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let request = app.http.get(app.url(&path)).header("x-market", "us");
        burst.spawn(async move { request.send().await.map(|response| response.status()) });
    }
    while let Some(status) = burst.join_next().await {
        ensure!(status?? == StatusCode::OK, "a burst read failed");
    }
    let asked = upstream_reads().await? - before;
    ensure!(
        (1.0..=3.0).contains(&asked),
        "50 concurrent reads reached commerce-service {asked} times"
    );

    let first = read("us", None).await?;
    let tag = first.headers()["etag"].to_str()?.to_owned();
    let cached = first.headers()["x-cache-status"].to_str()?.to_owned();
    ensure!(cached == "HIT", "a repeated read was a {cached}");
    ensure!(
        first.headers().contains_key("x-request-id"),
        "the gateway's request id is on cached answers"
    );
    let unchanged = read("us", Some(tag.clone())).await?;
    ensure!(
        unchanged.status() == StatusCode::NOT_MODIFIED,
        "If-None-Match with the ETag answered {}",
        unchanged.status()
    );
    let (_, eu) = json_of(read("eu", None).await?).await;
    ensure!(
        eu["skus"][0]["price"]["amount_minor"] == 900,
        "the EU answer is the EU price: {eu}"
    );

    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/skus/{sku}/prices/us"),
            &admin,
            Some(json!({"amount_minor": 1250})),
        )
        .await?;
    ensure!(status == StatusCode::OK, "price change: {body}");
    let changed = Instant::now();
    loop {
        let (status, shown) = json_of(read("us", None).await?).await;
        ensure!(status == StatusCode::OK, "read: {shown}");
        if shown["skus"][0]["price"]["amount_minor"] == 1250 {
            break;
        }
        ensure!(
            changed.elapsed() < STALENESS_BOUND,
            "the new price was not shown within {STALENESS_BOUND:?}: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, eu) = json_of(read("eu", None).await?).await;
    ensure!(
        eu["skus"][0]["price"]["amount_minor"] == 900,
        "the EU price did not move: {eu}"
    );
    Ok(())
}
