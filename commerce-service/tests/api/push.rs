//! Pushed revocation: auth-service's outbox relay publishes every
//! token-ending change to JetStream, commerce follows the stream and drops
//! the cached status at once, and trusts cached answers past the short TTL
//! only while the push is healthy. Against the machine's NATS server (a
//! namespace per test) or, where the bus is killed, a server of the test's
//! own.

use std::time::{Duration, Instant};

use common::testing::{NatsServer, delete_streams, nats_namespace, shared_nats_url};
use reqwest::{Method, StatusCode};
use sqlx::PgPool;

use crate::support::{Stack, read, refused_within, spawn_on_bus};

/// Waits until commerce's push is healthy (subscribed, a fresh watermark).
async fn push_healthy(stack: &Stack) {
    let started = Instant::now();
    while !stack.state.token_status.push().healthy() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the revocation push never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn cart_ok(stack: &Stack, token: &str) {
    assert_eq!(
        stack.get("/api/v1/cart", token).await.status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn logout_logout_all_and_deactivation_are_refused_at_once_though_answers_are_cached_for_a_minute(
    pool: PgPool,
) {
    let (url, namespace) = (shared_nats_url(), nats_namespace());
    let bus = [("NATS_URL", url.as_str()), ("NATS_NAMESPACE", &namespace)];
    // Without the push, a revocation would take up to 60 s to bite here.
    let cached = [
        ("STATUS_CACHE_TTL_MS", "60000"),
        ("STATUS_CACHE_PUSHED_TTL_MS", "120000"),
    ];
    let stack = spawn_on_bus(pool, &bus, &cached).await;
    push_healthy(&stack).await;
    let admin = stack.admin_token().await;
    let bound = Duration::from_secs(5);

    let leaving = stack.login("+13128059851", "us").await;
    cart_ok(&stack, &leaving.token).await;
    let logout = stack
        .auth_call(Method::POST, "/api/v1/auth/logout", &leaving.token)
        .await;
    assert_eq!(logout, StatusCode::NO_CONTENT);
    refused_within(&stack, &leaving.token, "token_revoked", bound).await;

    let phone = stack.login("+13128059852", "us").await;
    let tablet = stack.login("+13128059852", "us").await;
    cart_ok(&stack, &tablet.token).await;
    let everywhere = stack
        .auth_call(Method::POST, "/api/v1/auth/logout-all", &phone.token)
        .await;
    assert_eq!(everywhere, StatusCode::NO_CONTENT);
    refused_within(&stack, &tablet.token, "token_revoked", bound).await;

    let banned = stack.login("+13128059853", "us").await;
    cart_ok(&stack, &banned.token).await;
    let path = format!("/api/v1/admin/users/{}/deactivate", banned.user_id);
    assert_eq!(
        stack.auth_call(Method::POST, &path, &admin).await,
        StatusCode::OK
    );
    refused_within(&stack, &banned.token, "user_inactive", bound).await;
    // Reactivated: the cached "inactive" goes too, and the old token is
    // refused for what auth now says (its session ended).
    let path = format!("/api/v1/admin/users/{}/activate", banned.user_id);
    assert_eq!(
        stack.auth_call(Method::POST, &path, &admin).await,
        StatusCode::OK
    );
    let started = Instant::now();
    loop {
        let (status, body) = read(stack.get("/api/v1/cart", &banned.token).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        if body["code"] == "token_revoked" {
            break;
        }
        assert!(started.elapsed() < bound, "still {body} after {bound:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    delete_streams(&url, &namespace).await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn with_the_push_healthy_a_live_session_costs_auth_one_call_past_the_short_ttl(pool: PgPool) {
    let (url, namespace) = (shared_nats_url(), nats_namespace());
    let bus = [("NATS_URL", url.as_str()), ("NATS_NAMESPACE", &namespace)];
    let ttls = [
        ("STATUS_CACHE_TTL_MS", "300"),
        ("STATUS_CACHE_PUSHED_TTL_MS", "60000"),
    ];
    let stack = spawn_on_bus(pool, &bus, &ttls).await;
    push_healthy(&stack).await;
    let shopper = stack.login("+13128059854", "us").await;
    let calls = stack.state.token_status.calls();
    for _ in 0..5 {
        cart_ok(&stack, &shopper.token).await;
        // Each pause is longer than the short TTL.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(stack.state.token_status.calls() - calls, 1);
    delete_streams(&url, &namespace).await;
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_lost_bus_falls_back_to_the_short_ttl_and_revocation_still_holds(pool: PgPool) {
    let mut nats = NatsServer::start();
    let (url, namespace) = (nats.url(), nats_namespace());
    let bus = [("NATS_URL", url.as_str()), ("NATS_NAMESPACE", &namespace)];
    let ttls = [
        ("STATUS_CACHE_TTL_MS", "1000"),
        ("STATUS_CACHE_PUSHED_TTL_MS", "120000"),
    ];
    let stack = spawn_on_bus(pool, &bus, &ttls).await;
    push_healthy(&stack).await;
    let shopper = stack.login("+13128059855", "us").await;
    cart_ok(&stack, &shopper.token).await;
    // Older than the short TTL: served only because the push vouches.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = stack.state.token_status.calls();
    cart_ok(&stack, &shopper.token).await;
    assert_eq!(stack.state.token_status.calls(), calls, "served from cache");

    nats.kill();
    let started = Instant::now();
    while stack.state.token_status.push().healthy() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still trusting a dead bus"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The logout is answered though nothing can be published.
    let logout = stack
        .auth_call(Method::POST, "/api/v1/auth/logout", &shopper.token)
        .await;
    assert_eq!(logout, StatusCode::NO_CONTENT);
    // No push, yet the revocation bites within the short TTL.
    refused_within(
        &stack,
        &shopper.token,
        "token_revoked",
        Duration::from_millis(2500),
    )
    .await;

    // The bus comes back: the push heals, and the event left in the outbox
    // while it was down is published then.
    nats.restart();
    push_healthy(&stack).await;
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    let stream = js.get_stream(format!("{namespace}_AUTH")).await.unwrap();
    let logout = stream
        .get_last_raw_message_by_subject(&format!("{namespace}.auth.session.ended"))
        .await
        .expect("the logout was published once the bus was back");
    let event: serde_json::Value = serde_json::from_slice(&logout.payload).unwrap();
    assert_eq!(event["data"]["reason"], "logout");
    assert_eq!(event["data"]["user_id"], shopper.user_id);
}
