//! Readiness, the JWKS and the OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use utoipa::openapi::OpenApi;

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router(openapi: Arc<OpenApi>) -> Router<AppState> {
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
}

/// Ready when PostgreSQL and Redis both answer and Redis will not evict
/// keys (an evicted session index would make a logout-all miss sessions).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = async {
        tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("select 1").execute(&state.db))
            .await
            .is_ok_and(|result| result.is_ok())
    };
    let redis = async { state.store.eviction_policy().await };
    let (database, redis) = tokio::join!(database, redis);
    let (redis_up, eviction) = match &redis {
        Ok(Some(policy)) => (true, policy.as_str()),
        Ok(None) => (true, "unknown"),
        Err(_) => (false, "unknown"),
    };
    let eviction_safe = matches!(eviction, "noeviction" | "unknown");
    let stopping = state.lifecycle.is_stopping();
    let status = if database && redis_up && eviction_safe && !stopping {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "up" } else { "down" };
    let mut response = (
        status,
        axum::Json(json!({
            "status": if stopping { "stopping" } else if status == StatusCode::OK { "ready" } else { "not_ready" },
            "checks": {
                "database": word(database),
                "redis": word(redis_up),
                "redis_eviction_policy": eviction,
            },
        })),
    )
        .into_response();
    if status != StatusCode::OK {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
    }
    response
}

/// The public keys access tokens are verified with (empty with HS256).
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.jwks.as_ref().clone()),
    )
}

/// Prometheus text, with the pool and Redis gauges read at scrape time.
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    let pool = &state.db;
    common::telemetry::record_pool_gauges(
        pool.size(),
        pool.num_idle(),
        pool.options().get_max_connections(),
    );
    let redis_up = tokio::time::timeout(Duration::from_millis(500), state.store.ping())
        .await
        .is_ok_and(|result| result.is_ok());
    metrics::gauge!("redis_up").set(if redis_up { 1.0 } else { 0.0 });
    common::http::render_metrics()
}
