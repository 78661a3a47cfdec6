//! Sessions and refresh rotation.
//!
//! A session is active only while its record exists (and its user is
//! active, which PostgreSQL knows). Logout deletes the record; logout-all and
//! deactivation delete every record of the user and write a "not before"
//! time that refuses older access tokens. Losing Redis data can only log
//! people out, never let a revoked token back in.

use std::collections::HashMap;
use std::sync::LazyLock;

use redis::{AsyncCommands as _, Script};
use uuid::Uuid;

use super::{RedisStore, StoreError};

/// KEYS: session. ARGV: presented digest, successor digest, now, grace
/// seconds, idle seconds. One atomic step for rotation, the grace retry and
/// reuse detection, so concurrent refreshes of one token never fork the
/// session. Digests are SHA-256 of 256-bit secrets: comparing them leaks
/// nothing an attacker can steer.
static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local s = redis.call('HMGET', KEYS[1], 'rt', 'prev', 'rotated_at', 'abs_exp', 'uid', 'market')
if not s[1] then return {'invalid'} end
local now = tonumber(ARGV[3])
if ARGV[1] == s[1] then
  local ttl = math.min(tonumber(ARGV[5]), tonumber(s[4]) - now)
  if ttl <= 0 then
    redis.call('DEL', KEYS[1])
    return {'invalid'}
  end
  redis.call('HSET', KEYS[1], 'rt', ARGV[2], 'prev', ARGV[1], 'rotated_at', now, 'last_used', now)
  redis.call('EXPIRE', KEYS[1], ttl)
  return {'rotated', s[5], s[6], tostring(ttl)}
end
if s[2] and ARGV[1] == s[2] and ARGV[2] == s[1] and now - tonumber(s[3]) < tonumber(ARGV[4]) then
  return {'grace', s[5], s[6], tostring(redis.call('TTL', KEYS[1]))}
end
redis.call('DEL', KEYS[1])
return {'reused', s[5]}
",
    )
});

/// What is kept of a session (the refresh digests stay in Redis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: i64,
    pub market: String,
    pub device_name: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
}

/// A new session to store.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: i64,
    pub market: &'a str,
    pub device_name: Option<&'a str>,
    pub now: i64,
    pub refresh_digest: &'a str,
    pub idle_seconds: u64,
    pub max_seconds: u64,
}

/// The outcome of presenting a (well-formed, authentic) refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Rotated: the successor is now the live token.
    Rotated { market: String, ttl: u64 },
    /// A retry of the immediate predecessor in the grace period: the
    /// already-issued successor stays live and is handed back.
    GraceRetry { market: String, ttl: u64 },
    /// No such session (ended, expired, never existed).
    Invalid,
    /// An older token: the session has been revoked.
    Reused,
}

/// Parameters of one rotation attempt.
#[derive(Debug, Clone, Copy)]
pub struct RotateRequest<'a> {
    pub session_id: Uuid,
    pub presented_digest: &'a str,
    pub successor_digest: &'a str,
    pub now: i64,
    pub grace_seconds: u64,
    pub idle_seconds: u64,
}

/// Why a token is no longer accepted, in API.md's order of precedence
/// (the user's own state is PostgreSQL's and checked by the caller first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Active,
    TokensRevoked,
    SessionRevoked,
}

