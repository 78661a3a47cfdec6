//! Whether a token still stands: its user active and its tokens not
//! revoked, its session alive in Redis and not ended in PostgreSQL's
//! durable record. Both are asked at once; auth-service keeps no cache: it
//! refuses ended sessions at once.

use common::ids::{SessionId, UserId};
use common::token_status::RevocationReason;

use super::Sessions;
use super::revocations;
use super::store::SessionState;
use crate::error::ApiError;

impl Sessions {
    /// `None` when the token stands, else why not, in API.md's order of
    /// precedence. A session Redis holds but PostgreSQL records as ended
    /// (a Redis data loss brought it back) does not stand.
    pub async fn revocation(
        &self,
        user_id: UserId,
        session_id: SessionId,
        issued_at: i64,
    ) -> Result<Option<RevocationReason>, ApiError> {
        let (durable, session) = tokio::join!(
            revocations::standing(&self.db, user_id, session_id),
            self.store.session_state(user_id, session_id, issued_at)
        );
        let durable = durable?;
        if !durable.user_active {
            return Ok(Some(RevocationReason::UserInactive));
        }
        // Whole seconds, as in Redis's marker: a token issued in the second
        // of the logout-all is already dead with its session.
        if durable.tokens_not_before.is_some_and(|nbf| issued_at < nbf) {
            return Ok(Some(RevocationReason::TokensRevoked));
        }
        Ok(match session? {
            SessionState::TokensRevoked => Some(RevocationReason::TokensRevoked),
            SessionState::SessionRevoked => Some(RevocationReason::SessionRevoked),
            SessionState::Active if durable.session_revoked => {
                Some(RevocationReason::SessionRevoked)
            }
            SessionState::Active => None,
        })
    }
}
