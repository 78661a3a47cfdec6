//! The floor the authenticated cart read is judged against: a minimal axum
//! service doing the same work per request as commerce-service's `GET
//! /api/v1/cart` and nothing else (no spans, no logs, no metrics, no
//! request ids, no problem documents, no version digests): verify the
//! bearer JWT with the issuer's public key, one Redis GET (the session's
//! revocation mark), one PostgreSQL select by key, a JSON answer of its
//! rows. The select is commerce-service's own cart read, taken from its
//! `.sqlx/` data, so PostgreSQL does the same work for both. Its pool is
//! the services' (`common::db::pool_options`).
//!
//! It is part of the benchmark, never of the services: `cargo xtask bench`
//! starts it as `xtask bench-floor` (a process of its own, so its CPU time
//! is read from `/proc` like theirs) on the bench stack's databases.
//!
//! Two routes: `/cart` verifies the signature of every request, as a
//! minimal handler does; `/cart-cached` remembers tokens it has verified
//! (by SHA-256 of the token, until their `exp`), as commerce-service's
//! verifier does, so that the rest of the work can be compared alone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use redis::AsyncCommands as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// The claims the floor reads (the verifier checks `exp`, `iss`, `aud`).
#[derive(Debug, Clone, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    market: String,
    exp: i64,
}

#[derive(Clone)]
struct Floor {
    keys: Arc<HashMap<String, DecodingKey>>,
    validation: Arc<Validation>,
    redis: redis::aio::ConnectionManager,
    db: sqlx::PgPool,
    redis_prefix: Arc<str>,
    cart_read: Arc<str>,
    verified: Arc<RwLock<HashMap<[u8; 32], Claims>>>,
}

/// Serves the floor on `LISTEN_ADDR` with the keys auth-service publishes
/// at `AUTH_URL`, `REDIS_URL` (+ `REDIS_KEY_PREFIX`) and `DATABASE_URL`.
pub fn serve_from_env() -> anyhow::Result<()> {
    let var = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let (listen, auth, redis_url, database) = (
        var("LISTEN_ADDR")?,
        var("AUTH_URL")?,
        var("REDIS_URL")?,
        var("DATABASE_URL")?,
    );
    let prefix = std::env::var("REDIS_KEY_PREFIX").unwrap_or_default();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let jwks: JwkSet = reqwest::get(format!("{auth}/.well-known/jwks.json"))
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let kid = jwk.common.key_id.clone().context("a key without kid")?;
            keys.insert(kid, DecodingKey::from_jwk(jwk)?);
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&["auth-service"]);
        validation.set_audience(&["shop-api"]);
        let floor = Floor {
            keys: Arc::new(keys),
            validation: Arc::new(validation),
            redis: redis::Client::open(redis_url)?
                .get_connection_manager()
                .await?,
            // The services' pool policy (no ping for a connection used a
            // moment ago), so that the comparison is of everything else.
            db: common::db::pool_options(
                super::stack::DATABASE_CONNECTIONS.parse()?,
                std::time::Duration::from_secs(3),
            )
            .connect(&database)
            .await?,
            redis_prefix: prefix.into(),
            cart_read: super::pg_floor::service_query(super::pg_floor::CART_READ)?.into(),
            verified: Arc::default(),
        };
        let app = Router::new()
            .route("/readyz", get(|| async { "ready" }))
            .route("/cart", get(cart_verifying_every_token))
            .route("/cart-cached", get(cart_with_verified_tokens_cached))
            .with_state(floor);
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}

async fn cart_verifying_every_token(State(floor): State<Floor>, headers: HeaderMap) -> Response {
    match floor.verify(&headers) {
        Some(claims) => floor.cart(&claims).await,
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn cart_with_verified_tokens_cached(
    State(floor): State<Floor>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let known = floor
        .verified
        .read()
        .ok()
        .and_then(|v| v.get(&digest).cloned());
    let claims = match known {
        Some(claims) if claims.exp > now_unix() => claims,
        _ => match floor.verify(&headers) {
            Some(claims) => {
                if let Ok(mut verified) = floor.verified.write() {
                    verified.insert(digest, claims.clone());
                }
                claims
            }
            None => return StatusCode::UNAUTHORIZED.into_response(),
        },
    };
    floor.cart(&claims).await
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Some columns of the cart read's rows (named as its sqlx overrides name
/// them).
#[derive(serde::Serialize, sqlx::FromRow)]
struct Line {
    #[sqlx(rename = "sku_id?")]
    sku_id: Option<i64>,
    #[sqlx(rename = "name?")]
    name: Option<String>,
    #[sqlx(rename = "quantity?")]
    quantity: Option<i32>,
    #[sqlx(rename = "unit_price_minor?")]
    unit_price_minor: Option<i64>,
}

impl Floor {
    fn verify(&self, headers: &HeaderMap) -> Option<Claims> {
        let token = bearer(headers)?;
        let kid = jsonwebtoken::decode_header(token).ok()?.kid?;
        let key = self.keys.get(&kid)?;
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .ok()
            .map(|data| data.claims)
    }

    /// One Redis GET (is the session revoked?), one keyed select.
    async fn cart(&self, claims: &Claims) -> Response {
        let Ok(user_id) = claims.sub.parse::<i64>() else {
            return StatusCode::UNAUTHORIZED.into_response();
        };
        let key = format!("{}:floor:revoked:{}", self.redis_prefix, claims.sid);
        let revoked: Result<Option<String>, _> = self.redis.clone().get(key).await;
        match revoked {
            Ok(None) => {}
            Ok(Some(_)) => return StatusCode::UNAUTHORIZED.into_response(),
            Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
        // The text is commerce-service's own statement, read from its `.sqlx/`.
        let lines = sqlx::query_as::<_, Line>(sqlx::AssertSqlSafe(self.cart_read.clone()))
            .bind(None::<i64>)
            .bind(user_id)
            .bind(&claims.market)
            .fetch_all(&self.db)
            .await;
        match lines {
            Ok(lines) => axum::Json(serde_json::json!({ "items": lines })).into_response(),
            Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
}
