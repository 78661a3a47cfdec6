//! The one question commerce-service asks auth-service, typed once for both
//! sides: may a token of this session, issued at this time, still act?

use crate::ids::{SessionId, UserId};
use serde::{Deserialize, Serialize};

/// Where auth-service answers it (never routed by the gateway).
pub const TOKEN_STATUS_PATH: &str = "/internal/v1/token-status";

/// The question, from a token's `sub`, `sid` and `iat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenStatusRequest {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub issued_at: i64,
}

/// Why a token no longer stands, in API.md's order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// The user is deactivated (or deleted).
    UserInactive,
    /// The token was issued before the user's logout-all.
    TokensRevoked,
    /// The session is gone (logout, session deleted, refresh reuse).
    SessionRevoked,
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenStatus {
    pub active: bool,
    pub reason: Option<RevocationReason>,
    pub user_active: bool,
}

impl TokenStatus {
    /// The answer for a token that stands, or for the reason it does not.
    pub fn from_reason(reason: Option<RevocationReason>) -> Self {
        Self {
            active: reason.is_none(),
            reason,
            user_active: reason != Some(RevocationReason::UserInactive),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_reads_as_api_md_shows_it() {
        let revoked = TokenStatus::from_reason(Some(RevocationReason::TokensRevoked));
        assert_eq!(
            serde_json::to_value(revoked).unwrap(),
            serde_json::json!({"active": false, "reason": "tokens_revoked", "user_active": true})
        );
        let active: TokenStatus =
            serde_json::from_str(r#"{"active": true, "reason": null, "user_active": true}"#)
                .unwrap();
        assert_eq!(active, TokenStatus::from_reason(None));
    }
}
