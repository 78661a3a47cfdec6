//! Sessions: starting one on login ([`Sessions::start`]), refresh rotation
//! with its script (`rotation.rs`), ending one or all of a user's
//! (logout, logout-all, deactivation), whether a token still stands
//! (`standing.rs`), the session records in Redis (`store.rs`), durable
//! revocation in PostgreSQL (`revocations.rs`), the refresh token's format
//! (`refresh_token.rs`) and access-token signing (`signing.rs`).
//!
//! Every end of a session or of a user's tokens is written to PostgreSQL
//! first and to Redis second, and only then acknowledged: Redis is the
//! fast path, PostgreSQL the record that a Redis data loss cannot undo.
//! The event that announces it (`auth.session.ended`, `auth.user.*`) is
//! written to the outbox in the same transaction as that record, so
//! commerce hears of every ending and of nothing that did not happen.

pub mod refresh_token;
pub mod revocations;
pub mod rotation;
pub mod signing;
pub mod standing;
pub mod store;
pub mod views;

use common::Problem;
use common::db::Bounded as _;
use common::error_code::ErrorCode;
use common::events::outbox::Outbox;
use common::events::{AuthEvent, SessionEndReason, SessionsEnded};
use common::ids::{SessionId, UserId};
use common::verifier::now_unix;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use self::refresh_token::RefreshToken;
use self::signing::{Subject, TokenIssuer};
use self::store::NewSession;
pub use self::views::{SessionList, SessionView, TokenPair};
use crate::accounts::users::UserRow;
use crate::config::Settings;
use crate::error::ApiError;
use crate::secrets::ServerKeys;
use crate::store::RedisStore;

/// Lifetimes of tokens and sessions.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub access_token_ttl_seconds: u64,
    pub jwt_leeway_seconds: u64,
    pub refresh_idle_seconds: u64,
    pub session_max_seconds: u64,
    pub refresh_grace_seconds: u64,
}

impl From<&Settings> for SessionPolicy {
    fn from(settings: &Settings) -> Self {
        Self {
            access_token_ttl_seconds: settings.access_token_ttl_seconds,
            jwt_leeway_seconds: settings.jwt_leeway_seconds,
            refresh_idle_seconds: settings.refresh_idle_seconds,
            session_max_seconds: settings.session_max_seconds,
            refresh_grace_seconds: settings.refresh_grace_seconds,
        }
    }
}

/// The sessions feature: what it needs and nothing else; cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    db: PgPool,
    store: RedisStore,
    issuer: TokenIssuer,
    keys: ServerKeys,
    policy: SessionPolicy,
    outbox: Outbox,
}

/// A user's tokens revoked in PostgreSQL, not yet in Redis: the caller
/// commits its transaction, then passes this to
/// [`Sessions::everything_revoked`].
#[must_use = "Redis and the relay learn of the revocation from everything_revoked"]
pub struct RevokedEverything {
    user_id: UserId,
    not_before: i64,
}

/// The longest `device_name` a session keeps.
pub const MAX_DEVICE_NAME_CHARS: usize = 100;

/// A `device_name` as given: trimmed, empty is none; `Err` with the reason
/// when longer than 100 characters or holding control characters.
pub fn device_name(name: Option<String>) -> Result<Option<String>, &'static str> {
    match name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        Some(name)
            if name.chars().count() > MAX_DEVICE_NAME_CHARS
                || name
                    .chars()
                    .any(|c| c.is_control() || is_deceptive_format(c)) =>
        {
            Err("must be at most 100 printable characters")
        }
        other => Ok(other),
    }
}

/// Invisible characters that change how the text around them is shown:
/// bidirectional overrides, embeddings, isolates and marks (a device name
/// shown in a session list could otherwise read backwards, "Trojan Source"
/// style), line and paragraph separators, and the byte-order mark. Joiners
/// stay allowed: emoji sequences need them.
fn is_deceptive_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{FEFF}'
    )
}

