//! Cart versions and the price-drift guard: a checkout sells the cart the
//! shopper saw, at the prices they saw, or nothing.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Customer, Item, Stack, expect_problem, read, spawn};

async fn set_price(stack: &Stack, admin: &str, item: Item, market: &str, amount: i64) {
    let response = stack
        .call(
            Method::PUT,
            &format!("/api/v1/admin/skus/{}/prices/{market}", item.sku_id),
            admin,
            Some(json!({"amount_minor": amount})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// A shop selling a tee at 15.00 in `us`, and a customer with `quantity`
/// of them in the cart.
async fn buyer_of_tees(pool: PgPool, stock: i64, quantity: i64) -> (Stack, String, Item, Customer) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let tee = stack
        .create_item(&admin, "tee", stock, json!({"us": 1500}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    stack.add_to_cart(&buyer, tee.sku_id, quantity).await;
    (stack, admin, tee, buyer)
}

/// The cart and its `ETag`.
async fn cart_of(stack: &Stack, customer: &Customer) -> (Value, String) {
    let response = stack.get("/api/v1/cart", &customer.token).await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let (status, cart) = read(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(etag, format!("\"{}\"", cart["version"]));
    (cart, etag)
}

async fn guarded_checkout(
    stack: &Stack,
    customer: &Customer,
    key: &str,
    if_match: Option<&str>,
    body: Value,
) -> Response {
    let mut request = stack
        .client
        .post(stack.url("/api/v1/orders"))
        .bearer_auth(&customer.token)
        .header("idempotency-key", key)
        .json(&body);
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    request.send().await.unwrap()
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn the_cart_version_moves_with_what_it_shows_and_reads_revalidate(pool: PgPool) {
    let (stack, admin, tee, buyer) = buyer_of_tees(pool, 5, 2).await;
    let (cart, etag) = cart_of(&stack, &buyer).await;

    let revalidate = |tag: String| {
        stack
            .client
            .get(stack.url("/api/v1/cart"))
            .bearer_auth(&buyer.token)
            .header("if-none-match", tag)
            .send()
    };
    let unchanged = revalidate(etag.clone()).await.unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(unchanged.text().await.unwrap(), "");
    let (again, _) = cart_of(&stack, &buyer).await;
    assert_eq!(again["version"], cart["version"], "reading moves nothing");

    // A price change nobody wrote to the cart still moves its version.
    set_price(&stack, &admin, tee, "us", 1200).await;
    let repriced = revalidate(etag.clone()).await.unwrap();
    assert_eq!(repriced.status(), StatusCode::OK);
    let (repriced, etag_2) = cart_of(&stack, &buyer).await;
    assert_ne!(etag_2, etag);
    assert_eq!(repriced["subtotal_minor"], 2400);

    // So does stock falling under the line (availability), and a line.
    let response = stack
        .call(
            Method::PUT,
            &format!("/api/v1/admin/skus/{}/stock", tee.sku_id),
            &admin,
            Some(json!({"stock": 1})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (sold_out, etag_3) = cart_of(&stack, &buyer).await;
    assert_eq!(sold_out["items"][0]["available"], false);
    assert_ne!(etag_3, etag_2);
    let response = stack
        .call(
            Method::PUT,
            &format!("/api/v1/cart/items/{}", tee.sku_id),
            &buyer.token,
            Some(json!({"quantity": 1})),
        )
        .await;
    let tag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(tag, etag_3, "every cart answer is versioned");
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_checkout_after_a_price_change_is_refused_with_the_fresh_cart(pool: PgPool) {
    let (stack, admin, tee, buyer) = buyer_of_tees(pool, 5, 2).await;
    let (_, seen) = cart_of(&stack, &buyer).await;
    set_price(&stack, &admin, tee, "us", 1700).await;

    let refused = guarded_checkout(&stack, &buyer, "k1", Some(&seen), json!({})).await;
    let body = expect_problem(refused, 409, "price_changed").await;
    assert_eq!(body["cart"]["subtotal_minor"], 3400);
    assert_eq!(body["cart"]["items"][0]["unit_price_minor"], 1700);
    assert_eq!(
        (stack.order_count().await, stack.stock_of(tee.sku_id).await),
        (0, 5)
    );

    // Shown the new total, the shopper agrees: it sells at that price.
    let fresh = format!("\"{}\"", body["cart"]["version"]);
    let (status, order) = read(
        guarded_checkout(
            &stack,
            &buyer,
            "k1",
            Some(&fresh),
            json!({"expected_total_minor": 3400}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, order["total_minor"].clone()),
        (StatusCode::CREATED, json!(3400))
    );

    // A retry of that checkout replays the order, whatever prices do now.
    set_price(&stack, &admin, tee, "us", 999).await;
    let replay = guarded_checkout(&stack, &buyer, "k1", Some(&fresh), json!({})).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let (_, replayed) = read(replay).await;
    assert_eq!(
        (replayed["id"].clone(), replayed["total_minor"].clone()),
        (order["id"].clone(), json!(3400))
    );
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_cart_changed_elsewhere_or_a_total_not_seen_is_refused(pool: PgPool) {
    let (stack, admin, tee, buyer) = buyer_of_tees(pool, 50, 2).await;
    let (_, seen) = cart_of(&stack, &buyer).await;
    // Another device adds a unit; then the price changes too.
    stack.add_to_cart(&buyer, tee.sku_id, 1).await;
    set_price(&stack, &admin, tee, "us", 1400).await;
    let body = expect_problem(
        guarded_checkout(&stack, &buyer, "k1", Some(&seen), json!({})).await,
        409,
        "cart_changed",
    )
    .await;
    assert_eq!(body["cart"]["items"][0]["quantity"], 3);

    // Without If-Match, the total alone guards the money.
    let body = expect_problem(
        guarded_checkout(
            &stack,
            &buyer,
            "k1",
            None,
            json!({"expected_total_minor": 4500}),
        )
        .await,
        409,
        "price_changed",
    )
    .await;
    assert_eq!(body["cart"]["subtotal_minor"], 4200);
    assert_eq!(stack.order_count().await, 0);

    for bad in ["12", "\"1\" \"2\"", "W/"] {
        expect_problem(
            guarded_checkout(&stack, &buyer, "k1", Some(bad), json!({})).await,
            400,
            "invalid_if_match",
        )
        .await;
    }
    // A weak tag never matches (If-Match compares strongly); `*` always does.
    let (cart, tag) = cart_of(&stack, &buyer).await;
    let weak = format!("W/{tag}");
    expect_problem(
        guarded_checkout(&stack, &buyer, "k1", Some(&weak), json!({})).await,
        409,
        "cart_changed",
    )
    .await;
    assert_eq!(cart["subtotal_minor"], 4200);
    let placed = guarded_checkout(
        &stack,
        &buyer,
        "k1",
        Some("*"),
        json!({"expected_total_minor": 4200}),
    )
    .await;
    assert_eq!(placed.status(), StatusCode::CREATED);
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_checkout_racing_a_price_change_never_charges_a_price_not_seen(pool: PgPool) {
    let stack = spawn(pool).await;
    let admin = stack.admin_token().await;
    let tee = stack
        .create_item(&admin, "tee", 1000, json!({"us": 1000}))
        .await;
    let buyer = stack.login("+13128059851", "us").await;
    let (mut sold, mut refused) = (0, 0);
    for round in 0..12 {
        stack.add_to_cart(&buyer, tee.sku_id, 1).await;
        let (cart, seen) = cart_of(&stack, &buyer).await;
        let seen_total = cart["subtotal_minor"].as_i64().unwrap();
        let key = format!("race-{round}");
        let (_, answer) = tokio::join!(
            set_price(&stack, &admin, tee, "us", 1000 + 10 * (round + 1)),
            guarded_checkout(&stack, &buyer, &key, Some(&seen), json!({}))
        );
        match answer.status() {
            StatusCode::CREATED => {
                let (_, order) = read(answer).await;
                assert_eq!(
                    order["total_minor"].as_i64(),
                    Some(seen_total),
                    "sold at the price seen"
                );
                sold += 1;
            }
            _ => {
                let body = expect_problem(answer, 409, "price_changed").await;
                assert_ne!(body["cart"]["subtotal_minor"].as_i64(), Some(seen_total));
                refused += 1;
                // Clear the cart for the next round.
                stack
                    .call(
                        Method::DELETE,
                        &format!("/api/v1/cart/items/{}", tee.sku_id),
                        &buyer.token,
                        None,
                    )
                    .await;
            }
        }
    }
    assert_eq!(sold + refused, 12);
    let charged: Vec<i64> = sqlx::query_scalar("select unit_price_minor from order_lines")
        .fetch_all(&stack.state.db)
        .await
        .unwrap();
    assert_eq!(charged.len(), sold);
}
