use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{expect_problem, read, spawn, spawn_with};

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn twenty_buyers_racing_for_the_last_unit_make_exactly_one_order(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "last-one", 1, json!({"us": 1999}))
        .await;
    let mut buyers = Vec::new();
    for n in 0..20 {
        let buyer = stack.login(&format!("+1312805{:04}", 1000 + n), "us").await;
        assert_eq!(
            stack.add_to_cart(&buyer, item.sku_id, 1).await.status(),
            StatusCode::OK
        );
        buyers.push(buyer);
    }
    let answers =
        futures::future::join_all(buyers.iter().map(|b| stack.checkout(b, "buy-it"))).await;
    let mut created = 0;
    for response in answers {
        match response.status() {
            StatusCode::CREATED => created += 1,
            _ => {
                let body = expect_problem(response, 409, "out_of_stock").await;
                assert_eq!(body["skus"], json!([item.sku_id]));
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(stack.stock_of(item.sku_id).await, 0);
    assert_eq!(stack.order_count().await, 1);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn ten_concurrent_checkouts_with_one_key_make_one_order(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "shirt", 50, json!({"us": 2500}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    stack.add_to_cart(&buyer, item.sku_id, 3).await;
    let answers = futures::future::join_all((0..10).map(|_| stack.checkout(&buyer, "key-1"))).await;
    let mut ids = std::collections::HashSet::new();
    let mut statuses = Vec::new();
    for response in answers {
        let replayed = response.headers().get("idempotent-replayed").is_some();
        let (status, order) = read(response).await;
        assert!(
            status == StatusCode::CREATED || (status == StatusCode::OK && replayed),
            "{status} {order}"
        );
        statuses.push(status);
        ids.insert(order["id"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(stack.order_count().await, 1);
    assert_eq!(stack.stock_of(item.sku_id).await, 47);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_checkout_snapshots_lines_empties_the_cart_and_replays(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let shirt = stack
        .create_item(&admin, "shirt", 10, json!({"us": 2500}))
        .await;
    let hat = stack
        .create_item(&admin, "hat", 10, json!({"us": 999}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    stack.add_to_cart(&buyer, shirt.sku_id, 2).await;
    stack.add_to_cart(&buyer, hat.sku_id, 1).await;
    let address = json!({"name": "Ada", "line1": "1 Main St", "city": "Chicago", "postal_code": "60601", "country": "us"});
    let response = stack
        .client
        .post(stack.url("/api/v1/orders"))
        .bearer_auth(&buyer.token)
        .header("idempotency-key", "first")
        .json(&json!({"note": "gift", "shipping_address": address}))
        .send()
        .await
        .unwrap();
    let (status, order) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["market"], "us");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["subtotal_minor"], 2 * 2500 + 999);
    assert_eq!(order["total_minor"], order["subtotal_minor"]);
    assert_eq!(order["note"], "gift");
    assert_eq!(order["shipping_address"]["country"], "US");
    assert!(order["order_number"].as_str().unwrap().starts_with("SO-"));
    assert_eq!(order["items"].as_array().unwrap().len(), 2);
    assert_eq!(order["status_history"][0]["status"], "pending");
    let line = order["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku_id"] == shirt.sku_id)
        .unwrap()
        .clone();
    assert_eq!(
        (
            line["quantity"].as_i64(),
            line["unit_price_minor"].as_i64(),
            line["line_total_minor"].as_i64()
        ),
        (Some(2), Some(2500), Some(5000))
    );

    let (_, stored) = read(
        stack
            .get(&format!("/api/v1/orders/{}", order["id"]), &buyer.token)
            .await,
    )
    .await;
    assert_eq!(stored, order, "the checkout answers the order as stored");

    let (_, cart) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    assert_eq!(cart["items"], json!([]));
    assert_eq!(cart["item_count"], 0);

    // Renaming and repricing later does not touch the order's snapshot.
    stack
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{}", shirt.product_id),
            &admin,
            Some(json!({"name": "Renamed"})),
        )
        .await;
    stack
        .call(
            Method::PUT,
            &format!("/api/v1/admin/skus/{}/prices/us", shirt.sku_id),
            &admin,
            Some(json!({"amount_minor": 1})),
        )
        .await;
    let replay = stack.checkout(&buyer, "first").await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let (status, replayed) = read(replay).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replayed["id"], order["id"]);
    assert_eq!(replayed["items"], order["items"]);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_key_reused_for_a_different_cart_is_a_conflict_and_failures_leave_keys_free(
    pool: PgPool,
) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let scarce = stack
        .create_item(&admin, "scarce", 1, json!({"us": 100}))
        .await;
    let plenty = stack
        .create_item(&admin, "plenty", 100, json!({"us": 100}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;

    // A failed checkout (409) binds nothing: the key stays usable.
    stack.add_to_cart(&buyer, scarce.sku_id, 2).await;
    expect_problem(stack.checkout(&buyer, "k").await, 409, "out_of_stock").await;
    stack
        .call(
            Method::DELETE,
            &format!("/api/v1/cart/items/{}", scarce.sku_id),
            &buyer.token,
            None,
        )
        .await;
    stack.add_to_cart(&buyer, plenty.sku_id, 1).await;
    assert_eq!(
        stack.checkout(&buyer, "k").await.status(),
        StatusCode::CREATED
    );

    // The same lines again replay; different lines conflict.
    stack.add_to_cart(&buyer, plenty.sku_id, 1).await;
    assert_eq!(stack.checkout(&buyer, "k").await.status(), StatusCode::OK);
    stack.add_to_cart(&buyer, plenty.sku_id, 1).await;
    expect_problem(
        stack.checkout(&buyer, "k").await,
        409,
        "idempotency_conflict",
    )
    .await;
    assert_eq!(stack.order_count().await, 1);
    // Keys are per user: another user may use the same key.
    let other = stack.login("+13128059852", "us").await;
    stack.add_to_cart(&other, plenty.sku_id, 1).await;
    assert_eq!(
        stack.checkout(&other, "k").await.status(),
        StatusCode::CREATED
    );
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn out_of_stock_changes_neither_cart_nor_stock(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let fine = stack
        .create_item(&admin, "fine", 10, json!({"us": 100}))
        .await;
    let short = stack
        .create_item(&admin, "short", 1, json!({"us": 100}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    stack.add_to_cart(&buyer, fine.sku_id, 2).await;
    stack.add_to_cart(&buyer, short.sku_id, 3).await;
    let (_, before) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    let body = expect_problem(stack.checkout(&buyer, "a").await, 409, "out_of_stock").await;
    assert_eq!(body["skus"], json!([short.sku_id]));
    let (_, after) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    assert_eq!(before, after);
    assert_eq!(
        (
            stack.stock_of(fine.sku_id).await,
            stack.stock_of(short.sku_id).await
        ),
        (10, 1)
    );
    assert_eq!(stack.order_count().await, 0);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn lines_that_can_no_longer_be_sold_are_unavailable(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "retired", 10, json!({"us": 100}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    stack.add_to_cart(&buyer, item.sku_id, 1).await;
    let response = stack
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{}", item.product_id),
            &admin,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, cart) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    assert_eq!(cart["items"][0]["available"], false);
    assert_eq!(cart["subtotal_minor"], 0);
    let body = expect_problem(stack.checkout(&buyer, "a").await, 409, "unavailable").await;
    assert_eq!(body["skus"], json!([item.sku_id]));
    assert_eq!(stack.stock_of(item.sku_id).await, 10);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn an_empty_cart_and_bad_keys_or_addresses_are_refused(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "thing", 10, json!({"us": 100}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    expect_problem(stack.checkout(&buyer, "a").await, 422, "cart_empty").await;
    stack.add_to_cart(&buyer, item.sku_id, 1).await;
    let no_key = stack
        .call(
            Method::POST,
            "/api/v1/orders",
            &buyer.token,
            Some(json!({})),
        )
        .await;
    expect_problem(no_key, 400, "missing_idempotency_key").await;
    expect_problem(
        stack.checkout(&buyer, &"k".repeat(256)).await,
        400,
        "invalid_idempotency_key",
    )
    .await;
    let bad_address = stack
        .client
        .post(stack.url("/api/v1/orders"))
        .bearer_auth(&buyer.token)
        .header("idempotency-key", "b")
        .json(&json!({"shipping_address": {"name": "", "line1": "x", "city": "y", "postal_code": "1", "country": "USA"}}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(bad_address, 422, "validation_failed").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    // No body at all is a checkout without note or address.
    let bare = stack
        .client
        .post(stack.url("/api/v1/orders"))
        .bearer_auth(&buyer.token)
        .header("idempotency-key", "c")
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::CREATED);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_user_holds_at_most_the_configured_pending_orders(pool: PgPool) {
    let stack = spawn_with(pool, &[("MAX_PENDING_ORDERS", "2")]).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "thing", 10, json!({"us": 100}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    for key in ["1", "2"] {
        stack.add_to_cart(&buyer, item.sku_id, 1).await;
        assert_eq!(
            stack.checkout(&buyer, key).await.status(),
            StatusCode::CREATED
        );
    }
    stack.add_to_cart(&buyer, item.sku_id, 1).await;
    expect_problem(
        stack.checkout(&buyer, "3").await,
        409,
        "too_many_pending_orders",
    )
    .await;
    assert_eq!(stack.stock_of(item.sku_id).await, 8);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn one_customers_pending_orders_hold_at_most_the_configured_units_of_a_sku(pool: PgPool) {
    let stack = spawn_with(pool, &[("MAX_HELD_UNITS_PER_SKU", "5")]).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "scarce", 100, json!({"us": 100}))
        .await;
    let other = stack
        .create_item(&admin, "plenty", 100, json!({"us": 100}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    stack.add_to_cart(&buyer, item.sku_id, 3).await;
    let (status, first) = read(stack.checkout(&buyer, "1").await).await;
    assert_eq!(status, StatusCode::CREATED);
    // Three held, three more asked for: over five, and the answer names the SKU.
    stack.add_to_cart(&buyer, item.sku_id, 3).await;
    stack.add_to_cart(&buyer, other.sku_id, 1).await;
    let body = expect_problem(stack.checkout(&buyer, "2").await, 409, "held_units_limit").await;
    assert_eq!(body["skus"], json!([item.sku_id]));
    assert_eq!(stack.stock_of(item.sku_id).await, 97, "nothing taken");
    // Up to the cap is fine.
    stack
        .call(
            Method::PUT,
            &format!("/api/v1/cart/items/{}", item.sku_id),
            &buyer.token,
            Some(json!({"quantity": 2})),
        )
        .await;
    assert_eq!(
        stack.checkout(&buyer, "3").await.status(),
        StatusCode::CREATED
    );

    // Admins see what pending orders hold, apart from what is left to sell.
    let product = format!("/api/v1/admin/products/{}", item.product_id);
    let (status, view) = read(stack.get(&product, &admin).await).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        (
            view["skus"][0]["stock"].as_i64(),
            view["skus"][0]["held"].as_i64()
        ),
        (Some(95), Some(5))
    );
    // Another customer is not limited by this one's orders.
    let neighbour = stack.login("+13128059852", "us").await;
    stack.add_to_cart(&neighbour, item.sku_id, 5).await;
    assert_eq!(
        stack.checkout(&neighbour, "n").await.status(),
        StatusCode::CREATED
    );
    // A cancelled order holds nothing any more.
    let cancel = format!("/api/v1/orders/{}/cancel", first["id"]);
    assert_eq!(
        stack
            .call(Method::POST, &cancel, &buyer.token, None)
            .await
            .status(),
        StatusCode::OK
    );
    let (_, view) = read(stack.get(&product, &admin).await).await;
    assert_eq!(
        (
            view["skus"][0]["stock"].as_i64(),
            view["skus"][0]["held"].as_i64()
        ),
        (Some(93), Some(7))
    );
    let missing = stack.get("/api/v1/admin/products/999999", &admin).await;
    expect_problem(missing, 404, "not_found").await;
}
