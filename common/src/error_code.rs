//! The catalogue of every `code` a problem+json answer can carry (API.md's
//! error table), each with the one HTTP status it is answered with. Both
//! services build their problems from it, so a code is never misspelt and
//! never sent with two different statuses.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// A machine-readable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // 400: the request itself is malformed.
    MalformedJson,
    MissingIdempotencyKey,
    InvalidIdempotencyKey,
    InvalidIfMatch,
    UnknownMarket,
    // 401: authentication (bearer) failures.
    MissingToken,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
    UserInactive,
    // 401: login and refresh failures.
    OtpInvalid,
    OtpExpired,
    InvalidCredentials,
    RefreshInvalid,
    RefreshReused,
    ReauthenticationRequired,
    // 403
    Forbidden,
    MarketMismatch,
    // 404
    NotFound,
    // 405
    MethodNotAllowed,
    // 409: state conflicts.
    OutOfStock,
    Unavailable,
    InvalidTransition,
    IdempotencyConflict,
    IdempotencyInProgress,
    EmailTaken,
    SlugTaken,
    SkuCodeTaken,
    TooManyPendingOrders,
    HeldUnitsLimit,
    CartChanged,
    PriceChanged,
    // 413
    PayloadTooLarge,
    // 415
    UnsupportedMediaType,
    // 422
    ValidationFailed,
    CartEmpty,
    // 429
    ChallengeRequired,
    RateLimited,
    OtpLocked,
    // 500
    InternalError,
    // 503
    AuthUnavailable,
    DependencyUnavailable,
    Timeout,
}

impl ErrorCode {
    /// The status every answer with this code has.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            MalformedJson
            | MissingIdempotencyKey
            | InvalidIdempotencyKey
            | InvalidIfMatch
            | UnknownMarket => StatusCode::BAD_REQUEST,
            MissingToken
            | InvalidToken
            | TokenExpired
            | TokenRevoked
            | UserInactive
            | OtpInvalid
            | OtpExpired
            | InvalidCredentials
            | RefreshInvalid
            | RefreshReused
            | ReauthenticationRequired => StatusCode::UNAUTHORIZED,
            Forbidden | MarketMismatch => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            OutOfStock
            | Unavailable
            | InvalidTransition
            | IdempotencyConflict
            | IdempotencyInProgress
            | EmailTaken
            | SlugTaken
            | SkuCodeTaken
            | TooManyPendingOrders
            | HeldUnitsLimit
            | CartChanged
            | PriceChanged => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ValidationFailed | CartEmpty => StatusCode::UNPROCESSABLE_ENTITY,
            ChallengeRequired => StatusCode::PRECONDITION_REQUIRED,
            RateLimited | OtpLocked => StatusCode::TOO_MANY_REQUESTS,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            AuthUnavailable | DependencyUnavailable | Timeout => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code as it appears in the body (and in metric labels).
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MalformedJson => "malformed_json",
            MissingIdempotencyKey => "missing_idempotency_key",
            InvalidIdempotencyKey => "invalid_idempotency_key",
            InvalidIfMatch => "invalid_if_match",
            UnknownMarket => "unknown_market",
            MissingToken => "missing_token",
            InvalidToken => "invalid_token",
            TokenExpired => "token_expired",
            TokenRevoked => "token_revoked",
            UserInactive => "user_inactive",
            OtpInvalid => "otp_invalid",
            OtpExpired => "otp_expired",
            InvalidCredentials => "invalid_credentials",
            RefreshInvalid => "refresh_invalid",
            RefreshReused => "refresh_reused",
            ReauthenticationRequired => "reauthentication_required",
            Forbidden => "forbidden",
            MarketMismatch => "market_mismatch",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            OutOfStock => "out_of_stock",
            Unavailable => "unavailable",
            InvalidTransition => "invalid_transition",
            IdempotencyConflict => "idempotency_conflict",
            IdempotencyInProgress => "idempotency_in_progress",
            EmailTaken => "email_taken",
            SlugTaken => "slug_taken",
            SkuCodeTaken => "sku_code_taken",
            TooManyPendingOrders => "too_many_pending_orders",
            HeldUnitsLimit => "held_units_limit",
            CartChanged => "cart_changed",
            PriceChanged => "price_changed",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            ValidationFailed => "validation_failed",
            CartEmpty => "cart_empty",
            ChallengeRequired => "challenge_required",
            RateLimited => "rate_limited",
            OtpLocked => "otp_locked",
            InternalError => "internal_error",
            AuthUnavailable => "auth_unavailable",
            DependencyUnavailable => "dependency_unavailable",
            Timeout => "timeout",
        }
    }

    /// The bearer-authentication failures, which carry `WWW-Authenticate`
    /// (login failures such as `otp_invalid` do not).
    pub fn is_bearer_failure(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            MissingToken | InvalidToken | TokenExpired | TokenRevoked | UserInactive
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets tests and callers compare with the code as written in API.md.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn serialised_codes_match_their_names() {
        for code in [
            ErrorCode::MalformedJson,
            ErrorCode::TooManyPendingOrders,
            ErrorCode::DependencyUnavailable,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
        }
    }
}