/// `401 refresh_invalid`: unknown, expired, or of an ended session.
pub fn refresh_invalid() -> Problem {
    Problem::new(
        ErrorCode::RefreshInvalid,
        "the refresh token is not valid; log in again",
    )
}

impl Sessions {
    /// How long a session lives without a refresh (`REFRESH_IDLE_SECONDS`).
    pub fn idle_lifetime_seconds(&self) -> u64 {
        self.policy.refresh_idle_seconds
    }

    pub fn new(
        db: PgPool,
        store: RedisStore,
        issuer: TokenIssuer,
        keys: ServerKeys,
        policy: SessionPolicy,
        outbox: Outbox,
    ) -> Self {
        Self {
            db,
            store,
            issuer,
            keys,
            policy,
            outbox,
        }
    }

    /// Starts a session for `user` and answers with its first token pair.
    pub async fn start(
        &self,
        user: UserRow,
        market: &str,
        device_name: Option<&str>,
    ) -> Result<TokenPair, ApiError> {
        let now = now_unix();
        let session_id = SessionId::new();
        let refresh = RefreshToken::first(user.id, session_id);
        let policy = &self.policy;
        self.store
            .create_session(&NewSession {
                id: session_id,
                user_id: user.id,
                market,
                device_name,
                now,
                refresh_digest: &refresh.digest(),
                idle_seconds: policy.refresh_idle_seconds,
                max_seconds: policy.session_max_seconds,
            })
            .await?;
        metrics::counter!("auth_sessions_started_total").increment(1);
        self.token_pair(
            user,
            session_id,
            market,
            now,
            &refresh,
            policy.refresh_idle_seconds.min(policy.session_max_seconds),
        )
    }

