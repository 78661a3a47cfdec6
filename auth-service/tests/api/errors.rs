use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_service::AppState;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{
    INTERNAL_TOKEN, expect_problem, read, serve, spawn, spawn_with, test_settings,
};

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn malformed_bodies_get_clear_problems_never_a_500(pool: PgPool) {
    let app = spawn(pool).await;
    let url = app.url("/api/v1/auth/send-code");
    let raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    expect_problem(
        raw("{\"phone\": ", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    expect_problem(
        raw("not json", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    expect_problem(
        raw("phone=1", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    expect_problem(
        raw("{\"phone\": \"+13128059851\"}", "text/plain")
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let body = expect_problem(
        raw("{}", "application/json").await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "phone");
    let body = expect_problem(
        raw("{\"phone\": 13128059851}", "application/json")
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "phone");
    expect_problem(
        raw("[]", "application/json").await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let response = app.client.post(&url).send().await.unwrap();
    expect_problem(response, 415, "unsupported_media_type").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn bodies_over_64_kib_are_413_even_before_authentication(pool: PgPool) {
    let app = spawn(pool).await;
    let big = json!({ "phone": "x".repeat(70 * 1024) });
    expect_problem(
        app.post("/api/v1/auth/send-code", big.clone()).await,
        413,
        "payload_too_large",
    )
    .await;
    expect_problem(
        app.post("/api/v1/admin/users", big).await,
        413,
        "payload_too_large",
    )
    .await;
    // A streamed body without a declared length hits the same limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..70).map(|_| Ok(vec![b' '; 1024])).collect();
    let response = app
        .client
        .post(app.url("/api/v1/auth/send-code"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    expect_problem(response, 413, "payload_too_large").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn request_ids_are_kept_when_valid_generated_otherwise_and_in_every_error(pool: PgPool) {
    let app = spawn(pool).await;
    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "app-req.42_x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "app-req.42_x");
    let body = expect_problem(response, 404, "not_found").await;
    assert_eq!(body["request_id"], "app-req.42_x");

    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id!")
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!generated.is_empty() && generated != "bad id!");

    let response = app
        .client
        .delete(app.url("/api/v1/auth/send-code"))
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = expect_problem(response, 405, "method_not_allowed").await;
    assert_eq!(body["request_id"], id);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn internal_endpoints_want_the_service_secret(pool: PgPool) {
    let app = spawn(pool).await;
    let body = json!({"user_id": 1, "session_id": uuid::Uuid::new_v4(), "issued_at": 0});
    let url = app.url("/internal/v1/token-status");
    expect_problem(
        app.client.post(&url).json(&body).send().await.unwrap(),
        401,
        "missing_token",
    )
    .await;
    let wrong = app
        .client
        .post(&url)
        .bearer_auth("dev-internal-tokeN")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(wrong, 401, "invalid_token").await;
    let (status, answer) = read(
        app.client
            .post(&url)
            .bearer_auth(INTERNAL_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"active": false, "reason": "user_inactive", "user_active": false})
    );
    let outbox = app
        .client
        .get(app.url("/internal/v1/dev/sms-outbox?phone=%2B13128059851"))
        .send()
        .await
        .unwrap();
    expect_problem(outbox, 401, "missing_token").await;
}

/// A stand-in SMS gateway that records what it is sent and answers `status`.
async fn sms_gateway(status: StatusCode) -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/sms",
        post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn the_webhook_provider_posts_the_code_and_there_is_no_dev_outbox(pool: PgPool) {
    let (url, received) = sms_gateway(StatusCode::OK).await;
    let app = spawn_with(
        pool,
        test_settings(&[("SMS_PROVIDER", "webhook"), ("SMS_WEBHOOK_URL", &url)]),
    )
    .await;
    assert_eq!(
        app.send_code("+13128059851").await.status(),
        StatusCode::ACCEPTED
    );
    let message = received.lock().unwrap()[0].clone();
    assert_eq!(message["to"], "+13128059851");
    let code = message["code"].as_str().unwrap().to_owned();
    assert_eq!(
        app.verify_code("+13128059851", &code).await.status(),
        StatusCode::OK
    );
    let outbox = app
        .client
        .get(app.url("/internal/v1/dev/sms-outbox?phone=%2B13128059851"))
        .bearer_auth(INTERNAL_TOKEN)
        .send()
        .await
        .unwrap();
    expect_problem(outbox, 404, "not_found").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn the_twilio_provider_posts_the_message_form_with_basic_auth(pool: PgPool) {
    let received = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let sink = received.clone();
    let fake = axum::Router::new().route(
        "/2010-04-01/Accounts/AC123/Messages.json",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let auth = headers["authorization"].to_str().unwrap().to_owned();
                sink.lock().unwrap().push((auth, body));
                (StatusCode::CREATED, "{}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, fake).await.unwrap() });
    let settings = test_settings(&[
        ("SMS_PROVIDER", "twilio"),
        ("TWILIO_ACCOUNT_SID", "AC123"),
        ("TWILIO_AUTH_TOKEN", "twilio-secret"),
        ("TWILIO_FROM", "+15005550006"),
        ("TWILIO_BASE_URL", &base),
    ]);
    let app = spawn_with(pool, settings).await;
    assert_eq!(
        app.send_code("+13128059851").await.status(),
        StatusCode::ACCEPTED
    );
    let (auth, form) = received.lock().unwrap()[0].clone();
    use base64::Engine as _;
    assert_eq!(
        auth,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("AC123:twilio-secret")
        )
    );
    assert!(form.contains("To=%2B13128059851"), "{form}");
    assert!(form.contains("From=%2B15005550006"), "{form}");
    let code: String = form
        .split("Body=")
        .nth(1)
        .unwrap()
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(code.len(), 6, "{form}");
    assert_eq!(
        app.verify_code("+13128059851", &code).await.status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_failing_sms_provider_is_retried_then_503(pool: PgPool) {
    let (url, received) = sms_gateway(StatusCode::BAD_GATEWAY).await;
    let app = spawn_with(
        pool,
        test_settings(&[
            ("SMS_PROVIDER", "webhook"),
            ("SMS_WEBHOOK_URL", &url),
            ("SMS_WEBHOOK_RETRIES", "2"),
        ]),
    )
    .await;
    let response = app.send_code("+13128059851").await;
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, 503, "dependency_unavailable").await;
    assert_eq!(received.lock().unwrap().len(), 3);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn redis_down_is_a_quick_503_with_retry_after_and_not_ready(pool: PgPool) {
    // Port 1 on loopback: nothing listens, connections are refused.
    let settings = test_settings(&[("REDIS_URL", "redis://127.0.0.1:1")]);
    let app = spawn_with(pool, settings).await;
    let started = Instant::now();
    let response = app.send_code("+13128059851").await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, 503, "dependency_unavailable").await;
    let (status, body) = read(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["redis"], "down");
    assert_eq!(body["checks"]["database"], "up");
}

#[tokio::test]
async fn postgres_down_is_a_quick_503_with_retry_after() {
    let settings = test_settings(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/auth")]);
    let state = AppState::connect(settings).unwrap();
    let app = serve(state).await;
    let started = Instant::now();
    let response = app
        .login_password("ops@example.com", "a-long-password")
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    expect_problem(response, 503, "dependency_unavailable").await;
    let (status, body) = read(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"]["database"], "down");
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn health_readiness_openapi_and_metrics_are_served(pool: PgPool) {
    let app = spawn(pool).await;
    let (status, _) = read(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, ready) = read(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    let (status, openapi) = read(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/auth/send-code",
        "/api/v1/auth/verify-code",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout-all",
        "/api/v1/auth/me",
        "/api/v1/auth/password",
        "/api/v1/auth/sessions",
        "/api/v1/auth/sessions/{id}",
        "/api/v1/admin/users",
        "/api/v1/admin/users/{id}/deactivate",
        "/api/v1/admin/users/{id}/activate",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} is documented");
    }
    app.send_code("+13128059851").await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains(r#"route="/api/v1/auth/send-code""#));
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.contains("otp_sends_total"));
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn the_series_operators_alert_on_exist_before_anything_happens(pool: PgPool) {
    let app = crate::support::spawn(pool).await;
    let text = common::testing::scrape(&app.client, &app.base).await;
    for series in [
        r#"refresh_rotations_total{outcome="reused"}"#,
        r#"refresh_rotations_total{outcome="rotated"}"#,
        r#"otp_verifications_total{outcome="locked"}"#,
        r#"otp_sends_refused_total{reason="otp-number"}"#,
        r#"password_logins_total{outcome="invalid"}"#,
        "refresh_reuse_detected_total",
    ] {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("{series} "))),
            "{series} is missing from the first scrape"
        );
    }
}

/// Text PostgreSQL cannot store (a NUL) is refused at the edge, in a body
/// or in a query, naming its field; nothing is written.
#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_nul_in_any_text_is_a_validation_failure(pool: PgPool) {
    let app = spawn(pool).await;
    let phone = "+13128059851";
    assert_eq!(app.send_code(phone).await.status(), StatusCode::ACCEPTED);
    let code = app.latest_code(phone).await;
    let response = app
        .post(
            "/api/v1/auth/verify-code",
            json!({"phone": phone, "verification_code": code, "device_name": "Pixel\u{0}"}),
        )
        .await;
    let problem = expect_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "device_name", "{problem}");
    // The code was not spent on the refused request.
    let (status, _) = read(app.verify_code(phone, &code).await).await;
    assert_eq!(status, StatusCode::OK);

    let admin = app.admin_token().await;
    for (query, field) in [
        ("email=%00", "email"),
        ("phone=%2B1312%00", "phone"),
        ("page=1&email=ops%FF%40example.com", "email"),
    ] {
        let response = app
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/admin/users?{query}"),
                &admin,
                None,
            )
            .await;
        let problem = expect_problem(response, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
}

#[test]
fn the_typescript_clients_copy_of_the_openapi_document_is_current() {
    common::testing::assert_openapi_committed(
        &auth_service::routes::openapi_document(),
        "auth-service",
    );
}
