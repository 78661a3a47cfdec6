//! A client of the deployment, as the mobile app and the admin panel are:
//! logging in by code (waiting out cooldowns as the app's timer would), the
//! admin's login, refresh, and polling for a revocation to arrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::stacks::{Target, env_or};

/// A fresh, valid US number for each call, spread over many number ranges
/// as real customers are: the development stack keeps the SMS firewall's
/// range rule on (`SMS_PER_RANGE_HOUR` sends per range of the first six
/// digits), and sequential numbers of one range would trip it.
pub fn next_phone() -> String {
    const AREA_CODES: [u32; 10] = [212, 312, 415, 617, 202, 305, 404, 503, 206, 713];
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id() % 8000;
    let i = (seed + NEXT.fetch_add(1, Ordering::Relaxed)) % 8000;
    let area = AREA_CODES[(i % 10) as usize];
    // 83 is prime to 800: consecutive calls walk through the exchanges
    // (and so the ranges) instead of filling one. N11 codes are services.
    let mut exchange = 200 + (i / 10 * 83) % 800;
    if exchange % 100 == 11 {
        exchange += 1;
    }
    let line = 1000 + (std::process::id() + i) % 9000;
    format!("+1{area}{exchange}{line:04}")
}

/// A client of the deployment, as the app and the admin panel are.
pub struct App {
    pub target: Arc<Target>,
    pub http: reqwest::Client,
}

/// A signed-in customer.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub access: String,
    pub refresh: String,
}

impl Session {
    pub fn of(pair: &Value) -> anyhow::Result<Session> {
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

pub async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

impl App {
    pub fn new(target: Arc<Target>) -> Self {
        Self {
            target,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.target.gateway)
    }

    pub async fn send(
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

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        Ok(json_of(self.send(method, path, Some(token), body).await?).await)
    }

    /// Sends a code, waiting out a resend cooldown as the app's timer would.
    pub async fn send_code(&self, phone: &str) -> anyhow::Result<()> {
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

    pub async fn latest_code(&self, phone: &str) -> anyhow::Result<String> {
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

    pub async fn login(&self, phone: &str) -> anyhow::Result<Session> {
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

    pub async fn admin(&self) -> anyhow::Result<String> {
        self.password_login(&self.target.admin_email, &self.target.admin_password)
            .await
    }

    /// Creates another admin account (with `admin`'s token) and signs it
    /// in: its access token.
    pub async fn another_admin(&self, admin: &str, email: &str) -> anyhow::Result<String> {
        let password = "another-admin-password";
        let (status, user) = self
            .call(
                Method::POST,
                "/api/v1/admin/users",
                admin,
                Some(json!({"email": email, "password": password, "role": "admin"})),
            )
            .await?;
        ensure!(
            status == StatusCode::CREATED,
            "creating {email} answered {status}: {user}"
        );
        self.password_login(email, password).await
    }

    /// Signs in by email and password: the access token.
    async fn password_login(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let body = json!({"email": email, "password": password});
        let (status, pair) = json_of(
            self.send(Method::POST, "/api/v1/auth/login", None, Some(body))
                .await?,
        )
        .await;
        ensure!(
            status == StatusCode::OK,
            "{email} login answered {status}: {pair}"
        );
        Ok(pair["access_token"]
            .as_str()
            .context("access_token")?
            .to_owned())
    }

    pub async fn refresh(&self, refresh_token: &str) -> anyhow::Result<(StatusCode, Value)> {
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
    pub async fn some_sku(&self, nth: usize) -> anyhow::Result<(i64, i64)> {
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
    pub async fn refused_within(
        &self,
        token: &str,
        code: &str,
        bound: Duration,
    ) -> anyhow::Result<()> {
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