    /// A pair of a fresh access token and the given refresh token.
    fn token_pair(
        &self,
        user: UserRow,
        session_id: SessionId,
        market: &str,
        auth_time: i64,
        refresh: &RefreshToken,
        refresh_expires_in: u64,
    ) -> Result<TokenPair, ApiError> {
        let subject = Subject {
            user_id: user.id,
            session_id,
            market,
            role: user.role,
            auth_time,
        };
        let access_token = self.issuer.issue(subject, now_unix())?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: self.issuer.ttl_seconds(),
            refresh_token: refresh.encode(&self.keys),
            refresh_expires_in,
            session_id,
            user: user.into(),
        })
    }

    /// The user and session a refresh token names, if it is one we issued
    /// (logout without an access token).
    pub fn refresh_owner(&self, presented: &str) -> Result<(UserId, SessionId), Problem> {
        let token = RefreshToken::decode(presented, &self.keys).ok_or_else(refresh_invalid)?;
        Ok((token.user_id, token.session_id))
    }

    /// How long a revocation record is kept: past the longest any refresh
    /// token of the session (its idle window) or access token (lifetime and
    /// leeway) could still be presented.
    fn revocation_kept_until(&self) -> OffsetDateTime {
        let policy = &self.policy;
        let seconds = policy
            .refresh_idle_seconds
            .min(policy.session_max_seconds)
            .saturating_add(policy.access_token_ttl_seconds)
            .saturating_add(policy.jwt_leeway_seconds);
        OffsetDateTime::now_utc() + time::Duration::seconds(seconds.min(i64::MAX as u64) as i64)
    }

    /// Records durably that sessions ended, with the event announcing it.
    async fn record_ended(
        &self,
        user_id: UserId,
        sessions: &[SessionId],
        reason: SessionEndReason,
    ) -> Result<(), ApiError> {
        if sessions.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().bounded().await?;
        revocations::record_ended(&mut *tx, user_id, sessions, self.revocation_kept_until())
            .await?;
        let event = AuthEvent::SessionEnded(SessionsEnded {
            user_id,
            session_ids: sessions.to_vec(),
            reason,
        });
        self.outbox.add(&mut *tx, event).bounded().await?;
        tx.commit().bounded().await?;
        self.outbox.committed();
        Ok(())
    }

    /// Logout: ends the session the presented (authentic) token names.
    /// Ending one that has already ended changes nothing.
    pub async fn end(&self, user_id: UserId, session_id: SessionId) -> Result<(), ApiError> {
        self.record_ended(user_id, &[session_id], SessionEndReason::Logout)
            .await?;
        if let Some(session) = self.store.session(session_id).await?
            && session.user_id == user_id
        {
            self.store.end_session(&session).await?;
        }
        tracing::info!(user_id = user_id.0, %session_id, "logout");
        Ok(())
    }

    /// Ends one of the user's sessions; another user's is `404`.
    pub async fn end_own(&self, user_id: UserId, session_id: SessionId) -> Result<(), ApiError> {
        match self.store.session(session_id).await? {
            Some(session) if session.user_id == user_id => {
                self.record_ended(user_id, &[session_id], SessionEndReason::SessionDeleted)
                    .await?;
                self.store.end_session(&session).await?;
                Ok(())
            }
            _ => Err(Problem::not_found().into()),
        }
    }

    /// The user's live sessions, newest first, `current` marked.
    pub async fn list(&self, user_id: UserId, current: SessionId) -> Result<SessionList, ApiError> {
        let sessions = self.store.user_sessions(user_id).await?;
        let items = sessions
            .into_iter()
            .map(|session| SessionView::new(session, current))
            .collect();
        Ok(SessionList { items })
    }

    /// Logout-all: ends every session of the user and refuses every token
    /// issued so far.
    pub async fn revoke_everything(&self, user_id: UserId) -> Result<(), ApiError> {
        let mut tx = self.db.begin().bounded().await?;
        let revoked = self
            .revoke_everything_in(&mut tx, user_id, |not_before| {
                AuthEvent::UserRevoked(common::events::UserRevoked {
                    user_id,
                    not_before,
                })
            })
            .await?;
        tx.commit().bounded().await?;
        self.everything_revoked(revoked).await
    }

    /// The PostgreSQL half of ending every session of a user, in the
    /// caller's transaction (deactivation and deletion change the user
    /// row in the same one), with the event `announce` makes of the time
    /// tokens are refused before.
    pub async fn revoke_everything_in(
        &self,
        tx: &mut PgConnection,
        user_id: UserId,
        announce: impl FnOnce(i64) -> AuthEvent,
    ) -> Result<RevokedEverything, ApiError> {
        let now = now_unix();
        let sessions: Vec<SessionId> = self
            .store
            .user_sessions(user_id)
            .await?
            .iter()
            .map(|session| session.id)
            .collect();
        revocations::revoke_tokens_before(&mut *tx, user_id, now).await?;
        revocations::record_ended(&mut *tx, user_id, &sessions, self.revocation_kept_until())
            .await?;
        self.outbox.add(&mut *tx, announce(now)).bounded().await?;
        Ok(RevokedEverything {
            user_id,
            not_before: now,
        })
    }

    /// The Redis half, after the caller committed: the fast path refuses
    /// the user's tokens too, and the relay publishes the event at once.
    pub async fn everything_revoked(&self, revoked: RevokedEverything) -> Result<(), ApiError> {
        self.outbox.committed();
        let policy = &self.policy;
        // The marker must outlive every access token issued before it.
        let marker_ttl = policy.access_token_ttl_seconds + policy.jwt_leeway_seconds + 60;
        self.store
            .revoke_user(revoked.user_id, revoked.not_before, marker_ttl)
            .await?;
        Ok(())
    }

    /// Ends every session of a user but `keep` (password change).
    pub async fn end_others(&self, user_id: UserId, keep: SessionId) -> Result<(), ApiError> {
        let others: Vec<_> = self
            .store
            .user_sessions(user_id)
            .await?
            .into_iter()
            .filter(|session| session.id != keep)
            .collect();
        let ids: Vec<SessionId> = others.iter().map(|session| session.id).collect();
        self.record_ended(user_id, &ids, SessionEndReason::PasswordChanged)
            .await?;
        for session in &others {
            self.store.end_session(session).await?;
        }
        Ok(())
    }
}
