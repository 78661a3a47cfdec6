use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{expect_problem, read, spawn};

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn an_untouched_cart_is_empty_with_no_update_time(pool: PgPool) {
    let stack = spawn(pool).await;
    let buyer = stack.login("+13128059851", "in").await;
    let (status, cart) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        cart,
        json!({"market": "in", "currency": "INR", "version": 0, "items": [], "item_count": 0, "subtotal_minor": 0, "updated_at": null})
    );
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn adding_setting_and_removing_lines(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "mug", 5, json!({"us": 1250}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    stack.add_to_cart(&buyer, item.sku_id, 2).await;
    let (status, cart) = read(stack.add_to_cart(&buyer, item.sku_id, 1).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cart["items"][0]["quantity"], 3);
    assert_eq!(cart["items"][0]["unit_price_minor"], 1250);
    assert_eq!(cart["items"][0]["line_total_minor"], 3750);
    assert_eq!(cart["items"][0]["available"], true);
    assert_eq!(cart["items"][0]["product_id"], item.product_id);
    assert_eq!(
        (cart["item_count"].as_i64(), cart["subtotal_minor"].as_i64()),
        (Some(3), Some(3750))
    );
    assert!(cart["updated_at"].is_string());

    // More than the stock stays in the cart, marked unavailable.
    let path = format!("/api/v1/cart/items/{}", item.sku_id);
    let (_, cart) = read(
        stack
            .call(
                Method::PUT,
                &path,
                &buyer.token,
                Some(json!({"quantity": 9})),
            )
            .await,
    )
    .await;
    assert_eq!(
        (
            cart["items"][0]["quantity"].as_i64(),
            cart["items"][0]["available"].as_bool()
        ),
        (Some(9), Some(false))
    );
    let (_, cart) = read(
        stack
            .call(
                Method::PUT,
                &path,
                &buyer.token,
                Some(json!({"quantity": 0})),
            )
            .await,
    )
    .await;
    assert_eq!(cart["items"], json!([]));
    let (_, cart) = read(
        stack
            .call(
                Method::PUT,
                &path,
                &buyer.token,
                Some(json!({"quantity": 4})),
            )
            .await,
    )
    .await;
    assert_eq!(cart["items"][0]["quantity"], 4);
    let (_, cart) = read(stack.call(Method::DELETE, &path, &buyer.token, None).await).await;
    assert_eq!(cart["items"], json!([]));
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn every_quantity_rule_is_enforced(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "mug", 500, json!({"us": 1250}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    for quantity in [
        json!(0),
        json!(-1),
        json!(100),
        json!(1.5),
        json!("2"),
        json!(1e20),
        json!(null),
    ] {
        let response = stack
            .call(
                Method::POST,
                "/api/v1/cart/items",
                &buyer.token,
                Some(json!({"sku_id": item.sku_id, "quantity": quantity})),
            )
            .await;
        let body = expect_problem(response, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "quantity", "{quantity}");
    }
    stack.add_to_cart(&buyer, item.sku_id, 98).await;
    expect_problem(
        stack.add_to_cart(&buyer, item.sku_id, 2).await,
        422,
        "validation_failed",
    )
    .await;
    let path = format!("/api/v1/cart/items/{}", item.sku_id);
    expect_problem(
        stack
            .call(
                Method::PUT,
                &path,
                &buyer.token,
                Some(json!({"quantity": 100})),
            )
            .await,
        422,
        "validation_failed",
    )
    .await;
    let (_, cart) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    assert_eq!(cart["items"][0]["quantity"], 98);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn unknown_inactive_and_unpriced_skus_are_refused(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let us_only = stack
        .create_item(&admin, "us-only", 5, json!({"us": 100}))
        .await;
    let retired = stack
        .create_item(&admin, "retired", 5, json!({"eu": 100}))
        .await;
    stack
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{}", retired.product_id),
            &admin,
            Some(json!({"is_active": false})),
        )
        .await;
    let buyer = stack.login("+13128059851", "eu").await;
    expect_problem(
        stack.add_to_cart(&buyer, 999_999, 1).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        stack.add_to_cart(&buyer, retired.sku_id, 1).await,
        404,
        "not_found",
    )
    .await;
    let body = expect_problem(
        stack.add_to_cart(&buyer, us_only.sku_id, 1).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "sku_id");
    let (_, cart) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    assert_eq!(
        (&cart["items"], &cart["updated_at"]),
        (&json!([]), &json!(null)),
        "refused adds leave no cart behind"
    );
    expect_problem(
        stack
            .call(Method::DELETE, "/api/v1/cart/items/abc", &buyer.token, None)
            .await,
        404,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn the_cart_survives_logout_and_a_new_login(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "mug", 5, json!({"us": 1250}))
        .await;
    let first = stack.login("+13128059851", "us").await;
    stack.add_to_cart(&first, item.sku_id, 2).await;
    assert_eq!(
        stack
            .auth_call(Method::POST, "/api/v1/auth/logout", &first.token)
            .await,
        StatusCode::NO_CONTENT
    );
    let second = stack.login("+13128059851", "us").await;
    assert_ne!(second.token, first.token);
    assert_eq!(second.user_id, first.user_id);
    let (_, cart) = read(stack.get("/api/v1/cart", &second.token).await).await;
    assert_eq!(cart["items"][0]["sku_id"], item.sku_id);
    assert_eq!(cart["items"][0]["quantity"], 2);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn carts_are_per_market_and_per_user(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "mug", 5, json!({"us": 1250, "in": 99000}))
        .await;
    let us = stack.login("+13128059851", "us").await;
    let india = stack.login("+13128059851", "in").await;
    let stranger = stack.login("+13128059852", "us").await;
    stack.add_to_cart(&us, item.sku_id, 1).await;
    let (_, in_cart) = read(stack.get("/api/v1/cart", &india.token).await).await;
    assert_eq!(in_cart["items"], json!([]));
    let (_, in_cart) = read(stack.add_to_cart(&india, item.sku_id, 2).await).await;
    assert_eq!(
        (
            in_cart["currency"].as_str(),
            in_cart["subtotal_minor"].as_i64()
        ),
        (Some("INR"), Some(198_000))
    );
    let (_, other) = read(stack.get("/api/v1/cart", &stranger.token).await).await;
    assert_eq!(other["items"], json!([]));
    let (_, mine) = read(stack.get("/api/v1/cart", &us.token).await).await;
    assert_eq!(mine["items"][0]["quantity"], 1);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn the_wishlist_keeps_one_entry_per_product_across_markets(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "lamp", 5, json!({"us": 1250}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    for _ in 0..2 {
        let response = stack
            .call(
                Method::POST,
                "/api/v1/wishlist/items",
                &buyer.token,
                Some(json!({"product_id": item.product_id})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let in_india = stack.login("+13128059851", "in").await;
    let (_, wishlist) = read(stack.get("/api/v1/wishlist", &in_india.token).await).await;
    let items = wishlist["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["product_id"], item.product_id);
    assert_eq!(items[0]["name"], "Product lamp");
    assert!(items[0]["added_at"].is_string());
    let missing = stack
        .call(
            Method::POST,
            "/api/v1/wishlist/items",
            &buyer.token,
            Some(json!({"product_id": 424242})),
        )
        .await;
    expect_problem(missing, 404, "not_found").await;
    let path = format!("/api/v1/wishlist/items/{}", item.product_id);
    let (_, wishlist) = read(stack.call(Method::DELETE, &path, &buyer.token, None).await).await;
    assert_eq!(wishlist["items"], json!([]));
}
