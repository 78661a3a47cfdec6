//! `ApiError`: what a handler can fail with, and how each failure is
//! answered (always problem+json; 5xx causes are logged once, here).

use axum::response::{IntoResponse, Response};
use common::Problem;
pub use common::db::is_unavailable;
use common::error_code::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An answer API.md defines (4xx with its code, or `auth_unavailable`).
    #[error(transparent)]
    Http(#[from] Problem),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Whether a database error is the lock timeout of a contended checkout.
pub fn is_lock_timeout(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "55P03")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = match self {
            ApiError::Http(problem) => problem,
            ApiError::Database(error) if is_unavailable(&error) => {
                tracing::warn!(%error, "database unavailable");
                Problem::dependency_unavailable()
            }
            ApiError::Database(error) if is_lock_timeout(&error) => Problem::new(
                ErrorCode::IdempotencyInProgress,
                "another checkout of this cart is still running; retry shortly",
            ),
            other => {
                tracing::error!(error = %other, "request failed unexpectedly");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}
