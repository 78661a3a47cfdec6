//! Logs, traces and metrics of auth-service, in a test binary of its own
//! because it installs the process-wide log and trace pipeline.

// The shared helpers; this binary uses only some of them.
#[path = "api/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use common::testing::{CapturedLogs, scrape, series};
use opentelemetry_sdk::trace::InMemorySpanExporter;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use support::{access, read, refresh_token, spawn_with, test_settings};

const PHONE: &str = "+13128059851";

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn logins_refreshes_and_their_metrics_leave_no_secret_in_the_logs(pool: PgPool) {
    let logs = CapturedLogs::default();
    let exporter = InMemorySpanExporter::default();
    let telemetry = common::telemetry::install(
        "auth-service",
        "test",
        Some(exporter.clone()),
        logs.clone(),
        false,
    );
    let app = spawn_with(
        pool,
        test_settings(&[("OTP_RESEND_SECONDS", "0"), ("REFRESH_GRACE_SECONDS", "0")]),
    )
    .await;
    let metrics = || scrape(&app.client, &app.base);
    let before = metrics().await;

    app.send_code(PHONE).await;
    let code = app.latest_code(PHONE).await;
    let (status, pair) = read(app.verify_code(PHONE, &code).await).await;
    assert_eq!(status, StatusCode::OK);
    let (_, renewed) = read(app.refresh(refresh_token(&pair)).await).await;
    let reused = app.refresh(refresh_token(&pair)).await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    // Five wrong codes burn a code.
    app.send_code(PHONE).await;
    let right = app.latest_code(PHONE).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        app.verify_code(PHONE, wrong).await;
    }
    let after = metrics().await;
    telemetry.flush();

    for (series_name, moved_by) in [
        ("otp_sends_total", 2.0),
        (r#"otp_verifications_total{outcome="accepted"}"#, 1.0),
        (r#"otp_verifications_total{outcome="wrong"}"#, 4.0),
        ("otp_codes_locked_total", 1.0),
        (r#"refresh_rotations_total{outcome="rotated"}"#, 1.0),
        ("refresh_reuse_detected_total", 1.0),
    ] {
        let moved = series(&after, series_name) - series(&before, series_name);
        assert!(
            moved >= moved_by,
            "{series_name} moved by {moved}, expected {moved_by}"
        );
    }
    for gauge in [
        "db_pool_connections",
        "db_pool_max_connections",
        "redis_up 1",
    ] {
        assert!(after.contains(gauge), "{gauge} is exported");
    }

    let text = logs.text();
    assert!(!text.is_empty(), "the requests were logged");
    for secret in [
        code.as_str(),
        right.as_str(),
        access(&pair),
        refresh_token(&pair),
        refresh_token(&renewed),
        PHONE,
        "13128059851",
    ] {
        assert!(
            !text.contains(secret),
            "the logs contain a secret: {secret:.12}…"
        );
    }
    assert!(text.contains("+1312*****51"), "numbers are logged masked");
    let request_lines: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| !spans.is_empty())
        })
        .collect();
    assert!(!request_lines.is_empty());
    for line in &request_lines {
        let root = &line["spans"][0];
        assert!(root["request_id"].is_string(), "{line}");
        assert_eq!(root["trace_id"].as_str().map(str::len), Some(32), "{line}");
    }

    let spans = exporter.get_finished_spans().unwrap();
    let server = spans
        .iter()
        .find(|s| s.name == "POST /api/v1/auth/refresh")
        .expect("a span per request");
    let trace_id = server.span_context.trace_id();
    let redis = spans
        .iter()
        .find(|s| s.span_context.trace_id() == trace_id && s.name == "rotate")
        .expect("Redis calls are spans of the request's trace");
    for attribute in ["request_id", "db.system"] {
        assert!(
            redis
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == attribute),
            "{attribute} on {:?}",
            redis.name
        );
    }
}
