use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Customer, Stack, expect_problem, read, spawn, spawn_with};

async fn one_order(
    stack: &Stack,
    buyer: &Customer,
    sku_id: i64,
    quantity: i64,
    key: &str,
) -> Value {
    stack.add_to_cart(buyer, sku_id, quantity).await;
    let (status, order) = read(stack.checkout(buyer, key).await).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    order
}

async fn move_to(stack: &Stack, admin: &str, order_id: i64, status: &str) -> reqwest::Response {
    stack
        .call(
            Method::POST,
            &format!("/api/v1/admin/orders/{order_id}/status"),
            admin,
            Some(json!({"status": status})),
        )
        .await
}

fn history(order: &Value) -> Vec<String> {
    order["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn an_order_walks_every_status_and_illegal_moves_change_nothing(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "desk", 5, json!({"us": 10000}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    let order = one_order(&stack, &buyer, item.sku_id, 1, "k").await;
    let id = order["id"].as_i64().unwrap();

    expect_problem(
        move_to(&stack, &admin, id, "shipped").await,
        409,
        "invalid_transition",
    )
    .await;
    expect_problem(
        move_to(&stack, &admin, id, "pending").await,
        409,
        "invalid_transition",
    )
    .await;
    expect_problem(
        move_to(&stack, &admin, id, "lost").await,
        422,
        "validation_failed",
    )
    .await;
    for status in ["confirmed", "processing", "shipped", "delivered"] {
        let (code, moved) = read(move_to(&stack, &admin, id, status).await).await;
        assert_eq!(code, StatusCode::OK, "{moved}");
        assert_eq!(moved["status"], status);
    }
    for status in ["cancelled", "shipped", "delivered", "pending"] {
        expect_problem(
            move_to(&stack, &admin, id, status).await,
            409,
            "invalid_transition",
        )
        .await;
    }
    let customer_cancel = stack
        .call(
            Method::POST,
            &format!("/api/v1/orders/{id}/cancel"),
            &buyer.token,
            None,
        )
        .await;
    expect_problem(customer_cancel, 409, "invalid_transition").await;
    let (_, order) = read(
        stack
            .get(&format!("/api/v1/orders/{id}"), &buyer.token)
            .await,
    )
    .await;
    assert_eq!(
        history(&order),
        ["pending", "confirmed", "processing", "shipped", "delivered"]
    );
    assert_eq!(stack.stock_of(item.sku_id).await, 4);
    expect_problem(
        move_to(&stack, &admin, 999_999, "confirmed").await,
        404,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn every_path_to_cancelled_returns_the_stock_exactly_once(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "chair", 10, json!({"us": 5000}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;

    // The customer cancels a pending order; a second cancel changes nothing.
    let order = one_order(&stack, &buyer, item.sku_id, 3, "a").await;
    assert_eq!(stack.stock_of(item.sku_id).await, 7);
    let path = format!("/api/v1/orders/{}/cancel", order["id"]);
    let (status, cancelled) = read(stack.call(Method::POST, &path, &buyer.token, None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(history(&cancelled), ["pending", "cancelled"]);
    assert_eq!(stack.stock_of(item.sku_id).await, 10);
    expect_problem(
        stack.call(Method::POST, &path, &buyer.token, None).await,
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(stack.stock_of(item.sku_id).await, 10);

    // An admin cancels a confirmed order.
    let order = one_order(&stack, &buyer, item.sku_id, 2, "b").await;
    let id = order["id"].as_i64().unwrap();
    move_to(&stack, &admin, id, "confirmed").await;
    assert_eq!(
        move_to(&stack, &admin, id, "cancelled").await.status(),
        StatusCode::OK
    );
    expect_problem(
        move_to(&stack, &admin, id, "cancelled").await,
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(stack.stock_of(item.sku_id).await, 10);

    // Concurrent cancels of one order still return the stock once.
    let order = one_order(&stack, &buyer, item.sku_id, 4, "c").await;
    let path = format!("/api/v1/orders/{}/cancel", order["id"]);
    let answers = futures::future::join_all(
        (0..5).map(|_| stack.call(Method::POST, &path, &buyer.token, None)),
    )
    .await;
    assert_eq!(
        answers
            .iter()
            .filter(|r| r.status() == StatusCode::OK)
            .count(),
        1
    );
    assert_eq!(stack.stock_of(item.sku_id).await, 10);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_pending_order_past_its_deadline_is_cancelled_by_the_service(pool: PgPool) {
    let stack = spawn_with(pool, &[("PENDING_ORDER_TTL_SECONDS", "1")]).await;
    tokio::spawn(commerce_service::orders::fulfilment::run_expiry(
        stack.state.db.clone(),
        stack.state.outbox.clone(),
        Duration::from_millis(200),
    ));
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "bike", 5, json!({"us": 50000}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    let order = one_order(&stack, &buyer, item.sku_id, 2, "k").await;
    let confirmed = one_order(&stack, &buyer, item.sku_id, 1, "l").await;
    move_to(
        &stack,
        &admin,
        confirmed["id"].as_i64().unwrap(),
        "confirmed",
    )
    .await;
    assert_eq!(stack.stock_of(item.sku_id).await, 2);

    let path = format!("/api/v1/orders/{}", order["id"]);
    let mut status = String::new();
    for _ in 0..50 {
        let (_, now) = read(stack.get(&path, &buyer.token).await).await;
        status = now["status"].as_str().unwrap().to_owned();
        if status == "cancelled" {
            assert_eq!(history(&now), ["pending", "cancelled"]);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "cancelled");
    assert_eq!(
        stack.stock_of(item.sku_id).await,
        4,
        "the expired order's stock came back, once"
    );
    let (_, kept) = read(
        stack
            .get(&format!("/api/v1/orders/{}", confirmed["id"]), &buyer.token)
            .await,
    )
    .await;
    assert_eq!(kept["status"], "confirmed");
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn orders_are_listed_newest_first_across_markets_and_others_are_404(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "book", 10, json!({"us": 1500, "eu": 1400}))
        .await;
    let us = stack.login("+13128059851", "us").await;
    let eu = stack.login("+13128059851", "eu").await;
    let first = one_order(&stack, &us, item.sku_id, 1, "a").await;
    let second = one_order(&stack, &eu, item.sku_id, 1, "b").await;
    assert_eq!(second["currency"], "EUR");
    let (status, list) = read(stack.get("/api/v1/orders", &us.token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["id"], second["id"]);
    assert_eq!(list["items"][1]["id"], first["id"]);

    let stranger = stack.login("+13128059852", "us").await;
    let path = format!("/api/v1/orders/{}", first["id"]);
    expect_problem(stack.get(&path, &stranger.token).await, 404, "not_found").await;
    let cancel = stack
        .call(
            Method::POST,
            &format!("{path}/cancel"),
            &stranger.token,
            None,
        )
        .await;
    expect_problem(cancel, 404, "not_found").await;
    let (_, unchanged) = read(stack.get(&path, &us.token).await).await;
    assert_eq!(unchanged["status"], "pending");
    let (_, empty) = read(stack.get("/api/v1/orders", &stranger.token).await).await;
    assert_eq!(empty["total"], 0);

    let (status, all) = read(
        stack
            .get("/api/v1/admin/orders?status=pending&per_page=1", &admin)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            all["total"].as_i64(),
            all["items"].as_array().unwrap().len()
        ),
        (Some(2), 1)
    );
    expect_problem(
        stack.get("/api/v1/admin/orders?status=lost", &admin).await,
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        stack.get("/api/v1/admin/orders", &us.token).await,
        403,
        "forbidden",
    )
    .await;
}
