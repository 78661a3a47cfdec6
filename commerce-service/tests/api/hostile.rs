//! Odd but ordinary input, as bots send every day: each class gets a clear
//! 4xx problem+json naming what is wrong, never a 500, and nothing is
//! written.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{expect_problem, read, spawn, spawn_with};

/// Text PostgreSQL cannot store (a NUL) is refused before any query runs.
#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_nul_in_a_query_parameter_is_a_validation_failure(pool: PgPool) {
    let stack = spawn(pool).await;
    for query in ["q=%00", "q=mug%00", "q=%FF%FE", "page=1&q=%C3%28"] {
        let response = stack
            .client
            .get(stack.url(&format!("/api/v1/products?{query}")))
            .header("x-market", "us")
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "q", "{query}: {problem}");
    }
    // Ordinary text still searches.
    let response = stack
        .client
        .get(stack.url("/api/v1/products?q=caf%C3%A9"))
        .header("x-market", "us")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_nul_in_a_body_is_refused_and_nothing_changes(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "mug", 5, json!({"us": 1250}))
        .await;
    let path = format!("/api/v1/admin/products/{}", item.product_id);
    let response = stack
        .call(
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"name": "Mug\u{0}", "description": "fine"})),
        )
        .await;
    let problem = expect_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "name", "{problem}");
    let (_, product) = read(stack.get(&path, &admin).await).await;
    assert_eq!(
        (product["name"].as_str(), product["description"].as_str()),
        (Some("Product mug"), Some("A thing"))
    );
}

/// JSON is UTF-8: a string holding other bytes is a malformed body.
#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn invalid_utf8_inside_a_json_string_is_malformed(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "mug", 5, json!({"us": 1250}))
        .await;
    let path = format!("/api/v1/admin/products/{}", item.product_id);
    // In a field the service reads, and in one it would otherwise skip.
    for body in [
        &b"{\"name\": \"Caf\xe9 mug\"}"[..],
        b"{\"name\": \"Renamed\", \"note\": \"caf\xe9\"}",
    ] {
        let response = stack
            .client
            .patch(stack.url(&path))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_problem(response, 400, "malformed_json").await;
    }
    let (_, product) = read(stack.get(&path, &admin).await).await;
    assert_eq!(product["name"], "Product mug");
}

/// Syntax before shape: broken JSON is `400` even after unknown fields.
#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn broken_json_is_malformed_whatever_precedes_the_fault(pool: PgPool) {
    let stack = spawn(pool).await;
    let buyer = stack.login("+13128059851", "us").await;
    for body in [&br#"{"a":1,}"#[..], br#"{"phone": "#, br#"{"note": "x", "#] {
        let response = stack
            .client
            .post(stack.url("/api/v1/orders"))
            .bearer_auth(&buyer.token)
            .header("idempotency-key", "broken-json-1")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_problem(response, 400, "malformed_json").await;
    }
    assert_eq!(stack.order_count().await, 0);
}

/// Validation before existence: an id that cannot name anything is `422`.
#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn body_ids_must_be_positive_integers(pool: PgPool) {
    let stack = spawn(pool).await;
    let buyer = stack.login("+13128059851", "us").await;
    for sku_id in [0, -5] {
        let problem = expect_problem(
            stack.add_to_cart(&buyer, sku_id, 1).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "sku_id", "{problem}");
    }
    let response = stack
        .call(
            Method::POST,
            "/api/v1/wishlist/items",
            &buyer.token,
            Some(json!({"product_id": 0})),
        )
        .await;
    let problem = expect_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "product_id", "{problem}");
    // A positive id that names nothing is still `404`.
    expect_problem(
        stack.add_to_cart(&buyer, 999_999, 1).await,
        404,
        "not_found",
    )
    .await;
}

/// After a reactivation, the user's old tokens are refused for what
/// auth-service now says (their sessions ended with the deactivation),
/// within the cache's bound, not for a reason that no longer holds.
#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_reactivated_users_old_token_is_refused_as_revoked_not_inactive(pool: PgPool) {
    let stack = spawn_with(pool, &[("STATUS_CACHE_TTL_MS", "500")]).await;
    let admin = stack.admin_token().await;
    let buyer = stack.login("+13128059851", "us").await;
    let user = format!("/api/v1/admin/users/{}", buyer.user_id);
    assert_eq!(
        stack
            .auth_call(Method::POST, &format!("{user}/deactivate"), &admin)
            .await,
        StatusCode::OK
    );
    expect_problem(
        stack.get("/api/v1/cart", &buyer.token).await,
        401,
        "user_inactive",
    )
    .await;
    assert_eq!(
        stack
            .auth_call(Method::POST, &format!("{user}/activate"), &admin)
            .await,
        StatusCode::OK
    );
    let started = Instant::now();
    loop {
        let (status, problem) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
        if problem["code"] == "token_revoked" {
            break;
        }
        assert_eq!(problem["code"], "user_inactive", "{problem}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "still user_inactive {:?} after the reactivation",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
