//! The log lines are there: with the subscriber the binary installs (no
//! span exporter, JSON lines), an admin's order change and a 500 each leave
//! their line, carrying the request's `request_id` and `trace_id`, even right
//! after database calls. A test binary of its own, because it installs the
//! process-wide subscriber.

// The shared helpers; this binary uses only some of them.
#[path = "api/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use common::testing::CapturedLogs;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use support::{Stack, read};

async fn send(
    stack: &Stack,
    request_id: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = stack
        .client
        .request(method, stack.url(path))
        .bearer_auth(token)
        .header("x-market", "us")
        .header("x-request-id", request_id);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn admin_changes_and_failures_are_logged_with_their_request(pool: PgPool) {
    let logs = CapturedLogs::default();
    // What `telemetry::init` installs when no OTLP endpoint is set.
    let _telemetry = common::telemetry::install::<InMemorySpanExporter, _>(
        "commerce-service",
        "test",
        None,
        logs.clone(),
        false,
    );
    let stack = support::spawn(pool.clone()).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "logged", 10, json!({"us": 100}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;

    // Each change ends with database calls right before its line is due.
    for round in 0..3 {
        stack.add_to_cart(&buyer, item.sku_id, 1).await;
        let (status, order) = read(stack.checkout(&buyer, &format!("logged-{round}")).await).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let path = format!("/api/v1/admin/orders/{}/status", order["id"]);
        let request_id = format!("cancel-{round}");
        let body = json!({ "status": "cancelled" });
        let moved = send(&stack, &request_id, Method::POST, &path, &admin, Some(body)).await;
        assert_eq!(moved.status(), StatusCode::OK);
        logs.assert_logged(&request_id, "order moved by an admin");
    }

    // A fault nobody planned for: the cart table is gone.
    sqlx::query("ALTER TABLE carts RENAME TO carts_elsewhere")
        .execute(&pool)
        .await
        .unwrap();
    let failed = send(
        &stack,
        "broken-1",
        Method::GET,
        "/api/v1/cart",
        &buyer.token,
        None,
    )
    .await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    logs.assert_logged("broken-1", "request failed unexpectedly");
    logs.assert_logged("broken-1", "request failed");
}
