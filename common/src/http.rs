//! The layers every service router gets: request id, request span and
//! metrics, a request timeout, panic catching, the 64 KiB body limit, and
//! problem+json for unknown routes and methods; plus health, metrics and
//! graceful shutdown.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error_code::ErrorCode;
use crate::problem::Problem;
use crate::{request_id, telemetry};

/// Request bodies above this are `413 payload_too_large`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Wraps a service's routes with the layers every service needs.
pub fn finish_router(router: Router, request_timeout: Duration, lifecycle: Lifecycle) -> Router {
    // The recorder must exist before the first request is counted.
    telemetry::metrics_handle();
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(reject_oversized_body))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(request_timeout, enforce_timeout))
        .layer(from_fn(telemetry::observe_request))
        .layer(from_fn(request_id::propagate))
        .layer(from_fn_with_state(lifecycle, close_when_stopping))
}

/// While stopping, every answer says `Connection: close`, so the gateway
/// drops its pooled connections to this process one by one as it uses
/// them, before the listener closes. Otherwise it could send a request on
/// a pooled connection at the very moment the drain closes it, and a POST
/// lost that way is not one the gateway may pass to another replica.
async fn close_when_stopping(
    State(lifecycle): State<Lifecycle>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if lifecycle.is_stopping() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn not_found() -> Problem {
    Problem::not_found()
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        ErrorCode::MethodNotAllowed,
        "this method is not allowed on this path",
    )
}

/// A declared length over the limit is refused before anything else
/// (API.md puts `413` first); streamed bodies hit `DefaultBodyLimit`.
async fn reject_oversized_body(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Problem::payload_too_large().into_response();
    }
    next.run(request).await
}

async fn enforce_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            Problem::new(
                ErrorCode::Timeout,
                "the request took too long; try again shortly",
            )
            .with_retry_after(crate::problem::DEPENDENCY_RETRY_AFTER_SECONDS)
            .into_response()
        }
    }
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "handler panicked");
    Problem::internal().into_response()
}

/// `GET /healthz`: the process is up.
pub fn health_route<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(
        "/healthz",
        get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
    )
}

/// The Prometheus text of every metric of this process (`GET /metrics`;
/// each service sets its gauges first).
pub fn render_metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        telemetry::metrics_handle().render(),
    )
        .into_response()
}

/// Whether the process is stopping: readiness answers 503 from then on, so
/// load balancers stop sending new requests before the server drains.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Lifecycle {
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// From now on readiness answers 503.
    pub fn begin_stopping(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
