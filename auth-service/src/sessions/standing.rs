//! Whether a token still stands: its user active (PostgreSQL), its session
//! alive and not older than the user's "not before" (Redis). auth-service
//! keeps no cache: it refuses ended sessions at once.

use common::ids::{SessionId, UserId};
use common::token_status::RevocationReason;

use super::Sessions;
use super::store::SessionState;
use crate::accounts::users;
use crate::error::ApiError;

impl Sessions {
    /// `None` when the token stands, else why not, in API.md's order of
    /// precedence. Asks PostgreSQL and Redis at once.
    pub async fn revocation(
        &self,
        user_id: UserId,
        session_id: SessionId,
        issued_at: i64,
    ) -> Result<Option<RevocationReason>, ApiError> {
        let (active, session) = tokio::join!(
            users::is_active(&self.db, user_id),
            self.store.session_state(user_id, session_id, issued_at)
        );
        if !active? {
            return Ok(Some(RevocationReason::UserInactive));
        }
        Ok(match session? {
            SessionState::Active => None,
            SessionState::TokensRevoked => Some(RevocationReason::TokensRevoked),
            SessionState::SessionRevoked => Some(RevocationReason::SessionRevoked),
        })
    }
}
