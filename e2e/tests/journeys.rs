//! The mobile app's journeys, played through the real nginx gateway against
//! the real service binaries.
//!
//! By default this starts its own stacks (on free ports, with databases and
//! Redis keys of their own, removed afterwards). With `E2E_BASE_URL` set it
//! targets an existing deployment instead (e.g. docker-compose); then
//! `E2E_AUTH_URL` (default `http://127.0.0.1:8081`) reaches auth-service's
//! development SMS outbox, and `ADMIN_EMAIL` / `ADMIN_PASSWORD` its admin.

use std::time::Duration;

use anyhow::{Context, ensure};
use e2e::app::{App, Session, json_of, next_phone};
use e2e::harness::trial;
use e2e::stacks::Targets;
use libtest_mimic::{Arguments, Trial};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// How long a revocation may take to reach commerce-service (its status
/// cache lives 2 s) plus a margin for the round trips.
const REVOCATION_BOUND: Duration = Duration::from_secs(3);

/// Log in, fill the cart, log out, log in again: the cart is still there.
async fn the_documented_journey_keeps_the_cart_across_logout(app: App) -> anyhow::Result<()> {
    let phone = next_phone();
    let first = app.login(&phone).await?;
    let (_, sku) = app.some_sku(1).await?;
    let (status, cart) = app
        .call(
            Method::POST,
            "/api/v1/cart/items",
            &first.access,
            Some(json!({"sku_id": sku, "quantity": 2})),
        )
        .await?;
    ensure!(
        status == StatusCode::OK,
        "add to cart answered {status}: {cart}"
    );
    let response = app
        .send(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&first.access),
            None,
        )
        .await?;
    ensure!(
        response.status() == StatusCode::NO_CONTENT,
        "logout answered {}",
        response.status()
    );
    app.refused_within(&first.access, "token_revoked", REVOCATION_BOUND)
        .await?;

    let second = app.login(&phone).await?;
    ensure!(
        second.access != first.access,
        "a new login gets a new token"
    );
    ensure!(
        second.user_id == first.user_id,
        "the same number is the same user"
    );
    let (status, cart) = app
        .call(Method::GET, "/api/v1/cart", &second.access, None)
        .await?;
    ensure!(status == StatusCode::OK, "cart answered {status}");
    let line = cart["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["sku_id"] == sku))
        .context("the cart still holds the SKU")?;
    ensure!(line["quantity"] == 2, "with quantity 2: {line}");
    Ok(())
}

