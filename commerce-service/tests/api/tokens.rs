use std::time::{Duration, Instant};

use base64::Engine as _;
use common::keys::{DEV_ED25519_SEED_B64, ed25519_pkcs8_from_seed};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{expect_problem, read, refused_within, spawn, spawn_with};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn resign(claims: &Value) -> String {
    let seed = base64::engine::general_purpose::STANDARD
        .decode(DEV_ED25519_SEED_B64)
        .unwrap();
    let key = EncodingKey::from_ed_der(&ed25519_pkcs8_from_seed(&seed).unwrap());
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("dev-1".into());
    encode(&header, claims, &key).unwrap()
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_logged_out_session_and_a_deactivated_user_are_refused_within_the_cache_ttl(
    pool: PgPool,
) {
    let stack = spawn_with(pool, &[("STATUS_CACHE_TTL_MS", "500")]).await;
    let admin = stack.admin_token().await;
    let leaving = stack.login("+13128059851", "us").await;
    assert_eq!(
        stack.get("/api/v1/cart", &leaving.token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stack
            .auth_call(Method::POST, "/api/v1/auth/logout", &leaving.token)
            .await,
        StatusCode::NO_CONTENT
    );
    refused_within(
        &stack,
        &leaving.token,
        "token_revoked",
        Duration::from_millis(1500),
    )
    .await;

    let banned = stack.login("+13128059852", "us").await;
    assert_eq!(
        stack.get("/api/v1/cart", &banned.token).await.status(),
        StatusCode::OK
    );
    let path = format!("/api/v1/admin/users/{}/deactivate", banned.user_id);
    assert_eq!(
        stack.auth_call(Method::POST, &path, &admin).await,
        StatusCode::OK
    );
    refused_within(
        &stack,
        &banned.token,
        "user_inactive",
        Duration::from_millis(1500),
    )
    .await;
    // No write of that user succeeds afterwards.
    let write = stack
        .call(
            Method::POST,
            "/api/v1/wishlist/items",
            &banned.token,
            Some(json!({"product_id": 1})),
        )
        .await;
    expect_problem(write, 401, "user_inactive").await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn logout_all_is_refused_on_every_device(pool: PgPool) {
    let stack = spawn_with(pool, &[("STATUS_CACHE_TTL_MS", "300")]).await;
    let phone = stack.login("+13128059851", "us").await;
    let tablet = stack.login("+13128059851", "us").await;
    assert_eq!(
        stack.get("/api/v1/cart", &tablet.token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        stack
            .auth_call(Method::POST, "/api/v1/auth/logout-all", &phone.token)
            .await,
        StatusCode::NO_CONTENT
    );
    refused_within(
        &stack,
        &phone.token,
        "token_revoked",
        Duration::from_millis(1500),
    )
    .await;
    refused_within(
        &stack,
        &tablet.token,
        "token_revoked",
        Duration::from_millis(1500),
    )
    .await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_warm_cache_does_not_call_auth_service(pool: PgPool) {
    let stack = spawn_with(pool, &[("STATUS_CACHE_TTL_MS", "60000")]).await;
    let buyer = stack.login("+13128059851", "us").await;
    let before = stack.state.token_status.calls();
    let answers =
        futures::future::join_all((0..20).map(|_| stack.get("/api/v1/cart", &buyer.token))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    for _ in 0..10 {
        assert_eq!(
            stack.get("/api/v1/wishlist", &buyer.token).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        stack.state.token_status.calls() - before,
        1,
        "concurrent misses make one call, hits make none"
    );
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn with_auth_service_down_and_nothing_cached_requests_are_503_and_change_nothing(
    pool: PgPool,
) {
    let mut stack = spawn_with(pool, &[("STATUS_CACHE_TTL_MS", "100")]).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "mug", 5, json!({"us": 100}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    stack.auth.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let response = stack.add_to_cart(&buyer, item.sku_id, 1).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, 503, "auth_unavailable").await;
    let lines: i64 = sqlx::query_scalar("select count(*) from cart_items")
        .fetch_one(&stack.state.db)
        .await
        .unwrap();
    assert_eq!(lines, 0);
    // The catalog still serves, and readiness reports auth-service down without failing.
    let catalog = stack
        .client
        .get(stack.url("/api/v1/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(catalog.status(), StatusCode::OK);
    let (status, ready) = read(stack.client.get(stack.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["checks"]["auth_service"], "down");
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn local_checks_refuse_bad_tokens_before_asking_auth_service(pool: PgPool) {
    let stack = spawn(pool).await;
    let buyer = stack.login("+13128059851", "us").await;
    let before = stack.state.token_status.calls();
    let mut expired = claims_of(&buyer.token);
    expired["exp"] = json!(expired["iat"].as_i64().unwrap() - 3600);
    expect_problem(
        stack.get("/api/v1/cart", &resign(&expired)).await,
        401,
        "token_expired",
    )
    .await;
    let mut wrong_audience = claims_of(&buyer.token);
    wrong_audience["aud"] = json!("another-api");
    expect_problem(
        stack.get("/api/v1/cart", &resign(&wrong_audience)).await,
        401,
        "invalid_token",
    )
    .await;
    let tampered = format!("{}x", buyer.token);
    let response = stack.get("/api/v1/cart", &tampered).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    expect_problem(response, 401, "invalid_token").await;
    expect_problem(
        stack
            .client
            .get(stack.url("/api/v1/cart"))
            .send()
            .await
            .unwrap(),
        401,
        "missing_token",
    )
    .await;
    assert_eq!(
        stack.state.token_status.calls(),
        before,
        "no call for a token that fails locally"
    );
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn the_market_must_be_known_and_the_tokens_own(pool: PgPool) {
    let stack = spawn(pool).await;
    let buyer = stack.login("+13128059851", "in").await;
    let with_market = |market: &'static str| {
        stack
            .client
            .get(stack.url("/api/v1/cart"))
            .bearer_auth(&buyer.token)
            .header("x-market", market)
            .send()
    };
    let (status, cart) = read(with_market("in").await.unwrap()).await;
    assert_eq!(
        (status, cart["market"].as_str()),
        (StatusCode::OK, Some("in"))
    );
    expect_problem(with_market("us").await.unwrap(), 403, "market_mismatch").await;
    expect_problem(with_market("zz").await.unwrap(), 400, "unknown_market").await;
    expect_problem(with_market("!!").await.unwrap(), 400, "unknown_market").await;
}

/// A peer that accepts connections and never answers, as a hung
/// auth-service does; keeps every connection open until dropped.
async fn hanging_peer() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_hung_auth_service_opens_the_breaker_and_misses_are_refused_without_waiting(
    pool: PgPool,
) {
    let stack = spawn(pool).await;
    let buyers = [
        stack.login("+13128059851", "us").await,
        stack.login("+13128059852", "us").await,
        stack.login("+13128059853", "us").await,
    ];
    let (hung_url, hung) = hanging_peer().await;
    let settings = crate::support::settings(
        &hung_url,
        &[
            ("AUTH_TIMEOUT_MS", "200"),
            ("AUTH_BREAKER_FAILURES", "2"),
            ("AUTH_BREAKER_OPEN_MS", "60000"),
        ],
    );
    let state = commerce_service::AppState::with_pool(settings, stack.state.db.clone()).unwrap();
    let base = crate::support::serve(state.clone()).await;
    for buyer in &buyers {
        let response = stack
            .client
            .get(format!("{base}/api/v1/cart"))
            .bearer_auth(&buyer.token)
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("retry-after"));
        expect_problem(response, 503, "auth_unavailable").await;
    }
    assert_eq!(
        state.token_status.calls(),
        2,
        "the third miss is refused by the open breaker without a call"
    );
    hung.abort();
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn with_several_auth_replicas_one_down_or_hung_costs_no_answer(pool: PgPool) {
    let stack = spawn(pool).await;
    let buyers = [
        stack.login("+13128059851", "us").await,
        stack.login("+13128059852", "us").await,
        stack.login("+13128059853", "us").await,
        stack.login("+13128059854", "us").await,
    ];
    // Three replicas listed: one refuses connections, one hangs, one lives.
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let (hung_url, hung) = hanging_peer().await;
    let auth_urls = format!("{refused},{hung_url}, {}/", stack.auth.base);
    let settings = crate::support::settings(
        &auth_urls,
        &[
            ("AUTH_TIMEOUT_MS", "300"),
            ("AUTH_BREAKER_FAILURES", "2"),
            ("STATUS_CACHE_TTL_MS", "0"),
        ],
    );
    let state = commerce_service::AppState::with_pool(settings, stack.state.db.clone()).unwrap();
    let base = crate::support::serve(state.clone()).await;
    // Round robin starts each call at another replica; every call ends at
    // the live one, and the breaker never opens.
    for buyer in buyers.iter().chain(buyers.iter()) {
        let response = stack
            .client
            .get(format!("{base}/api/v1/cart"))
            .bearer_auth(&buyer.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(state.token_status.calls(), 8);
    let (status, ready) = read(
        stack
            .client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["checks"]["auth_service"], "up", "{ready}");
    hung.abort();
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn the_series_operators_alert_on_exist_before_anything_happens(pool: PgPool) {
    let stack = spawn(pool).await;
    let text = common::testing::scrape(&stack.client, &stack.base).await;
    for series in [
        r#"checkouts_total{outcome="out_of_stock"}"#,
        r#"status_cache_requests_total{result="miss"}"#,
        r#"auth_status_calls_total{outcome="breaker_open"}"#,
        r#"order_transitions_total{to="cancelled"}"#,
        "orders_expired_total",
        "auth_status_breaker_open",
    ] {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("{series} "))),
            "{series} is missing from the first scrape"
        );
    }
}
