//! A real commerce-service and a real auth-service, both on random ports:
//! commerce on the fresh database of `#[sqlx::test]`, auth on a schema of
//! its own in that same database, with Redis keys under a prefix of the
//! test's own. Helpers drive both over HTTP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use commerce_service::AppState;
use commerce_service::config::Settings;
use common::config::Env;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::oneshot;

pub const INTERNAL_TOKEN: &str = "dev-internal-token";

/// A running auth-service that a test can stop.
pub struct AuthService {
    pub base: String,
    pub state: auth_service::AppState,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl AuthService {
    /// Stops it: from now on commerce-service cannot reach it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

pub struct Stack {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub auth: AuthService,
}

/// Commerce settings for tests, with `extra` variables on top.
pub fn settings(auth_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut pairs = vec![
        ("AUTH_URL", auth_url),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000"),
    ];
    pairs.extend_from_slice(extra);
    Settings::load(&Env::from_pairs(pairs)).expect("test settings are valid")
}

async fn start_auth(pool: &PgPool, extra: &[(&str, &str)]) -> AuthService {
    sqlx::query("create schema if not exists auth")
        .execute(pool)
        .await
        .unwrap();
    let options = (*pool.connect_options())
        .clone()
        .options([("search_path", "auth")]);
    let auth_pool = PgPoolOptions::new()
        .max_connections(5)
        .connect_with(options)
        .await
        .unwrap();
    auth_service::MIGRATOR.run(&auth_pool).await.unwrap();
    let prefix = format!("test-commerce-{}", uuid::Uuid::new_v4().simple());
    let mut pairs = vec![
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("ARGON2_MEMORY_KIB", "256"),
        ("ARGON2_ITERATIONS", "1"),
        ("OTP_PER_IP_HOUR", "100000"),
        ("OTP_VERIFY_PER_IP_HOUR", "100000"),
        ("OTP_PER_NUMBER_HOUR", "1000"),
        // The buyers' numbers are sequential, in one range.
        ("SMS_PER_RANGE_HOUR", "1000"),
        ("SMS_CHALLENGE_EXEMPT", "127.0.0.1/32"),
        ("OTP_RESEND_SECONDS", "0"),
        ("LOGIN_PER_IP_HOUR", "100000"),
    ];
    pairs.extend_from_slice(extra);
    let auth_settings = auth_service::config::Settings::load(&Env::from_pairs(pairs)).unwrap();
    let state = auth_service::AppState::with_pool(auth_settings, auth_pool).unwrap();
    auth_service::events::start_relay(&state).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let app = auth_service::app(state.clone());
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    AuthService {
        base: format!("http://{addr}"),
        state,
        stop: Some(stop),
        task,
    }
}

/// Both services, markets `us`, `in`, `eu` seeded.
pub async fn spawn(pool: PgPool) -> Stack {
    spawn_with(pool, &[]).await
}

pub async fn spawn_with(pool: PgPool, extra: &[(&str, &str)]) -> Stack {
    spawn_on_bus(pool, &[], extra).await
}

/// Both services on an event bus: `bus` (`NATS_URL`, `NATS_NAMESPACE`)
/// goes to both, `extra` to commerce; auth's relay and commerce's
/// subscriptions run as in the binaries.
pub async fn spawn_on_bus(pool: PgPool, bus: &[(&str, &str)], extra: &[(&str, &str)]) -> Stack {
    common::telemetry::init_test_logging();
    commerce_service::catalog::seed::seed_markets(&pool)
        .await
        .unwrap();
    let auth = start_auth(&pool, bus).await;
    let mut commerce = bus.to_vec();
    commerce.extend_from_slice(extra);
    let state = AppState::with_pool(settings(&auth.base, &commerce), pool).unwrap();
    commerce_service::events::start(&state).await.unwrap();
    let base = serve(state.clone()).await;
    Stack {
        base,
        client: reqwest::Client::new(),
        state,
        auth,
    }
}

/// Serves a commerce app on a random port.
pub async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = commerce_service::app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

pub use common::testing::{expect_problem, read};

/// A signed-in customer of one market.
#[derive(Debug, Clone)]
pub struct Customer {
    pub user_id: i64,
    pub token: String,
}

/// A product created through the admin API, with one SKU.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub product_id: i64,
    pub sku_id: i64,
}

impl Stack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, token, None).await
    }

    /// Logs in by phone and code through auth-service, in `market`.
    pub async fn login(&self, phone: &str, market: &str) -> Customer {
        let auth = &self.auth.base;
        let sent = self
            .client
            .post(format!("{auth}/api/v1/auth/send-code"))
            .json(&json!({"phone": phone}))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
        let (_, outbox) = read(
            self.client
                .get(format!("{auth}/internal/v1/dev/sms-outbox"))
                .query(&[("phone", phone)])
                .bearer_auth(INTERNAL_TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let code = outbox["items"][0]["code"].as_str().unwrap().to_owned();
        let (status, pair) = read(
            self.client
                .post(format!("{auth}/api/v1/auth/verify-code"))
                .header("x-market", market)
                .json(&json!({"phone": phone, "verification_code": code}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{pair}");
        Customer {
            user_id: pair["user"]["id"].as_i64().unwrap(),
            token: pair["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Calls auth-service with a customer's token (logout, logout-all, ...).
    pub async fn auth_call(&self, method: Method, path: &str, token: &str) -> StatusCode {
        self.client
            .request(method, format!("{}{path}", self.auth.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// An admin's access token.
    pub async fn admin_token(&self) -> String {
        // The first admin has no HTTP route (as in production, where
        // `auth-service create-admin` makes it): the same use case here.
        auth_service::cli::create_admin_account(
            &self.auth.state.accounts,
            "admin@example.com",
            "admin-password",
        )
        .await
        .unwrap();
        let (status, pair) = read(
            self.client
                .post(format!("{}/api/v1/auth/login", self.auth.base))
                .json(&json!({"email": "admin@example.com", "password": "admin-password"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{pair}");
        pair["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a product with one SKU of `stock`, priced in `prices`.
    pub async fn create_item(&self, admin: &str, slug: &str, stock: i64, prices: Value) -> Item {
        let body = json!({
            "slug": slug, "name": format!("Product {slug}"), "description": "A thing",
            "skus": [{"code": format!("{slug}-sku"), "attributes": {"size": "M"}, "stock": stock, "prices": prices}],
        });
        let (status, product) = read(
            self.call(Method::POST, "/api/v1/admin/products", admin, Some(body))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{product}");
        Item {
            product_id: product["id"].as_i64().unwrap(),
            sku_id: product["skus"][0]["id"].as_i64().unwrap(),
        }
    }

    pub async fn add_to_cart(&self, customer: &Customer, sku_id: i64, quantity: i64) -> Response {
        self.call(
            Method::POST,
            "/api/v1/cart/items",
            &customer.token,
            Some(json!({"sku_id": sku_id, "quantity": quantity})),
        )
        .await
    }

    pub async fn checkout(&self, customer: &Customer, key: &str) -> Response {
        self.client
            .post(self.url("/api/v1/orders"))
            .bearer_auth(&customer.token)
            .header("idempotency-key", key)
            .json(&json!({"note": "leave at the door"}))
            .send()
            .await
            .unwrap()
    }

    pub async fn stock_of(&self, sku_id: i64) -> i32 {
        sqlx::query_scalar("select stock from skus where id = $1")
            .bind(sku_id)
            .fetch_one(&self.state.db)
            .await
            .unwrap()
    }

    pub async fn order_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from orders")
            .fetch_one(&self.state.db)
            .await
            .unwrap()
    }
}

/// Polls `/cart` until it is refused with `code`; returns how long that took.
pub async fn refused_within(stack: &Stack, token: &str, code: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let response = stack.get("/api/v1/cart", token).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            expect_problem(response, 401, code).await;
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still accepted after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
