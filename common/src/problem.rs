//! RFC 9457 `application/problem+json` errors, the one shape every failure a
//! client sees takes in both services.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};

pub use crate::error_code::ErrorCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

/// Content type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client is asked to wait when a backing service is down.
pub const DEPENDENCY_RETRY_AFTER_SECONDS: u64 = 5;

/// One invalid field of a `422 validation_failed` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A problem+json error: a machine-readable `code` from the catalogue (which
/// fixes the HTTP status) and a human `detail`, plus the optional members
/// some codes carry.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Problem {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: Cow<'static, str>,
    pub errors: Vec<FieldError>,
    pub skus: Option<Vec<i64>>,
    pub retry_after: Option<u64>,
    /// Further RFC 9457 extension members some codes carry (e.g. the fresh
    /// `cart` of a `409 cart_changed`).
    pub members: serde_json::Map<String, serde_json::Value>,
}

/// The body as serialised (and documented in the OpenAPI documents).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub title: &'a str,
    pub status: u16,
    pub detail: &'a str,
    pub code: ErrorCode,
    pub request_id: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    pub errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skus: Option<&'a [i64]>,
    /// Documented with the answers that carry them.
    #[serde(flatten)]
    #[schema(ignore)]
    pub members: &'a serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: code.status(),
            code,
            detail: detail.into(),
            errors: Vec::new(),
            skus: None,
            retry_after: None,
            members: serde_json::Map::new(),
        }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        // A zero Retry-After invites a hot retry loop; one second is the floor.
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// Adds an extension member (`name` must not be one of the members
    /// above).
    pub fn with_member(mut self, name: &str, value: serde_json::Value) -> Self {
        self.members.insert(name.to_owned(), value);
        self
    }

    pub fn with_skus(mut self, skus: Vec<i64>) -> Self {
        self.skus = Some(skus);
        self
    }

    /// `422 validation_failed` listing the offending fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => "the request has invalid fields".to_owned(),
        };
        Self {
            errors,
            ..Self::new(ErrorCode::ValidationFailed, detail)
        }
    }

    pub fn invalid_field(field: &str, message: &str) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn forbidden() -> Self {
        Self::new(
            ErrorCode::Forbidden,
            "this action is not allowed for this account",
        )
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such resource")
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self::new(ErrorCode::RateLimited, "too many requests; try again later")
            .with_retry_after(retry_after)
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            "the request body exceeds 64 KiB",
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            ErrorCode::UnsupportedMediaType,
            "the request body must be application/json",
        )
    }

    /// `401 user_inactive`: the account is deactivated.
    pub fn user_inactive() -> Self {
        Self::new(ErrorCode::UserInactive, "this account is deactivated")
    }

    /// `401 token_revoked`: the token's session has ended.
    pub fn token_revoked() -> Self {
        Self::new(
            ErrorCode::TokenRevoked,
            "this session has ended; log in again",
        )
    }

    /// A backing service (database, Redis) is unreachable or too slow.
    pub fn dependency_unavailable() -> Self {
        Self::new(
            ErrorCode::DependencyUnavailable,
            "a backing service is unavailable; try again shortly",
        )
        .with_retry_after(DEPENDENCY_RETRY_AFTER_SECONDS)
    }

    /// An unexpected failure. The body stays generic; the cause is logged by
    /// the caller inside the request span.
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "an unexpected error occurred")
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            request_id: request_id::current().unwrap_or_default(),
            errors: &self.errors,
            skus: self.skus.as_deref(),
            members: &self.members,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.code.is_bearer_failure() {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_problem_renders_as_rfc_9457_json_with_its_code() {
        let response = Problem::validation(vec![FieldError::new("quantity", "must be 1..=99")])
            .into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = body_of(response).await;
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["status"], 422);
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["errors"][0]["field"], "quantity");
    }

    #[tokio::test]
    async fn bearer_failures_carry_www_authenticate_and_unavailability_retry_after() {
        let response = Problem::new(ErrorCode::TokenExpired, "expired").into_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
        let response = Problem::new(ErrorCode::OtpInvalid, "wrong code").into_response();
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        let response = Problem::dependency_unavailable().into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}
