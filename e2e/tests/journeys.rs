//! The mobile app's journeys, played through the real nginx gateway against
//! the real service binaries.
//!
//! By default this starts its own stacks (on free ports, with databases and
//! Redis keys of their own, removed afterwards). With `E2E_BASE_URL` set it
//! targets an existing deployment instead (e.g. docker-compose); then
//! `E2E_AUTH_URL` (default `http://127.0.0.1:8081`) reaches auth-service's
//! development SMS outbox, and `ADMIN_EMAIL` / `ADMIN_PASSWORD` its admin.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use libtest_mimic::{Arguments, Failed, Trial};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use xtask::stack::{Stack, StackConfig, free_port};

/// How long a revocation may take to reach commerce-service (its status
/// cache lives 2 s) plus a margin for the round trips.
const REVOCATION_BOUND: Duration = Duration::from_secs(3);

/// Where the journeys send their requests.
struct Target {
    gateway: String,
    auth_internal: String,
    admin_email: String,
    admin_password: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn bin_dir() -> PathBuf {
    // target/<profile>/deps/journeys-<hash> -> target/<profile>
    let exe = std::env::current_exe().expect("the test binary knows its path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("a target directory")
        .to_path_buf()
}

/// A stack of our own, on free ports, with `extra` variables for both services.
fn own_stack(name: &str, extra: &[(&str, &str)]) -> anyhow::Result<Stack> {
    let id = format!("{name}_{}", std::process::id());
    let work_dir = bin_dir().join(format!("e2e-{id}"));
    let _ = std::fs::remove_dir_all(&work_dir);
    let config = StackConfig {
        gateway_port: free_port()?,
        auth_port: free_port()?,
        commerce_port: free_port()?,
        postgres_url: xtask::postgres_server_url(),
        auth_database: format!("e2e_auth_{id}"),
        commerce_database: format!("e2e_commerce_{id}"),
        redis_url: xtask::redis_url(),
        redis_key_prefix: format!("e2e-{id}"),
        bin_dir: bin_dir(),
        work_dir,
        admin_email: "admin@example.com".to_owned(),
        admin_password: "admin-dev-password".to_owned(),
        extra_env: extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    Stack::start(config)
        .context("starting an end-to-end stack (build the binaries first: cargo xtask test does)")
}

fn target_of(stack: &Stack) -> Target {
    Target {
        gateway: stack.config.gateway_url(),
        auth_internal: stack.config.auth_url(),
        admin_email: stack.config.admin_email.clone(),
        admin_password: stack.config.admin_password.clone(),
    }
}

fn drop_stack(stack: Stack) {
    let config = stack.config.clone();
    drop(stack);
    for database in [&config.auth_database, &config.commerce_database] {
        if let Err(error) =
            xtask::database::drop_database(&format!("{}/{database}", config.postgres_url))
        {
            eprintln!("e2e: could not drop {database}: {error:#}");
        }
    }
    let _ = std::fs::remove_dir_all(&config.work_dir);
}

/// Phone numbers unique to this run (and valid: Chicago's 312 area).
fn next_phone() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id() % 9000;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("+1312805{:04}", (seed + n * 7) % 9000 + 1000)
}

/// A client of the deployment, as the app and the admin panel are.
struct App {
    target: Arc<Target>,
    http: reqwest::Client,
}

/// A signed-in customer.
#[derive(Debug, Clone)]
struct Session {
    user_id: i64,
    access: String,
    refresh: String,
}

impl Session {
    fn of(pair: &Value) -> anyhow::Result<Session> {
        Ok(Session {
            user_id: pair["user"]["id"].as_i64().context("user.id")?,
            access: pair["access_token"]
                .as_str()
                .context("access_token")?
                .to_owned(),
            refresh: pair["refresh_token"]
                .as_str()
                .context("refresh_token")?
                .to_owned(),
        })
    }
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

impl App {
    fn new(target: Arc<Target>) -> Self {
        Self {
            target,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.target.gateway)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Ok(request.send().await?)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        Ok(json_of(self.send(method, path, Some(token), body).await?).await)
    }

    /// Sends a code, waiting out a resend cooldown as the app's timer would.
    async fn send_code(&self, phone: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(70);
        loop {
            let response = self
                .send(
                    Method::POST,
                    "/api/v1/auth/send-code",
                    None,
                    Some(json!({"phone": phone})),
                )
                .await?;
            if response.status() == StatusCode::ACCEPTED {
                return Ok(());
            }
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let (status, body) = json_of(response).await;
            match wait {
                Some(seconds)
                    if status == StatusCode::TOO_MANY_REQUESTS && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_secs(seconds)).await;
                }
                _ => anyhow::bail!("send-code answered {status}: {body}"),
            }
        }
    }

    async fn latest_code(&self, phone: &str) -> anyhow::Result<String> {
        let response = self
            .http
            .get(format!(
                "{}/internal/v1/dev/sms-outbox",
                self.target.auth_internal
            ))
            .query(&[("phone", phone)])
            .bearer_auth(env_or("INTERNAL_API_TOKEN", "dev-internal-token"))
            .send()
            .await?;
        let (status, body) = json_of(response).await;
        ensure!(
            status == StatusCode::OK,
            "sms-outbox answered {status}: {body}"
        );
        Ok(body["items"][0]["code"]
            .as_str()
            .context("a code in the outbox")?
            .to_owned())
    }

    async fn login(&self, phone: &str) -> anyhow::Result<Session> {
        self.send_code(phone).await?;
        let code = self.latest_code(phone).await?;
        let response = self
            .send(
                Method::POST,
                "/api/v1/auth/verify-code",
                None,
                Some(
                    json!({"phone": phone, "verification_code": code, "device_name": "e2e phone"}),
                ),
            )
            .await?;
        let (status, pair) = json_of(response).await;
        ensure!(
            status == StatusCode::OK,
            "verify-code answered {status}: {pair}"
        );
        Session::of(&pair)
    }

    async fn admin(&self) -> anyhow::Result<String> {
        let body =
            json!({"email": self.target.admin_email, "password": self.target.admin_password});
        let (status, pair) = json_of(
            self.send(Method::POST, "/api/v1/auth/login", None, Some(body))
                .await?,
        )
        .await;
        ensure!(
            status == StatusCode::OK,
            "admin login answered {status}: {pair}"
        );
        Ok(pair["access_token"]
            .as_str()
            .context("access_token")?
            .to_owned())
    }

    async fn refresh(&self, refresh_token: &str) -> anyhow::Result<(StatusCode, Value)> {
        Ok(json_of(
            self.send(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": refresh_token})),
            )
            .await?,
        )
        .await)
    }

    /// A SKU of the seeded catalog with stock.
    async fn some_sku(&self, nth: usize) -> anyhow::Result<(i64, i64)> {
        let (status, page) = json_of(
            self.send(Method::GET, "/api/v1/products?per_page=100", None, None)
                .await?,
        )
        .await;
        ensure!(status == StatusCode::OK, "products answered {status}");
        let products = page["items"].as_array().context("items")?;
        ensure!(
            products.len() >= 20,
            "the demo catalog has at least 20 products"
        );
        let product = &products[nth % products.len()];
        let sku = product["skus"]
            .as_array()
            .and_then(|skus| skus.iter().find(|s| s["in_stock"] == true))
            .context("a SKU in stock")?;
        Ok((
            product["id"].as_i64().context("id")?,
            sku["id"].as_i64().context("sku id")?,
        ))
    }

    /// Polls `GET /cart` until it is refused with `code`, within `bound`.
    async fn refused_within(&self, token: &str, code: &str, bound: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let (status, body) = self.call(Method::GET, "/api/v1/cart", token, None).await?;
            if status == StatusCode::UNAUTHORIZED {
                ensure!(body["code"] == code, "refused with {body}, expected {code}");
                return Ok(());
            }
            ensure!(status == StatusCode::OK, "cart answered {status}: {body}");
            ensure!(
                started.elapsed() < bound,
                "still accepted {:?} after the change",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn block_on(journey: impl std::future::Future<Output = anyhow::Result<()>>) -> Result<(), Failed> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?
        .block_on(journey)
        .map_err(|error| Failed::from(format!("{error:#}")))
}

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

fn trial<F, Fut>(name: &'static str, target: &Arc<Target>, journey: F) -> Trial
where
    F: FnOnce(App) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let target = target.clone();
    Trial::test(name, move || block_on(journey(App::new(target))))
}

fn main() -> anyhow::Result<()> {
    let args = Arguments::from_args();
    let external = std::env::var("E2E_BASE_URL").ok();
    let (main_target, short_target, stacks) = match &external {
        Some(base) => {
            let target = Arc::new(Target {
                gateway: base.trim_end_matches('/').to_owned(),
                auth_internal: env_or("E2E_AUTH_URL", "http://127.0.0.1:8081"),
                admin_email: env_or("ADMIN_EMAIL", "admin@example.com"),
                admin_password: env_or("ADMIN_PASSWORD", "admin-dev-password"),
            });
            (target, None, Vec::new())
        }
        None => {
            let fast_codes = [("OTP_RESEND_SECONDS", "1")];
            let main = own_stack("main", &fast_codes)?;
            // Three-second access tokens with no leeway, to watch one expire.
            let short = own_stack(
                "short",
                &[
                    ("OTP_RESEND_SECONDS", "1"),
                    ("ACCESS_TOKEN_TTL_SECONDS", "3"),
                    ("JWT_LEEWAY_SECONDS", "0"),
                ],
            )?;
            (
                Arc::new(target_of(&main)),
                Some(Arc::new(target_of(&short))),
                vec![main, short],
            )
        }
    };
    let mut trials = vec![
        trial(
            "the_documented_journey_keeps_the_cart_across_logout",
            &main_target,
            the_documented_journey_keeps_the_cart_across_logout,
        ),
        trial(
            "refresh_reuse_ends_the_session",
            &main_target,
            refresh_reuse_ends_the_session,
        ),
        trial(
            "logout_all_ends_every_device",
            &main_target,
            logout_all_ends_every_device,
        ),
        trial(
            "deactivation_takes_effect_and_activation_restores_the_cart",
            &main_target,
            deactivation_takes_effect_and_activation_restores_the_cart,
        ),
        trial(
            "an_order_is_followed_through_every_status",
            &main_target,
            an_order_is_followed_through_every_status,
        ),
        trial(
            "the_gateway_hides_internals_and_speaks_problem_json",
            &main_target,
            the_gateway_hides_internals_and_speaks_problem_json,
        ),
    ];
    trials.push(match &short_target {
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
    for stack in stacks {
        drop_stack(stack);
    }
    conclusion.exit()
}