/// An expired access token is refreshed; the refreshed one works.
async fn an_expired_access_token_is_refreshed(app: App) -> anyhow::Result<()> {
    let session = app.login(&next_phone()).await?;
    let (status, _) = app
        .call(Method::GET, "/api/v1/cart", &session.access, None)
        .await?;
    ensure!(status == StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let (status, body) = app
        .call(Method::GET, "/api/v1/cart", &session.access, None)
        .await?;
    ensure!(
        status == StatusCode::UNAUTHORIZED && body["code"] == "token_expired",
        "expired token: {status} {body}"
    );
    let (status, pair) = app.refresh(&session.refresh).await?;
    ensure!(
        status == StatusCode::OK,
        "refresh answered {status}: {pair}"
    );
    let renewed = Session::of(&pair)?;
    let (status, _) = app
        .call(Method::GET, "/api/v1/cart", &renewed.access, None)
        .await?;
    ensure!(status == StatusCode::OK, "the refreshed token works");
    Ok(())
}

/// A stolen, rotated-away refresh token kills its session.
async fn refresh_reuse_ends_the_session(app: App) -> anyhow::Result<()> {
    let session = app.login(&next_phone()).await?;
    let (_, second) = app.refresh(&session.refresh).await?;
    let second = Session::of(&second)?;
    let (_, third) = app.refresh(&second.refresh).await?;
    let third = Session::of(&third)?;
    let (status, body) = app.refresh(&session.refresh).await?;
    ensure!(
        status == StatusCode::UNAUTHORIZED && body["code"] == "refresh_reused",
        "reuse: {status} {body}"
    );
    let (status, body) = app.refresh(&third.refresh).await?;
    ensure!(
        body["code"] == "refresh_invalid",
        "the live token died with its session: {status} {body}"
    );
    app.refused_within(&third.access, "token_revoked", REVOCATION_BOUND)
        .await
}

/// Logout-all ends the sessions of every device.
async fn logout_all_ends_every_device(app: App) -> anyhow::Result<()> {
    let phone = next_phone();
    let phone_app = app.login(&phone).await?;
    let tablet_app = app.login(&phone).await?;
    for device in [&phone_app, &tablet_app] {
        let (status, _) = app
            .call(Method::GET, "/api/v1/cart", &device.access, None)
            .await?;
        ensure!(status == StatusCode::OK);
    }
    let response = app
        .send(
            Method::POST,
            "/api/v1/auth/logout-all",
            Some(&phone_app.access),
            None,
        )
        .await?;
    ensure!(
        response.status() == StatusCode::NO_CONTENT,
        "logout-all answered {}",
        response.status()
    );
    app.refused_within(&phone_app.access, "token_revoked", REVOCATION_BOUND)
        .await?;
    app.refused_within(&tablet_app.access, "token_revoked", REVOCATION_BOUND)
        .await
}

/// An admin deactivates a user: refused within 3 s; activated, the user
/// logs in again and finds the cart intact.
async fn deactivation_takes_effect_and_activation_restores_the_cart(
    app: App,
) -> anyhow::Result<()> {
    let admin = app.admin().await?;
    let phone = next_phone();
    let user = app.login(&phone).await?;
    let (_, sku) = app.some_sku(2).await?;
    app.call(
        Method::POST,
        "/api/v1/cart/items",
        &user.access,
        Some(json!({"sku_id": sku, "quantity": 1})),
    )
    .await?;
    let path = format!("/api/v1/admin/users/{}/deactivate", user.user_id);
    let (status, body) = app.call(Method::POST, &path, &admin, None).await?;
    ensure!(
        status == StatusCode::OK && body["is_active"] == false,
        "deactivate: {status} {body}"
    );
    app.refused_within(&user.access, "user_inactive", REVOCATION_BOUND)
        .await?;

    let path = format!("/api/v1/admin/users/{}/activate", user.user_id);
    let (status, _) = app.call(Method::POST, &path, &admin, None).await?;
    ensure!(status == StatusCode::OK);
    let again = app.login(&phone).await?;
    ensure!(again.user_id == user.user_id);
    let (_, cart) = app
        .call(Method::GET, "/api/v1/cart", &again.access, None)
        .await?;
    ensure!(
        cart["items"][0]["sku_id"] == sku,
        "the cart is intact: {cart}"
    );
    Ok(())
}

/// Browse, wishlist, checkout; the admin walks the order through every status.
async fn an_order_is_followed_through_every_status(app: App) -> anyhow::Result<()> {
    let admin = app.admin().await?;
    let buyer = app.login(&next_phone()).await?;
    let (status, found) = json_of(
        app.send(Method::GET, "/api/v1/products?q=mug", None, None)
            .await?,
    )
    .await;
    ensure!(
        status == StatusCode::OK && found["total"].as_i64() >= Some(1),
        "search: {found}"
    );
    let (product, sku) = app.some_sku(3).await?;
    let (status, detail) = json_of(
        app.send(
            Method::GET,
            &format!("/api/v1/products/{product}"),
            None,
            None,
        )
        .await?,
    )
    .await;
    ensure!(
        status == StatusCode::OK && detail["id"] == product,
        "detail: {detail}"
    );
    let (status, wishlist) = app
        .call(
            Method::POST,
            "/api/v1/wishlist/items",
            &buyer.access,
            Some(json!({"product_id": product})),
        )
        .await?;
    ensure!(
        status == StatusCode::OK && wishlist["items"][0]["product_id"] == product,
        "wishlist: {wishlist}"
    );

    app.call(
        Method::POST,
        "/api/v1/cart/items",
        &buyer.access,
        Some(json!({"sku_id": sku, "quantity": 1})),
    )
    .await?;
    let checkout = || {
        app.http
            .post(app.url("/api/v1/orders"))
            .bearer_auth(&buyer.access)
            .header("idempotency-key", "e2e-order-1")
            .json(&json!({"note": "ring twice"}))
            .send()
    };
    let (status, order) = json_of(checkout().await?).await;
    ensure!(status == StatusCode::CREATED, "checkout: {status} {order}");
    let replay = checkout().await?;
    ensure!(
        replay.headers().get("idempotent-replayed").is_some(),
        "a retried checkout replays"
    );
    let (status, replayed) = json_of(replay).await;
    ensure!(
        status == StatusCode::OK && replayed["id"] == order["id"],
        "the same order: {replayed}"
    );

    let id = order["id"].as_i64().context("order id")?;
    for next in ["confirmed", "processing", "shipped", "delivered"] {
        let (status, moved) = app
            .call(
                Method::POST,
                &format!("/api/v1/admin/orders/{id}/status"),
                &admin,
                Some(json!({"status": next})),
            )
            .await?;
        ensure!(
            status == StatusCode::OK && moved["status"] == next,
            "move to {next}: {status} {moved}"
        );
    }
    let (status, mine) = app
        .call(
            Method::GET,
            &format!("/api/v1/orders/{id}"),
            &buyer.access,
            None,
        )
        .await?;
    ensure!(status == StatusCode::OK);
    let history: Vec<&str> = mine["status_history"]
        .as_array()
        .context("history")?
        .iter()
        .filter_map(|h| h["status"].as_str())
        .collect();
    ensure!(
        history == ["pending", "confirmed", "processing", "shipped", "delivered"],
        "history: {history:?}"
    );
    Ok(())
}

/// The gateway itself: no internal routes, request ids, body limit.
async fn the_gateway_hides_internals_and_speaks_problem_json(app: App) -> anyhow::Result<()> {
    let response = app
        .http
        .post(app.url("/internal/v1/token-status"))
        .header("x-request-id", "e2e-trace.1")
        .json(&json!({"user_id": 1, "session_id": "00000000-0000-0000-0000-000000000000", "issued_at": 0}))
        .send()
        .await?;
    ensure!(
        response.status() == StatusCode::NOT_FOUND,
        "internal routes are not routed"
    );
    ensure!(
        response.headers()["x-request-id"] == "e2e-trace.1",
        "a valid request id is kept"
    );
    let (_, body) = json_of(response).await;
    ensure!(
        body["code"] == "not_found" && body["request_id"] == "e2e-trace.1",
        "{body}"
    );

    let response = app
        .http
        .get(app.url("/api/v1/markets"))
        .header("x-request-id", "bad id!")
        .send()
        .await?;
    let id = response.headers()["x-request-id"].to_str()?.to_owned();
    ensure!(
        id != "bad id!" && !id.is_empty(),
        "an invalid request id is replaced"
    );
    let (status, markets) = json_of(response).await;
    ensure!(
        status == StatusCode::OK && markets["items"].as_array().map(Vec::len) == Some(3),
        "{markets}"
    );

    let big = json!({"phone": "x".repeat(70 * 1024)});
    let response = app
        .send(Method::POST, "/api/v1/auth/send-code", None, Some(big))
        .await?;
    ensure!(response.status() == StatusCode::PAYLOAD_TOO_LARGE);
    ensure!(response.headers()["content-type"] == "application/problem+json");
    let (_, body) = json_of(response).await;
    ensure!(body["code"] == "payload_too_large", "{body}");

    let (status, body) = json_of(app.send(Method::GET, "/nowhere", None, None).await?).await;
    ensure!(
        status == StatusCode::NOT_FOUND && body["code"] == "not_found",
        "{body}"
    );
    Ok(())
}

/// Shop as a guest, log in, merge the guest cart, and check out at the
/// price shown: the app's whole first purchase.
async fn a_guest_cart_is_merged_on_login_and_bought_at_the_price_seen(
    app: App,
) -> anyhow::Result<()> {
    let (_, sku) = app.some_sku(2).await?;
    let (status, created) = json_of(
        app.send(Method::POST, "/api/v1/guest-cart", None, None)
            .await?,
    )
    .await;
    ensure!(
        status == StatusCode::CREATED,
        "guest cart: {status} {created}"
    );
    let token = created["cart_token"]
        .as_str()
        .context("cart_token")?
        .to_owned();
    let guest = |method: Method, path: &str| {
        app.http
            .request(method, app.url(path))
            .header("x-cart-token", &token)
    };
    let (status, cart) = json_of(
        guest(Method::POST, "/api/v1/guest-cart/items")
            .json(&json!({"sku_id": sku, "quantity": 2}))
            .send()
            .await?,
    )
    .await;
    ensure!(status == StatusCode::OK, "guest add: {status} {cart}");
    let unchanged = guest(Method::GET, "/api/v1/guest-cart")
        .header("if-none-match", format!("\"{}\"", cart["version"]))
        .send()
        .await?;
    ensure!(
        unchanged.status() == StatusCode::NOT_MODIFIED,
        "an unchanged guest cart revalidates: {}",
        unchanged.status()
    );

    let buyer = app.login(&next_phone()).await?;
    let (status, merged) = app
        .call(
            Method::POST,
            "/api/v1/cart/merge",
            &buyer.access,
            Some(json!({"cart_token": token})),
        )
        .await?;
    ensure!(status == StatusCode::OK, "merge: {status} {merged}");
    let line = merged["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["sku_id"] == sku))
        .context("the merged cart holds the guest's line")?;
    ensure!(line["quantity"] == 2, "with its quantity: {line}");
    let gone = guest(Method::GET, "/api/v1/guest-cart").send().await?;
    ensure!(
        gone.status() == StatusCode::NOT_FOUND,
        "a merged guest cart is consumed: {}",
        gone.status()
    );

    let total = merged["subtotal_minor"].as_i64().context("subtotal")?;
    let (status, order) = json_of(
        app.http
            .post(app.url("/api/v1/orders"))
            .bearer_auth(&buyer.access)
            .header("idempotency-key", "e2e-guest-order")
            .header("if-match", format!("\"{}\"", merged["version"]))
            .json(&json!({"expected_total_minor": total}))
            .send()
            .await?,
    )
    .await;
    ensure!(
        status == StatusCode::CREATED && order["total_minor"] == total,
        "checkout at the price seen: {status} {order}"
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Arguments::from_args();
    let targets = Targets::from_env()?;
    let main_target = &targets.main;
    let mut trials = vec![
        trial(
            "the_documented_journey_keeps_the_cart_across_logout",
            main_target,
            the_documented_journey_keeps_the_cart_across_logout,
        ),
        trial(
            "refresh_reuse_ends_the_session",
            main_target,
            refresh_reuse_ends_the_session,
        ),
        trial(
            "logout_all_ends_every_device",
            main_target,
            logout_all_ends_every_device,
        ),
        trial(
            "deactivation_takes_effect_and_activation_restores_the_cart",
            main_target,
            deactivation_takes_effect_and_activation_restores_the_cart,
        ),
        trial(
            "an_order_is_followed_through_every_status",
            main_target,
            an_order_is_followed_through_every_status,
        ),
        trial(
            "a_guest_cart_is_merged_on_login_and_bought_at_the_price_seen",
            main_target,
            a_guest_cart_is_merged_on_login_and_bought_at_the_price_seen,
        ),
        trial(
            "the_gateway_hides_internals_and_speaks_problem_json",
            main_target,
            the_gateway_hides_internals_and_speaks_problem_json,
        ),
    ];
    trials.push(match &targets.short_tokens {
        Some(short) => trial(
            "an_expired_access_token_is_refreshed",
            short,
            an_expired_access_token_is_refreshed,
        ),
        // A deployment's token lifetime is its own; this journey needs a short one.
        None => {
            Trial::test("an_expired_access_token_is_refreshed", || Ok(())).with_ignored_flag(true)
        }
    });
    let conclusion = libtest_mimic::run(&args, trials);
    // Whole runs only: a filtered one may not reach every replica.
    let balanced = if args.filter.is_none() && !conclusion.has_failed() {
        every_replica_served(&targets)
    } else {
        Ok(())
    };
    targets.finish();
    if let Err(error) = balanced {
        eprintln!("error: {error:#}");
        std::process::exit(101);
    }
    conclusion.exit()
}

/// Each replica of each service served some of the journeys' API requests
/// (read from its own `http_requests_total`): the gateway balances over all
/// of them, and the journeys passed whichever replica they landed on.
fn every_replica_served(targets: &Targets) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for service in ["auth-service", "commerce-service"] {
            for (name, url) in targets.main_replicas(service) {
                let metrics = client
                    .get(format!("{url}/metrics"))
                    .send()
                    .await?
                    .text()
                    .await?;
                let served: f64 = metrics
                    .lines()
                    .filter(|line| {
                        line.starts_with("http_requests_total{")
                            && line.contains(r#"route="/api/v1/"#)
                    })
                    .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum();
                ensure!(
                    served > 0.0,
                    "{name} served no API request: the gateway does not balance over it"
                );
                println!("{name} served {served} of the journeys' API requests");
            }
        }
        Ok(())
    })
}
