//! Refresh rotation (RFC 9700): each use of a refresh token hands out its
//! successor; a retry of the immediate predecessor within the grace period
//! gets the very same successor back; any older token is reuse, and reuse
//! ends the session. All three are one Lua script, so concurrent refreshes
//! of one token never fork a session.

use std::sync::LazyLock;

use common::Problem;
use common::error_code::ErrorCode;
use common::events::SessionEndReason;
use common::ids::SessionId;
use common::ids::UserId;
use common::verifier::now_unix;
use redis::Script;

use super::refresh_token::RefreshToken;
use super::revocations;
use super::{Sessions, TokenPair, refresh_invalid};
use crate::error::ApiError;
use crate::store::{RedisStore, StoreError};

/// KEYS: session. ARGV: presented digest, successor digest, now, grace
/// seconds, idle seconds, the user's tokens-not-before (0 for none: a
/// session created before it is a record Redis should no longer hold, and
/// is refused and deleted). One atomic step for rotation, the grace retry and
/// reuse detection, so concurrent refreshes of one token never fork the
/// session. Digests are SHA-256 of 256-bit secrets: comparing them leaks
/// nothing an attacker can steer.
static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local s = redis.call('HMGET', KEYS[1], 'rt', 'prev', 'rotated_at', 'abs_exp', 'uid', 'market', 'created')
if not s[1] then return {'invalid'} end
if tonumber(s[7] or '0') < tonumber(ARGV[6]) then
  redis.call('DEL', KEYS[1])
  return {'invalid'}
end
local now = tonumber(ARGV[3])
if ARGV[1] == s[1] then
  local ttl = math.min(tonumber(ARGV[5]), tonumber(s[4]) - now)
  if ttl <= 0 then
    redis.call('DEL', KEYS[1])
    return {'invalid'}
  end
  redis.call('HSET', KEYS[1], 'rt', ARGV[2], 'prev', ARGV[1], 'rotated_at', now, 'last_used', now)
  redis.call('EXPIRE', KEYS[1], ttl)
  return {'rotated', s[5], s[6], tostring(ttl), s[7]}
end
if s[2] and ARGV[1] == s[2] and ARGV[2] == s[1] and now - tonumber(s[3]) < tonumber(ARGV[4]) then
  return {'grace', s[5], s[6], tostring(redis.call('TTL', KEYS[1])), s[7]}
end
redis.call('DEL', KEYS[1])
return {'reused', s[5]}
",
    )
});

/// The outcome of presenting a (well-formed, authentic) refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Rotated: the successor is now the live token.
    Rotated(Continued),
    /// A retry of the immediate predecessor in the grace period: the
    /// already-issued successor stays live and is handed back.
    GraceRetry(Continued),
    /// No such session (ended, expired, never existed).
    Invalid,
    /// An older token: the session has been revoked.
    Reused,
}

/// What a session that goes on carries into its next access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continued {
    pub market: String,
    /// Seconds the session may now sit idle.
    pub ttl: u64,
    /// When the login that started it happened.
    pub auth_time: i64,
}

/// Parameters of one rotation attempt.
#[derive(Debug, Clone, Copy)]
pub struct RotateRequest<'a> {
    pub session_id: SessionId,
    pub presented_digest: &'a str,
    pub successor_digest: &'a str,
    pub now: i64,
    pub grace_seconds: u64,
    pub idle_seconds: u64,
    /// The user's tokens-not-before from PostgreSQL (0 for none).
    pub not_before: i64,
}

impl Sessions {
    /// Rotates a presented refresh token: a new pair of the same session.
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, ApiError> {
        let token = RefreshToken::decode(presented, &self.keys).ok_or_else(refresh_invalid)?;
        let subject = revocations::refresh_subject(&self.db, token.user_id, token.session_id)
            .await?
            .ok_or_else(refresh_invalid)?;
        let user = subject.user;
        if !user.is_active {
            return Err(Problem::user_inactive().into());
        }
        if subject.session_revoked {
            // PostgreSQL says this session ended: a record Redis still
            // holds was brought back by a data loss. Delete it again.
            self.store.discard(token.user_id, token.session_id).await?;
            metrics::counter!("refresh_rotations_total", "outcome" => "invalid").increment(1);
            return Err(refresh_invalid().into());
        }
        let successor = token.successor(&self.keys);
        let rotation = self
            .store
            .rotate(RotateRequest {
                session_id: token.session_id,
                presented_digest: &token.digest(),
                successor_digest: &successor.digest(),
                now: now_unix(),
                grace_seconds: self.policy.refresh_grace_seconds,
                idle_seconds: self.policy.refresh_idle_seconds,
                not_before: subject.tokens_not_before.unwrap_or(0),
            })
            .await?;
        let continued = match rotation {
            Rotation::Rotated(continued) => {
                metrics::counter!("refresh_rotations_total", "outcome" => "rotated").increment(1);
                continued
            }
            Rotation::GraceRetry(continued) => {
                metrics::counter!("refresh_rotations_total", "outcome" => "grace_retry")
                    .increment(1);
                continued
            }
            Rotation::Invalid => {
                metrics::counter!("refresh_rotations_total", "outcome" => "invalid").increment(1);
                return Err(refresh_invalid().into());
            }
            Rotation::Reused => {
                // Recorded durably too: a copy of the session that a Redis
                // data loss brings back must not rotate again.
                self.record_ended(
                    token.user_id,
                    &[token.session_id],
                    SessionEndReason::RefreshReuse,
                )
                .await?;
                metrics::counter!("refresh_reuse_detected_total").increment(1);
                metrics::counter!("refresh_rotations_total", "outcome" => "reused").increment(1);
                tracing::warn!(user_id = token.user_id.0, session_id = %token.session_id, "refresh token reuse: session revoked");
                return Err(Problem::new(
                    ErrorCode::RefreshReused,
                    "this refresh token was already used; the session has been ended",
                )
                .into());
            }
        };
        self.token_pair(
            user,
            token.session_id,
            &continued.market,
            continued.auth_time,
            &successor,
            continued.ttl,
        )
    }
}

impl RedisStore {
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn rotate(&self, request: RotateRequest<'_>) -> Result<Rotation, StoreError> {
        let key = self.keys().session(request.session_id);
        let reply: Vec<String> = self
            .run(|mut conn| async move {
                ROTATE
                    .key(key)
                    .arg(request.presented_digest)
                    .arg(request.successor_digest)
                    .arg(request.now)
                    .arg(request.grace_seconds)
                    .arg(request.idle_seconds)
                    .arg(request.not_before)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let continued = || Continued {
            market: reply.get(2).cloned().unwrap_or_default(),
            ttl: reply.get(3).and_then(|t| t.parse().ok()).unwrap_or(0),
            auth_time: reply.get(4).and_then(|t| t.parse().ok()).unwrap_or(0),
        };
        match reply.first().map(String::as_str) {
            Some("rotated") => Ok(Rotation::Rotated(continued())),
            Some("grace") => Ok(Rotation::GraceRetry(continued())),
            Some("invalid") => Ok(Rotation::Invalid),
            Some("reused") => {
                if let Some(user_id) = reply.get(1).and_then(|t| t.parse::<i64>().ok()) {
                    self.unindex(UserId(user_id), request.session_id).await?;
                }
                Ok(Rotation::Reused)
            }
            other => Err(StoreError::Protocol(format!(
                "rotate script answered {other:?}"
            ))),
        }
    }
}
