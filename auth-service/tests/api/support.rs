//! A real auth-service on a random port, against a fresh PostgreSQL
//! database (from `#[sqlx::test]`) and the real Redis with a key prefix of
//! its own, plus one helper per endpoint.

use std::net::SocketAddr;

use auth_service::AppState;
use auth_service::config::Settings;
use common::claims::Role;
use common::config::Env;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

pub const INTERNAL_TOKEN: &str = "dev-internal-token";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
}

/// Settings for tests: cheap Argon2, per-IP caps raised (every test comes
/// from 127.0.0.1), a Redis key prefix of the test's own.
pub fn test_settings(extra: &[(&str, &str)]) -> Settings {
    let prefix = format!("test-auth-{}", uuid::Uuid::new_v4().simple());
    // `cargo xtask test` runs this suite once more against a Redis Cluster.
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let mut pairs: Vec<(&str, &str)> = vec![
        ("REDIS_URL", redis_url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("ARGON2_MEMORY_KIB", "256"),
        ("ARGON2_ITERATIONS", "1"),
        ("OTP_PER_IP_HOUR", "10000"),
        ("OTP_VERIFY_PER_IP_HOUR", "10000"),
        ("LOGIN_PER_IP_HOUR", "10000"),
        // The suite sends every code from here: never asked for a challenge.
        ("SMS_CHALLENGE_EXEMPT", "127.0.0.1/32"),
        ("REDIS_TIMEOUT_MS", "1000"),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000"),
    ];
    pairs.extend_from_slice(extra);
    Settings::load(&Env::from_pairs(pairs)).expect("test settings are valid")
}

pub async fn spawn(pool: PgPool) -> TestApp {
    spawn_with(pool, test_settings(&[])).await
}

pub async fn spawn_with(pool: PgPool, settings: Settings) -> TestApp {
    common::telemetry::init_test_logging();
    let state = AppState::with_pool(settings, pool).expect("state builds");
    serve(state).await
}

pub async fn serve(state: AppState) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = auth_service::app(state.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        state,
    }
}

pub use common::testing::{expect_problem, read};

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
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

    pub async fn send_code(&self, phone: &str) -> Response {
        self.post("/api/v1/auth/send-code", json!({ "phone": phone }))
            .await
    }

    pub async fn verify_code(&self, phone: &str, code: &str) -> Response {
        self.post(
            "/api/v1/auth/verify-code",
            json!({ "phone": phone, "verification_code": code, "device_name": "test phone" }),
        )
        .await
    }

    /// Every message the development outbox holds for `phone`, newest first.
    pub async fn outbox(&self, phone: &str) -> Value {
        let response = self
            .client
            .get(self.url("/internal/v1/dev/sms-outbox"))
            .query(&[("phone", phone)])
            .bearer_auth(INTERNAL_TOKEN)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].clone()
    }

    /// The newest code the development outbox holds for `phone`.
    pub async fn latest_code(&self, phone: &str) -> String {
        self.outbox(phone).await[0]["code"]
            .as_str()
            .expect("a code was sent")
            .to_owned()
    }

    /// Logs in by phone and code; returns the token pair.
    pub async fn login_phone(&self, phone: &str) -> Value {
        let sent = self.send_code(phone).await;
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
        let code = self.latest_code(phone).await;
        let (status, pair) = read(self.verify_code(phone, &code).await).await;
        assert_eq!(status, StatusCode::OK, "{pair}");
        pair
    }

    pub async fn login_password(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// A password login from `client` (through the gateway, which is a
    /// trusted proxy in tests).
    pub async fn login_password_from(&self, client: &str, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .header("x-forwarded-for", client)
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    pub async fn me(&self, access_token: &str) -> Response {
        self.call(Method::GET, "/api/v1/auth/me", access_token, None)
            .await
    }

    pub async fn token_status(&self, user_id: i64, session_id: &str, issued_at: i64) -> Value {
        let response = self
            .client
            .post(self.url("/internal/v1/token-status"))
            .bearer_auth(INTERNAL_TOKEN)
            .json(&json!({ "user_id": user_id, "session_id": session_id, "issued_at": issued_at }))
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The token-status answer for the session of a token pair.
    pub async fn status_of(&self, pair: &Value) -> Value {
        let claims = claims_of(pair["access_token"].as_str().unwrap());
        self.token_status(
            pair["user"]["id"].as_i64().unwrap(),
            pair["session_id"].as_str().unwrap(),
            claims["iat"].as_i64().unwrap(),
        )
        .await
    }

    /// Creates an account with a password through the accounts use case
    /// (the one `create-admin` and the admin API call).
    pub async fn create_account(&self, email: &str, password: &str, role: &str) -> i64 {
        self.state
            .accounts
            .create_with_password(email, password, Role::parse(role).expect("a role"))
            .await
            .expect("account created")
            .id
            .0
    }

    /// An admin's access token.
    pub async fn admin_token(&self) -> String {
        self.create_account("admin@example.com", "admin-password", "admin")
            .await;
        let (status, pair) = read(
            self.login_password("admin@example.com", "admin-password")
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{pair}");
        pair["access_token"].as_str().unwrap().to_owned()
    }
}

/// The (unverified) claims of a JWT, for assertions.
pub fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn access(pair: &Value) -> &str {
    pair["access_token"].as_str().unwrap()
}

pub fn refresh_token(pair: &Value) -> &str {
    pair["refresh_token"].as_str().unwrap()
}
