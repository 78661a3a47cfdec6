//! The security log lines are there: with the subscriber the binary
//! installs (no span exporter, JSON lines), a phone login, a refresh-token
//! reuse and a 500 each leave their line, carrying the request's
//! `request_id` and `trace_id`, even right after database calls. A test
//! binary of its own, because it installs the process-wide subscriber.

// The shared helpers; this binary uses only some of them.
#[path = "api/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use common::testing::CapturedLogs;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use support::{TestApp, read, refresh_token, spawn_with, test_settings};

const PHONE: &str = "+13128059851";

async fn post(app: &TestApp, request_id: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("x-request-id", request_id)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn logins_reuse_and_failures_are_logged_with_their_request(pool: PgPool) {
    let logs = CapturedLogs::default();
    // What `telemetry::init` installs when no OTLP endpoint is set.
    let _telemetry = common::telemetry::install::<InMemorySpanExporter, _>(
        "auth-service",
        "test",
        None,
        logs.clone(),
        false,
    );
    let app = spawn_with(
        pool.clone(),
        test_settings(&[("OTP_RESEND_SECONDS", "0"), ("REFRESH_GRACE_SECONDS", "0")]),
    )
    .await;

    // Each of these ends with database calls right before the line is due.
    for round in 0..3 {
        app.send_code(PHONE).await;
        let code = app.latest_code(PHONE).await;
        let login = format!("login-{round}");
        let body = json!({ "phone": PHONE, "verification_code": code, "device_name": "phone" });
        let (status, pair) = read(post(&app, &login, "/api/v1/auth/verify-code", body).await).await;
        assert_eq!(status, StatusCode::OK);
        logs.assert_logged(&login, "phone login");

        let body = json!({ "refresh_token": refresh_token(&pair) });
        let rotate = format!("rotate-{round}");
        let rotated = post(&app, &rotate, "/api/v1/auth/refresh", body.clone()).await;
        assert_eq!(rotated.status(), StatusCode::OK);
        let reuse = format!("reuse-{round}");
        let replayed = post(&app, &reuse, "/api/v1/auth/refresh", body).await;
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
        logs.assert_logged(&reuse, "refresh token reuse: session revoked");
    }

    // A fault nobody planned for: the users table is gone.
    sqlx::query("ALTER TABLE users RENAME TO users_elsewhere")
        .execute(&pool)
        .await
        .unwrap();
    app.send_code(PHONE).await;
    let code = app.latest_code(PHONE).await;
    let body = json!({ "phone": PHONE, "verification_code": code, "device_name": "phone" });
    let failed = post(&app, "broken-1", "/api/v1/auth/verify-code", body).await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    logs.assert_logged("broken-1", "request failed unexpectedly");
    logs.assert_logged("broken-1", "request failed");
}
