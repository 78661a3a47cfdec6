//! `ApiError`: what a handler can fail with, and how each failure is
//! answered. Every answer is problem+json (through `common::Problem`);
//! causes of 5xx answers are logged once here, inside the request span.

use axum::response::{IntoResponse, Response};
use common::Problem;
pub use common::db::is_unavailable;

use common::error_code::ErrorCode;

use crate::accounts::password::PasswordError;
use crate::otp::OtpError;
use crate::otp::sms::SmsError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An answer API.md defines (4xx with its code).
    #[error(transparent)]
    Http(#[from] Problem),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Sms(#[from] SmsError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// Whether this is a dependency failing (answered 503), as opposed to
    /// an answer about the request itself.
    pub fn is_outage(&self) -> bool {
        match self {
            ApiError::Http(_) | ApiError::Internal(_) => false,
            ApiError::Database(error) => is_unavailable(error),
            ApiError::Store(StoreError::Protocol(_)) => false,
            ApiError::Store(_) | ApiError::Password(_) | ApiError::Sms(_) => true,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = match self {
            ApiError::Http(problem) => problem,
            ApiError::Database(error) if is_unavailable(&error) => {
                tracing::warn!(%error, "database unavailable");
                Problem::dependency_unavailable()
            }
            ApiError::Store(StoreError::Protocol(message)) => {
                tracing::error!(%message, "unexpected redis reply");
                Problem::internal()
            }
            ApiError::Store(error) => {
                tracing::warn!(%error, "redis unavailable");
                Problem::dependency_unavailable()
            }
            ApiError::Password(PasswordError::Busy) => {
                tracing::warn!("password hashing saturated");
                Problem::dependency_unavailable()
            }
            ApiError::Sms(error) => {
                tracing::warn!(%error, "sms provider failed");
                Problem::dependency_unavailable()
            }
            other => {
                tracing::error!(error = %other, "request failed unexpectedly");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}

/// The refusals of the phone-code feature, as API.md answers them.
impl From<OtpError> for ApiError {
    fn from(error: OtpError) -> Self {
        match error {
            OtpError::RateLimited(wait) => Problem::rate_limited(wait).into(),
            OtpError::Wrong { burnt: false } => {
                Problem::new(ErrorCode::OtpInvalid, "the code is wrong").into()
            }
            OtpError::Wrong { burnt: true } => Problem::new(
                ErrorCode::OtpInvalid,
                "the code is wrong; request a new one",
            )
            .into(),
            OtpError::NoLiveCode => Problem::new(
                ErrorCode::OtpExpired,
                "no live code for this number; request a new one",
            )
            .into(),
            OtpError::Locked(wait) => Problem::new(
                ErrorCode::OtpLocked,
                "too many wrong codes; request a new code",
            )
            .with_retry_after(wait)
            .into(),
            OtpError::CappedForToday(wait) => Problem::new(
                ErrorCode::OtpLocked,
                "too many wrong codes for this number today; try again later",
            )
            .with_retry_after(wait)
            .into(),
            OtpError::ChallengeRequired(challenge) => Problem::new(
                ErrorCode::ChallengeRequired,
                "solve the challenge and send the request again with its solution",
            )
            .with_member(
                "challenge",
                serde_json::to_value(&*challenge).unwrap_or_default(),
            )
            .into(),
            OtpError::Store(error) => error.into(),
            OtpError::Sms(error) => error.into(),
        }
    }
}
