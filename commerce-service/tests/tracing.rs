//! One trace across both services, and metrics that move with what
//! happens, in a test binary of its own: it installs the process-wide trace
//! pipeline and reads process-wide counters exactly.

// The shared helpers; this binary uses only some of them.
#[path = "api/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use common::testing::{scrape, series};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use reqwest::StatusCode;
use sqlx::PgPool;

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn an_authenticated_request_is_one_trace_across_commerce_and_auth(pool: PgPool) {
    let exporter = InMemorySpanExporter::default();
    let telemetry = common::telemetry::install(
        "shop-test",
        "test",
        Some(exporter.clone()),
        std::io::sink,
        false,
    );
    let stack = support::spawn_with(pool, &[("STATUS_CACHE_TTL_MS", "60000")]).await;
    let buyer = stack.login("+13128059851", "us").await;
    exporter.reset();

    // The app (through the gateway, which has no tracer) sends its own traceparent.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = stack
        .client
        .get(stack.url("/api/v1/cart"))
        .bearer_auth(&buyer.token)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("x-request-id", "app-cart-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    telemetry.flush();

    let spans = exporter.get_finished_spans().unwrap();
    let expected = TraceId::from_hex(trace_id).unwrap();
    let in_trace: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == expected)
        .collect();
    let commerce = in_trace
        .iter()
        .find(|s| s.name == "GET /api/v1/cart")
        .expect("commerce's server span");
    assert_eq!(
        commerce.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        "the app's span is the parent"
    );
    assert_eq!(
        attribute(commerce, "http.route").as_deref(),
        Some("/api/v1/cart")
    );
    assert_eq!(
        attribute(commerce, "http.response.status_code").as_deref(),
        Some("200")
    );
    let call = in_trace
        .iter()
        .find(|s| s.name == "auth.token_status")
        .expect("the token-status call's span");
    let auth = in_trace
        .iter()
        .find(|s| s.name == "POST /internal/v1/token-status")
        .expect("auth-service's span joins the same trace");
    assert_eq!(
        auth.parent_span_id,
        call.span_context.span_id(),
        "joined through traceparent"
    );
    assert!(auth.parent_span_is_remote);
    let database = in_trace
        .iter()
        .find(|s| attribute(s, "db.system").as_deref() == Some("postgresql"))
        .expect("database queries are spans of the trace");
    for span in [commerce, call, database] {
        assert_eq!(
            attribute(span, "request_id").as_deref(),
            Some("app-cart-1"),
            "{}",
            span.name
        );
    }

    // Metrics move exactly with what happens: cache hits, no auth calls
    // while warm, one created checkout.
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "metered", 5, serde_json::json!({"us": 100}))
        .await;
    let metrics = || scrape(&stack.client, &stack.base);
    let before = metrics().await;
    for _ in 0..2 {
        stack.get("/api/v1/cart", &buyer.token).await;
    }
    stack.add_to_cart(&buyer, item.sku_id, 1).await;
    assert_eq!(
        stack.checkout(&buyer, "metered-1").await.status(),
        StatusCode::CREATED
    );
    let after = metrics().await;
    let moved = |name: &str| series(&after, name) - series(&before, name);
    assert_eq!(moved(r#"status_cache_requests_total{result="hit"}"#), 4.0);
    assert_eq!(moved(r#"status_cache_requests_total{result="miss"}"#), 0.0);
    assert_eq!(moved(r#"auth_status_calls_total{outcome="ok"}"#), 0.0);
    assert_eq!(moved(r#"checkouts_total{outcome="created"}"#), 1.0);
    assert!(
        after.contains("db_pool_connections"),
        "pool gauges are exported"
    );
}
