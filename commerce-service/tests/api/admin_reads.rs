//! What the admin panel reads: every product, hidden or not, and any
//! customer's order; and the OpenAPI document the panel's client is
//! generated from.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{expect_problem, read, spawn};

#[test]
fn the_typescript_clients_copy_of_the_openapi_document_is_current() {
    common::testing::assert_openapi_committed(
        &commerce_service::routes::openapi_document(),
        "commerce-service",
    );
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn admins_list_every_product_hidden_or_not_and_search_them(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let kettle = stack
        .create_item(&admin, "steel-kettle", 7, json!({"us": 2500}))
        .await;
    stack
        .create_item(&admin, "glass-teapot", 3, json!({"eu": 1900}))
        .await;
    stack
        .create_item(&admin, "copper-kettle", 0, json!({}))
        .await;
    let response = stack
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{}", kettle.product_id),
            &admin,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let (status, page) = read(
        stack
            .get("/api/v1/admin/products?q=KETTLE&per_page=1", &admin)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // Newest first, unpriced and hidden ones included.
    assert_eq!(page["items"][0]["slug"], "copper-kettle");
    let (_, second) = read(
        stack
            .get("/api/v1/admin/products?q=kettle&per_page=1&page=2", &admin)
            .await,
    )
    .await;
    let hidden = &second["items"][0];
    assert_eq!(hidden["slug"], "steel-kettle");
    assert_eq!(hidden["is_active"], false);
    assert_eq!(hidden["sku_count"], 1);
    assert_eq!(hidden["stock"], 7);
    let (_, by_slug) = read(
        stack
            .get("/api/v1/admin/products?q=glass-tea", &admin)
            .await,
    )
    .await;
    assert_eq!(by_slug["total"], 1, "{by_slug}");
    let (_, past_the_end) = read(
        stack
            .get("/api/v1/admin/products?q=kettle&page=9", &admin)
            .await,
    )
    .await;
    assert_eq!(past_the_end["total"], 2);
    assert_eq!(past_the_end["items"], json!([]));
    let body = expect_problem(
        stack
            .get(
                &format!("/api/v1/admin/products?q={}", "x".repeat(101)),
                &admin,
            )
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "q");
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn admins_read_any_customers_order(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "lamp", 5, json!({"us": 4000}))
        .await;
    let customer = stack.login("+13128059851", "us").await;
    stack.add_to_cart(&customer, item.sku_id, 2).await;
    let (status, order) = read(stack.checkout(&customer, "admin-read-1").await).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap();

    let (status, seen) = read(
        stack
            .get(&format!("/api/v1/admin/orders/{id}"), &admin)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen, order);
    assert_eq!(seen["items"][0]["quantity"], 2);
    assert_eq!(seen["status_history"][0]["status"], "pending");
    expect_problem(
        stack.get("/api/v1/admin/orders/999999", &admin).await,
        404,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn admins_add_a_sku_to_a_product_with_its_stock_and_prices(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let kettle = stack
        .create_item(&admin, "kettle", 4, json!({"us": 2500}))
        .await;
    let other = stack
        .create_item(&admin, "teapot", 1, json!({"us": 900}))
        .await;
    let path = format!("/api/v1/admin/products/{}/skus", kettle.product_id);
    let add = |body| stack.call(Method::POST, &path, &admin, Some(body));

    let (status, product) = read(
        add(json!({"code": "kettle-red", "attributes": {"colour": "red"}, "stock": 6, "prices": {"us": 2700, "eu": 2400}}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let skus = product["skus"].as_array().unwrap();
    assert_eq!(skus.len(), 2, "{product}");
    let red = skus.iter().find(|sku| sku["code"] == "kettle-red").unwrap();
    assert_eq!(red["stock"], 6);
    assert_eq!(red["attributes"], json!({"colour": "red"}));
    assert_eq!(red["prices"], json!({"us": 2700, "eu": 2400}));
    // The storefront sells it at once.
    let (_, shown) = read(
        stack
            .client
            .get(stack.url(&format!("/api/v1/products/{}", kettle.product_id)))
            .header("x-market", "eu")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(shown["skus"][0]["price"]["amount_minor"], 2400, "{shown}");

    expect_problem(
        add(json!({"code": "teapot-sku", "stock": 1, "prices": {}})).await,
        409,
        "sku_code_taken",
    )
    .await;
    let body = expect_problem(
        add(json!({"code": "has space", "stock": -1, "prices": {"mars": 1}})).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["code", "stock", "prices.mars"]);
    expect_problem(
        stack
            .call(
                Method::POST,
                "/api/v1/admin/products/999999/skus",
                &admin,
                Some(json!({"code": "lost", "stock": 1, "prices": {}})),
            )
            .await,
        404,
        "not_found",
    )
    .await;
    let (_, teapot) = read(
        stack
            .get(
                &format!("/api/v1/admin/products/{}", other.product_id),
                &admin,
            )
            .await,
    )
    .await;
    assert_eq!(teapot["skus"].as_array().unwrap().len(), 1);
}
