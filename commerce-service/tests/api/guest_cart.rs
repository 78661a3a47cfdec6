//! Guest carts: shopping before login, and the merge on login.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Customer, Item, Stack, expect_problem, read, spawn, spawn_with};

/// A guest cart's token and its first answer.
async fn new_guest_cart(stack: &Stack, market: &str) -> (String, Value) {
    let response = stack
        .client
        .post(stack.url("/api/v1/guest-cart"))
        .header("x-market", market)
        .send()
        .await
        .unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(etag, format!("\"{}\"", body["cart"]["version"]));
    (
        body["cart_token"].as_str().unwrap().to_owned(),
        body["cart"].clone(),
    )
}

async fn guest_call(
    stack: &Stack,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut request = stack
        .client
        .request(method, stack.url(path))
        .header("x-cart-token", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn guest_add(stack: &Stack, token: &str, sku_id: i64, quantity: i64) -> Value {
    let (status, cart) = read(
        guest_call(
            stack,
            Method::POST,
            "/api/v1/guest-cart/items",
            token,
            Some(json!({"sku_id": sku_id, "quantity": quantity})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    cart
}

async fn merge(stack: &Stack, customer: &Customer, token: &str) -> Response {
    stack
        .call(
            Method::POST,
            "/api/v1/cart/merge",
            &customer.token,
            Some(json!({"cart_token": token})),
        )
        .await
}

/// A shop selling a tee and a sock in `us`, and a customer of it.
async fn shop(pool: PgPool) -> (Stack, String, Item, Item, Customer) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let tee = stack
        .create_item(&admin, "tee", 500, json!({"us": 1500}))
        .await;
    let sock = stack
        .create_item(&admin, "sock", 500, json!({"us": 300}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    (stack, admin, tee, sock, buyer)
}

fn quantities(cart: &Value) -> Vec<(i64, i64, bool)> {
    let mut lines: Vec<(i64, i64, bool)> = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["sku_id"].as_i64().unwrap(),
                item["quantity"].as_i64().unwrap(),
                item["available"].as_bool().unwrap(),
            )
        })
        .collect();
    lines.sort_unstable();
    lines
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_guest_cart_works_like_a_customers_cart_without_a_login(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let mug = stack
        .create_item(&admin, "mug", 10, json!({"eu": 900}))
        .await;
    let us_only = stack
        .create_item(&admin, "cap", 10, json!({"us": 500}))
        .await;

    let (token, cart) = new_guest_cart(&stack, "eu").await;
    assert_eq!(token.len(), 43, "256 bits, base64url");
    assert_eq!(
        (cart["market"].as_str(), cart["currency"].as_str()),
        (Some("eu"), Some("EUR"))
    );
    assert_eq!(cart["items"], json!([]));

    let cart = guest_add(&stack, &token, mug.sku_id, 2).await;
    assert_eq!(quantities(&cart), vec![(mug.sku_id, 2, true)]);
    assert_eq!(cart["subtotal_minor"], 1800);
    let cart = guest_add(&stack, &token, mug.sku_id, 1).await;
    assert_eq!(quantities(&cart), vec![(mug.sku_id, 3, true)]);

    // The customer cart's rules, word for word.
    let refused = |sku: i64, quantity: i64| {
        guest_call(
            &stack,
            Method::POST,
            "/api/v1/guest-cart/items",
            &token,
            Some(json!({"sku_id": sku, "quantity": quantity})),
        )
    };
    expect_problem(refused(mug.sku_id, 0).await, 422, "validation_failed").await;
    expect_problem(refused(mug.sku_id, 97).await, 422, "validation_failed").await;
    expect_problem(refused(999_999, 1).await, 404, "not_found").await;
    let body = expect_problem(refused(us_only.sku_id, 1).await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "sku_id");

    let path = format!("/api/v1/guest-cart/items/{}", mug.sku_id);
    let (status, cart) = read(
        guest_call(
            &stack,
            Method::PUT,
            &path,
            &token,
            Some(json!({"quantity": 5})),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, quantities(&cart)),
        (StatusCode::OK, vec![(mug.sku_id, 5, true)])
    );
    let (_, cart) =
        read(guest_call(&stack, Method::GET, "/api/v1/guest-cart", &token, None).await).await;
    assert_eq!(quantities(&cart), vec![(mug.sku_id, 5, true)]);
    let (status, cart) = read(guest_call(&stack, Method::DELETE, &path, &token, None).await).await;
    assert_eq!((status, cart["items"].clone()), (StatusCode::OK, json!([])));

    // A missing, unknown or malformed token is simply not found.
    let no_token = stack
        .client
        .get(stack.url("/api/v1/guest-cart"))
        .send()
        .await
        .unwrap();
    expect_problem(no_token, 404, "not_found").await;
    let unknown = "A".repeat(43);
    for token in [unknown.as_str(), "not-a-token"] {
        let response = guest_call(&stack, Method::GET, "/api/v1/guest-cart", token, None).await;
        expect_problem(response, 404, "not_found").await;
    }

    // Only the token's hash is kept.
    let stored: Vec<u8> =
        sqlx::query_scalar("select guest_token_hash from carts where user_id is null")
            .fetch_one(&stack.state.db)
            .await
            .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&token));
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn an_idle_guest_cart_expires_and_the_sweep_removes_it(pool: PgPool) {
    let stack = spawn_with(pool, &[("GUEST_CART_TTL_SECONDS", "1")]).await;
    let (token, _) = new_guest_cart(&stack, "us").await;
    let (kept, _) = new_guest_cart(&stack, "us").await;
    // Use keeps a cart alive past its first second; idleness ends it.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let response = guest_call(&stack, Method::GET, "/api/v1/guest-cart", &kept, None).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = guest_call(&stack, Method::GET, "/api/v1/guest-cart", &token, None).await;
    expect_problem(response, 404, "not_found").await;

    let swept = commerce_service::cart::guest::sweep_expired(&stack.state.db)
        .await
        .unwrap();
    assert_eq!(swept, 1, "the idle cart only");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let swept = commerce_service::cart::guest::sweep_expired(&stack.state.db)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    let left: i64 = sqlx::query_scalar("select count(*) from carts")
        .fetch_one(&stack.state.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn guest_cart_creation_is_limited_per_client_address(pool: PgPool) {
    let stack = spawn_with(pool, &[("GUEST_CARTS_PER_IP_HOUR", "3")]).await;
    let create = |client: &'static str| {
        stack
            .client
            .post(stack.url("/api/v1/guest-cart"))
            .header("x-forwarded-for", client)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            create("203.0.113.7").await.unwrap().status(),
            StatusCode::CREATED
        );
    }
    let refused = create("203.0.113.7").await.unwrap();
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    expect_problem(refused, 429, "rate_limited").await;
    // Another address has its own count; the refused attempt made no cart.
    assert_eq!(
        create("198.51.100.4").await.unwrap().status(),
        StatusCode::CREATED
    );
    let carts: i64 = sqlx::query_scalar("select count(*) from carts")
        .fetch_one(&stack.state.db)
        .await
        .unwrap();
    assert_eq!(carts, 4);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_merge_adds_caps_keeps_unsellable_lines_and_consumes_the_guest_cart(pool: PgPool) {
    let (stack, admin, tee, sock, buyer) = shop(pool).await;
    let hat = stack
        .create_item(&admin, "hat", 500, json!({"us": 2000}))
        .await;
    assert_eq!(
        stack.add_to_cart(&buyer, tee.sku_id, 60).await.status(),
        StatusCode::OK
    );

    let (token, _) = new_guest_cart(&stack, "us").await;
    guest_add(&stack, &token, tee.sku_id, 50).await;
    guest_add(&stack, &token, sock.sku_id, 2).await;
    guest_add(&stack, &token, hat.sku_id, 1).await;
    let retired = stack
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{}", hat.product_id),
            &admin,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(retired.status(), StatusCode::OK);

    let (status, cart) = read(merge(&stack, &buyer, &token).await).await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    let mut expected = vec![
        (tee.sku_id, 99, true),
        (sock.sku_id, 2, true),
        (hat.sku_id, 1, false),
    ];
    expected.sort_unstable();
    assert_eq!(
        quantities(&cart),
        expected,
        "capped at 99; the retired hat kept, unavailable"
    );

    // Consumed: the guest routes no longer know it, and merging it again
    // changes nothing and answers the current cart.
    let response = guest_call(&stack, Method::GET, "/api/v1/guest-cart", &token, None).await;
    expect_problem(response, 404, "not_found").await;
    let (status, again) = read(merge(&stack, &buyer, &token).await).await;
    assert_eq!(
        (status, quantities(&again)),
        (StatusCode::OK, expected.clone())
    );
    assert_eq!(again["version"], cart["version"]);
    let (_, read_back) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    assert_eq!(quantities(&read_back), expected);

    // Another customer merging the consumed token gets their own cart.
    let other = stack.login("+13128059852", "us").await;
    let (status, theirs) = read(merge(&stack, &other, &token).await).await;
    assert_eq!(
        (status, theirs["items"].clone()),
        (StatusCode::OK, json!([]))
    );

    expect_problem(
        merge(&stack, &buyer, &"B".repeat(43)).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(merge(&stack, &buyer, "nonsense").await, 404, "not_found").await;
    let (eu_token, _) = new_guest_cart(&stack, "eu").await;
    expect_problem(
        merge(&stack, &buyer, &eu_token).await,
        403,
        "market_mismatch",
    )
    .await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn twenty_concurrent_merges_of_one_token_add_its_lines_once(pool: PgPool) {
    let (stack, _, tee, sock, buyer) = shop(pool).await;
    stack.add_to_cart(&buyer, tee.sku_id, 1).await;
    let (token, _) = new_guest_cart(&stack, "us").await;
    guest_add(&stack, &token, tee.sku_id, 2).await;
    guest_add(&stack, &token, sock.sku_id, 3).await;

    let answers = futures::future::join_all((0..20).map(|_| merge(&stack, &buyer, &token))).await;
    for response in answers {
        let (status, cart) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{cart}");
    }
    let (_, cart) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    let mut expected = vec![(tee.sku_id, 3, true), (sock.sku_id, 3, true)];
    expected.sort_unstable();
    assert_eq!(quantities(&cart), expected);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn two_devices_merging_two_guest_carts_at_once_both_land(pool: PgPool) {
    let (stack, _, tee, sock, buyer) = shop(pool).await;
    let (phone, _) = new_guest_cart(&stack, "us").await;
    let (tablet, _) = new_guest_cart(&stack, "us").await;
    guest_add(&stack, &phone, tee.sku_id, 2).await;
    guest_add(&stack, &phone, sock.sku_id, 1).await;
    guest_add(&stack, &tablet, tee.sku_id, 5).await;

    let (a, b) = tokio::join!(
        merge(&stack, &buyer, &phone),
        merge(&stack, &buyer, &tablet)
    );
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let (_, cart) = read(stack.get("/api/v1/cart", &buyer.token).await).await;
    let mut expected = vec![(tee.sku_id, 7, true), (sock.sku_id, 1, true)];
    expected.sort_unstable();
    assert_eq!(quantities(&cart), expected);
}