impl RedisStore {
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn create_session(&self, new: &NewSession<'_>) -> Result<(), StoreError> {
        let session_key = self.keys.session(new.id);
        let user_key = self.keys.user_sessions(new.user_id);
        let absolute_expiry = new.now + new.max_seconds as i64;
        let ttl = new.idle_seconds.min(new.max_seconds) as i64;
        let fields: Vec<(&str, String)> = vec![
            ("uid", new.user_id.to_string()),
            ("market", new.market.to_owned()),
            ("device", new.device_name.unwrap_or_default().to_owned()),
            ("created", new.now.to_string()),
            ("last_used", new.now.to_string()),
            ("abs_exp", absolute_expiry.to_string()),
            ("rt", new.refresh_digest.to_owned()),
        ];
        let max_seconds = new.max_seconds as i64;
        let sid = new.id.simple().to_string();
        // The index entry goes first: a crash in between leaves a dangling
        // id (pruned on listing), never a session that logout-all misses.
        self.run(|mut conn| async move {
            redis::pipe()
                .sadd(&user_key, &sid)
                .expire(&user_key, max_seconds)
                .query_async::<()>(&mut conn)
                .await?;
            redis::pipe()
                .atomic()
                .hset_multiple(&session_key, &fields)
                .expire(&session_key, ttl)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn rotate(&self, request: RotateRequest<'_>) -> Result<Rotation, StoreError> {
        let key = self.keys.session(request.session_id);
        let reply: Vec<String> = self
            .run(|mut conn| async move {
                ROTATE
                    .key(key)
                    .arg(request.presented_digest)
                    .arg(request.successor_digest)
                    .arg(request.now)
                    .arg(request.grace_seconds)
                    .arg(request.idle_seconds)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let ttl = |text: Option<&String>| text.and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
        match reply.first().map(String::as_str) {
            Some("rotated") => Ok(Rotation::Rotated {
                market: reply.get(2).cloned().unwrap_or_default(),
                ttl: ttl(reply.get(3)),
            }),
            Some("grace") => Ok(Rotation::GraceRetry {
                market: reply.get(2).cloned().unwrap_or_default(),
                ttl: ttl(reply.get(3)),
            }),
            Some("invalid") => Ok(Rotation::Invalid),
            Some("reused") => {
                if let Some(user_id) = reply.get(1).and_then(|t| t.parse::<i64>().ok()) {
                    self.unindex(user_id, request.session_id).await?;
                }
                Ok(Rotation::Reused)
            }
            other => Err(StoreError::Protocol(format!(
                "rotate script answered {other:?}"
            ))),
        }
    }

    async fn unindex(&self, user_id: i64, session_id: Uuid) -> Result<(), StoreError> {
        let key = self.keys.user_sessions(user_id);
        let sid = session_id.simple().to_string();
        self.run(|mut conn| async move { conn.srem::<_, _, ()>(key, sid).await })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn session(&self, session_id: Uuid) -> Result<Option<Session>, StoreError> {
        let key = self.keys.session(session_id);
        let fields: HashMap<String, String> = self
            .run(|mut conn| async move { conn.hgetall(key).await })
            .await?;
        Ok(parse_session(session_id, &fields))
    }

    /// Ends one session; `true` if it existed.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn end_session(&self, session: &Session) -> Result<bool, StoreError> {
        let key = self.keys.session(session.id);
        let removed: i64 = self
            .run(|mut conn| async move { conn.del(key).await })
            .await?;
        self.unindex(session.user_id, session.id).await?;
        Ok(removed > 0)
    }

    /// The user's live sessions; ids whose record is gone are pruned.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn user_sessions(&self, user_id: i64) -> Result<Vec<Session>, StoreError> {
        let set = self.keys.user_sessions(user_id);
        let ids: Vec<String> = self
            .run(|mut conn| async move { conn.smembers(set).await })
            .await?;
        let mut sessions = Vec::with_capacity(ids.len());
        for raw in ids {
            let Ok(id) = Uuid::try_parse(&raw) else {
                continue;
            };
            match self.session(id).await? {
                Some(session) if session.user_id == user_id => sessions.push(session),
                _ => self.unindex(user_id, id).await?,
            }
        }
        sessions.sort_by_key(|session| std::cmp::Reverse(session.created_at));
        Ok(sessions)
    }

    /// Ends every session of a user and refuses every access token issued
    /// up to `now` (logout-all, deactivation, account deletion).
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn revoke_user(
        &self,
        user_id: i64,
        now: i64,
        marker_ttl_seconds: u64,
    ) -> Result<(), StoreError> {
        let marker = self.keys.user_not_before(user_id);
        // The marker is written first: from this instant no older token passes.
        self.run(|mut conn| async move {
            conn.set_ex::<_, _, ()>(marker, now, marker_ttl_seconds)
                .await
        })
        .await?;
        self.end_sessions_except(user_id, None).await
    }

    /// Ends every session of a user but `keep` (password change).
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn end_sessions_except(
        &self,
        user_id: i64,
        keep: Option<Uuid>,
    ) -> Result<(), StoreError> {
        for session in self.user_sessions(user_id).await? {
            if Some(session.id) != keep {
                self.end_session(&session).await?;
            }
        }
        Ok(())
    }

    /// Whether a token of `session_id` issued at `issued_at` still stands.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn session_state(
        &self,
        user_id: i64,
        session_id: Uuid,
        issued_at: i64,
    ) -> Result<SessionState, StoreError> {
        let marker = self.keys.user_not_before(user_id);
        let session = self.keys.session(session_id);
        let (not_before, owner): (Option<i64>, Option<i64>) = self
            .run(|mut conn| async move {
                let mut second = conn.clone();
                tokio::try_join!(
                    conn.get::<_, Option<i64>>(marker),
                    second.hget::<_, _, Option<i64>>(session, "uid")
                )
            })
            .await?;
        // Whole seconds: a token issued in the very second of the logout-all
        // is already dead with its session, and a login right after it lives.
        if not_before.is_some_and(|nbf| issued_at < nbf) {
            return Ok(SessionState::TokensRevoked);
        }
        if owner != Some(user_id) {
            return Ok(SessionState::SessionRevoked);
        }
        Ok(SessionState::Active)
    }
}

fn parse_session(id: Uuid, fields: &HashMap<String, String>) -> Option<Session> {
    let number = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok());
    Some(Session {
        id,
        user_id: number("uid")?,
        market: fields.get("market")?.clone(),
        device_name: fields.get("device").filter(|d| !d.is_empty()).cloned(),
        created_at: number("created")?,
        last_used_at: number("last_used")?,
    })
}
