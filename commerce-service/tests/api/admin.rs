use std::time::{Duration, Instant};

use commerce_service::AppState;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{expect_problem, read, serve, settings, spawn};

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn admin_routes_refuse_customers(pool: PgPool) {
    let stack = spawn(pool).await;
    let customer = stack.login("+13128059851", "us").await;
    let routes = [
        (Method::POST, "/api/v1/admin/products"),
        (Method::PATCH, "/api/v1/admin/products/1"),
        (Method::PUT, "/api/v1/admin/skus/1/stock"),
        (Method::PUT, "/api/v1/admin/skus/1/prices/us"),
        (Method::GET, "/api/v1/admin/orders"),
        (Method::POST, "/api/v1/admin/orders/1/status"),
        (Method::GET, "/api/v1/admin/products"),
        (Method::GET, "/api/v1/admin/orders/1"),
        (Method::POST, "/api/v1/admin/products/1/skus"),
    ];
    for (method, path) in routes {
        let body = (method != Method::GET).then(|| json!({}));
        expect_problem(
            stack
                .call(method.clone(), path, &customer.token, body)
                .await,
            403,
            "forbidden",
        )
        .await;
        expect_problem(
            stack
                .client
                .request(method, stack.url(path))
                .send()
                .await
                .unwrap(),
            401,
            "missing_token",
        )
        .await;
    }
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn products_are_validated_and_unique(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let bad = json!({
        "slug": "Not A Slug", "name": "", "skus": [
            {"code": "a", "stock": -1, "prices": {"mars": 100}},
            {"code": "a", "attributes": [1], "stock": 1, "prices": {"us": -5}},
        ],
    });
    let body = expect_problem(
        stack
            .call(Method::POST, "/api/v1/admin/products", &admin, Some(bad))
            .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "slug",
        "name",
        "skus[0].stock",
        "skus[0].prices.mars",
        "skus[1].code",
        "skus[1].attributes",
        "skus[1].prices.us",
    ] {
        assert!(
            fields.contains(&expected.to_owned()),
            "{expected} in {fields:?}"
        );
    }
    stack
        .create_item(&admin, "lamp", 1, json!({"us": 100}))
        .await;
    let again = json!({"slug": "lamp", "name": "Lamp", "skus": [{"code": "other", "stock": 1, "prices": {}}]});
    expect_problem(
        stack
            .call(Method::POST, "/api/v1/admin/products", &admin, Some(again))
            .await,
        409,
        "slug_taken",
    )
    .await;
    let same_code = json!({"slug": "lamp-2", "name": "Lamp", "skus": [{"code": "lamp-sku", "stock": 1, "prices": {}}]});
    expect_problem(
        stack
            .call(
                Method::POST,
                "/api/v1/admin/products",
                &admin,
                Some(same_code),
            )
            .await,
        409,
        "sku_code_taken",
    )
    .await;
    let count: i64 = sqlx::query_scalar("select count(*) from products")
        .fetch_one(&stack.state.db)
        .await
        .unwrap();
    assert_eq!(count, 1, "a refused product leaves nothing behind");
}

/// Two admins creating products whose SKU codes overlap, listed in
/// opposite orders, at the same time: one product gets each code and the
/// other answers `409 sku_code_taken`; never a deadlock answered `500`.
#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn concurrent_products_with_overlapping_codes_never_deadlock(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let product = |slug: String, codes: [&str; 3]| {
        json!({
            "slug": slug, "name": "Race",
            "skus": codes.map(|code| json!({"code": code, "stock": 1, "prices": {"us": 100}})),
        })
    };
    for round in 0..15 {
        let codes = [0, 1, 2].map(|n| format!("race-{round}-{n}"));
        let [a, b, c] = [codes[0].as_str(), codes[1].as_str(), codes[2].as_str()];
        let (first, second) = tokio::join!(
            stack.call(
                Method::POST,
                "/api/v1/admin/products",
                &admin,
                Some(product(format!("race-{round}-up"), [a, b, c]))
            ),
            stack.call(
                Method::POST,
                "/api/v1/admin/products",
                &admin,
                Some(product(format!("race-{round}-down"), [c, b, a]))
            ),
        );
        let mut statuses = vec![first.status().as_u16(), second.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
    }
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn admins_change_products_stock_and_prices(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "lamp", 1, json!({"us": 100}))
        .await;
    let (status, product) = read(
        stack
            .call(
                Method::PATCH,
                &format!("/api/v1/admin/products/{}", item.product_id),
                &admin,
                Some(json!({"name": "Desk lamp", "description": "Bright"})),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (product["name"].as_str(), product["description"].as_str()),
        (Some("Desk lamp"), Some("Bright"))
    );
    let (_, sku) = read(
        stack
            .call(
                Method::PUT,
                &format!("/api/v1/admin/skus/{}/stock", item.sku_id),
                &admin,
                Some(json!({"stock": 42})),
            )
            .await,
    )
    .await;
    assert_eq!(sku["stock"], 42);
    let (_, sku) = read(
        stack
            .call(
                Method::PUT,
                &format!("/api/v1/admin/skus/{}/prices/in", item.sku_id),
                &admin,
                Some(json!({"amount_minor": 9900})),
            )
            .await,
    )
    .await;
    assert_eq!(sku["prices"], json!({"us": 100, "in": 9900}));
    let stock_path = format!("/api/v1/admin/skus/{}/stock", item.sku_id);
    expect_problem(
        stack
            .call(Method::PUT, &stock_path, &admin, Some(json!({"stock": -1})))
            .await,
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        stack
            .call(
                Method::PUT,
                "/api/v1/admin/skus/999999/stock",
                &admin,
                Some(json!({"stock": 1})),
            )
            .await,
        404,
        "not_found",
    )
    .await;
    let mars = format!("/api/v1/admin/skus/{}/prices/mars", item.sku_id);
    expect_problem(
        stack
            .call(Method::PUT, &mars, &admin, Some(json!({"amount_minor": 1})))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        stack
            .call(
                Method::PATCH,
                "/api/v1/admin/products/999999",
                &admin,
                Some(json!({"name": "x"})),
            )
            .await,
        404,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn malformed_requests_get_problems_in_the_settled_order(pool: PgPool) {
    let stack = spawn(pool).await;
    let buyer = stack.login("+13128059851", "us").await;
    let raw = |body: &'static str, content_type: &'static str| {
        stack
            .client
            .post(stack.url("/api/v1/cart/items"))
            .bearer_auth(&buyer.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    expect_problem(
        raw("{\"sku_id\": 1,", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    expect_problem(
        raw("sku_id=1", "text/plain").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let body = expect_problem(
        raw("{\"quantity\": 1}", "application/json").await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "sku_id");
    let big = json!({"sku_id": 1, "quantity": 1, "pad": "x".repeat(70 * 1024)});
    // 413 comes before authentication.
    let oversized = stack
        .client
        .post(stack.url("/api/v1/cart/items"))
        .json(&big)
        .send()
        .await
        .unwrap();
    expect_problem(oversized, 413, "payload_too_large").await;
    // 401 comes before the market and the body.
    let anonymous = stack
        .client
        .post(stack.url("/api/v1/cart/items"))
        .header("x-market", "zz")
        .body("nope")
        .send()
        .await
        .unwrap();
    expect_problem(anonymous, 401, "missing_token").await;
    let unknown_then_bad_body = stack
        .client
        .post(stack.url("/api/v1/cart/items"))
        .bearer_auth(&buyer.token)
        .header("x-market", "zz")
        .body("nope")
        .send()
        .await
        .unwrap();
    expect_problem(unknown_then_bad_body, 400, "unknown_market").await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn health_openapi_and_metrics_are_served(pool: PgPool) {
    let stack = spawn(pool).await;
    let (status, ready) = read(stack.client.get(stack.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ready["checks"],
        json!({"database": "up", "auth_service": "up"})
    );
    let (_, openapi) = read(
        stack
            .client
            .get(stack.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for path in [
        "/api/v1/markets",
        "/api/v1/products",
        "/api/v1/products/{id}",
        "/api/v1/cart",
        "/api/v1/cart/items",
        "/api/v1/cart/items/{sku_id}",
        "/api/v1/wishlist",
        "/api/v1/wishlist/items",
        "/api/v1/wishlist/items/{product_id}",
        "/api/v1/orders",
        "/api/v1/orders/{id}",
        "/api/v1/orders/{id}/cancel",
        "/api/v1/admin/products",
        "/api/v1/admin/products/{id}",
        "/api/v1/admin/skus/{id}/stock",
        "/api/v1/admin/skus/{id}/prices/{market}",
        "/api/v1/admin/orders",
        "/api/v1/admin/orders/{id}/status",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} is documented");
    }
    let buyer = stack.login("+13128059851", "us").await;
    stack.get("/api/v1/cart", &buyer.token).await;
    let metrics = stack
        .client
        .get(stack.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"route="/api/v1/cart""#), "{metrics}");
    assert!(metrics.contains("status_cache_requests_total"));

    // On SIGTERM readiness flips first, so traffic moves away before the drain.
    stack.state.lifecycle.begin_stopping();
    let (status, ready) = read(stack.client.get(stack.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(
        (status, ready["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("stopping"))
    );
    assert_eq!(
        stack.get("/api/v1/cart", &buyer.token).await.status(),
        StatusCode::OK,
        "requests are still served"
    );
}

#[tokio::test]
async fn postgres_down_is_a_quick_503_with_retry_after() {
    let state = AppState::connect(settings(
        "http://127.0.0.1:1",
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/commerce")],
    ))
    .unwrap();
    let base = serve(state).await;
    let started = Instant::now();
    let response = reqwest::get(format!("{base}/api/v1/products"))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, 503, "dependency_unavailable").await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}
