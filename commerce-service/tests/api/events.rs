//! commerce-service's events: order changes leave through the outbox to the
//! `COMMERCE` stream, and a deleted account (`auth.user.deleted`, from
//! auth-service's outbox) loses its pending orders, carts and wishlist,
//! once, however often the deletion is delivered. Against the machine's
//! NATS server, a namespace per test.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::testing::{delete_streams, nats_namespace, shared_nats_url, stream_events};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Stack, read, spawn_on_bus};

/// Polls `stream_events` until `ready` holds of them.
async fn wait_for_events(
    url: &str,
    namespace: &str,
    stream: &str,
    ready: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let started = Instant::now();
    loop {
        let events = stream_events(url, namespace, stream).await;
        if ready(&events) {
            return events;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the events never came: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn on_bus(pool: PgPool) -> (Stack, String, String) {
    let (url, namespace) = (shared_nats_url(), nats_namespace());
    let bus = [("NATS_URL", url.as_str()), ("NATS_NAMESPACE", &namespace)];
    let stack = spawn_on_bus(pool, &bus, &[]).await;
    (stack, url, namespace)
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn an_order_announces_its_creation_its_moves_and_its_cancellation(pool: PgPool) {
    let (stack, url, namespace) = on_bus(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "lamp", 5, json!({"us": 2500}))
        .await;
    let buyer = stack.login("+13128059871", "us").await;
    assert!(
        stack
            .add_to_cart(&buyer, item.sku_id, 2)
            .await
            .status()
            .is_success()
    );
    let (status, order) = read(stack.checkout(&buyer, "lamp-1").await).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order_id = order["id"].as_i64().unwrap();
    let confirm = stack
        .call(
            Method::POST,
            &format!("/api/v1/admin/orders/{order_id}/status"),
            &admin,
            Some(json!({"status": "confirmed"})),
        )
        .await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let cancel = stack
        .call(
            Method::POST,
            &format!("/api/v1/orders/{order_id}/cancel"),
            &buyer.token,
            None,
        )
        .await;
    assert_eq!(cancel.status(), StatusCode::OK);

    let events = wait_for_events(&url, &namespace, "COMMERCE", |events| events.len() >= 3).await;
    let subjects: Vec<&str> = events.iter().map(|(subject, _)| subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "commerce.order.created",
            "commerce.order.status_changed",
            "commerce.order.cancelled"
        ]
    );
    let created = &events[0].1;
    assert_eq!(created["v"], 1);
    assert_eq!(created["data"]["order_id"], order_id);
    assert_eq!(created["data"]["user_id"], buyer.user_id);
    assert_eq!(created["data"]["order_number"], order["order_number"]);
    assert_eq!(created["data"]["total_minor"], 5000);
    assert_eq!(
        created["data"]["items"],
        json!([{"sku_id": item.sku_id, "product_id": item.product_id, "quantity": 2, "unit_price_minor": 2500}])
    );
    assert_eq!(
        events[1].1["data"],
        json!({"order_id": order_id, "user_id": buyer.user_id, "from": "pending", "to": "confirmed"})
    );
    assert_eq!(
        events[2].1["data"],
        json!({"order_id": order_id, "user_id": buyer.user_id, "from": "confirmed", "by": "customer"})
    );
    delete_streams(&url, &namespace).await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_deleted_account_loses_its_pending_orders_cart_and_wishlist_once_though_told_twice(
    pool: PgPool,
) {
    let (stack, url, namespace) = on_bus(pool).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "kettle", 10, json!({"us": 3000}))
        .await;
    let leaving = stack.login("+13128059872", "us").await;
    for key in ["first", "second"] {
        assert!(
            stack
                .add_to_cart(&leaving, item.sku_id, 2)
                .await
                .status()
                .is_success()
        );
        assert_eq!(
            stack.checkout(&leaving, key).await.status(),
            StatusCode::CREATED
        );
    }
    assert!(
        stack
            .add_to_cart(&leaving, item.sku_id, 1)
            .await
            .status()
            .is_success()
    );
    let wished = stack
        .call(
            Method::POST,
            "/api/v1/wishlist/items",
            &leaving.token,
            Some(json!({"product_id": item.product_id})),
        )
        .await;
    assert!(wished.status().is_success());
    assert_eq!(stack.stock_of(item.sku_id).await, 6);

    let deleted = stack
        .auth_call(Method::DELETE, "/api/v1/auth/me", &leaving.token)
        .await;
    assert_eq!(deleted, StatusCode::NO_CONTENT);
    let cancelled = |events: &[(String, Value)]| {
        events
            .iter()
            .filter(|(subject, _)| subject == "commerce.order.cancelled")
            .count()
    };
    let events = wait_for_events(&url, &namespace, "COMMERCE", |events| {
        cancelled(events) >= 2
    })
    .await;
    for (_, event) in events
        .iter()
        .filter(|(s, _)| s == "commerce.order.cancelled")
    {
        assert_eq!(event["data"]["by"], "account_deleted");
        assert_eq!(event["data"]["from"], "pending");
    }
    assert_eq!(stack.stock_of(item.sku_id).await, 10, "the stock came back");
    let count = |sql: &'static str| {
        let db = stack.state.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(leaving.user_id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        count("select count(*) from carts where user_id = $1").await,
        0
    );
    assert_eq!(
        count("select count(*) from wishlists where user_id = $1").await,
        0
    );
    assert_eq!(
        count("select count(*) from orders where user_id = $1 and status = 'cancelled'").await,
        2
    );

    // The deletion is delivered again (a lost acknowledgement, a replayed
    // stream): nothing more happens.
    let auth_events = stream_events(&url, &namespace, "AUTH").await;
    let (_, deletion) = auth_events
        .iter()
        .find(|(subject, _)| subject == "auth.user.deleted")
        .expect("auth published the deletion");
    let js = jetstream::new(async_nats::connect(&url).await.unwrap());
    let again = js
        .publish(
            format!("{namespace}.auth.user.deleted"),
            serde_json::to_vec(deletion).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence;
    let name = commerce_service::events::account_deleted::consumer_name(
        &common::events::Namespace::parse(&namespace).unwrap(),
    );
    let started = Instant::now();
    loop {
        let mut consumer: jetstream::consumer::PullConsumer = js
            .get_consumer_from_stream(&name, format!("{namespace}_AUTH"))
            .await
            .unwrap();
        let info = consumer.info().await.unwrap();
        let done = info.num_pending == 0 && info.num_ack_pending == 0;
        if info.delivered.stream_sequence >= again && done {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{info:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stack.stock_of(item.sku_id).await, 10, "no stock twice");
    assert_eq!(
        cancelled(&stream_events(&url, &namespace, "COMMERCE").await),
        2,
        "each order cancelled once"
    );
    delete_streams(&url, &namespace).await;
}
