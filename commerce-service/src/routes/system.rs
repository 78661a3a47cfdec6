//! Readiness and the OpenAPI document.

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
        .route(
            "/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
}

/// Ready when the database answers. auth-service's reachability is
/// reported (and exported as a metric) but does not fail readiness: the
/// catalog still serves without it.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = async {
        tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("select 1").execute(&state.db))
            .await
            .is_ok_and(|result| result.is_ok())
    };
    let auth = async {
        tokio::time::timeout(CHECK_TIMEOUT, state.token_status.reachable())
            .await
            .unwrap_or(false)
    };
    let (database, auth) = tokio::join!(database, auth);
    metrics::gauge!("auth_service_reachable").set(if auth { 1.0 } else { 0.0 });
    let word = |ok: bool| if ok { "up" } else { "down" };
    let stopping = state.lifecycle.is_stopping();
    let ready = database && !stopping;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if stopping { "stopping" } else if ready { "ready" } else { "not_ready" },
        "checks": {"database": word(database), "auth_service": word(auth)},
    });
    let mut response = (status, axum::Json(body)).into_response();
    if !ready {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
    }
    response
}

/// Prometheus text, with the pool gauges read at scrape time.
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    let pool = &state.db;
    common::telemetry::record_pool_gauges(
        pool.size(),
        pool.num_idle(),
        pool.options().get_max_connections(),
    );
    common::http::render_metrics()
}
