//! Session records in Redis: create, read, list, end, revoke a user's,
//! and the standing of a token's session. Refresh rotation's script is in
//! `rotation.rs`.
//!
//! A session is active only while its record exists (and its user is
//! active, which PostgreSQL knows). Logout deletes the record; logout-all and
//! deactivation delete every record of the user and write a "not before"
//! time that refuses older access tokens. Losing Redis data can only log
//! people out, never let a revoked token back in.

use std::collections::HashMap;

use common::ids::{SessionId, UserId};
use redis::AsyncCommands as _;
use uuid::Uuid;

use crate::store::{RedisStore, StoreError};

/// What is kept of a session (the refresh digests stay in Redis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub market: String,
    pub device_name: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
}

/// A new session to store.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: SessionId,
    pub user_id: UserId,
    pub market: &'a str,
    pub device_name: Option<&'a str>,
    pub now: i64,
    pub refresh_digest: &'a str,
    pub idle_seconds: u64,
    pub max_seconds: u64,
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
        let session_key = self.keys().session(new.id);
        let user_key = self.keys().user_sessions(new.user_id);
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
        let sid = new.id.0.simple().to_string();
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

    pub(super) async fn unindex(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<(), StoreError> {
        let key = self.keys().user_sessions(user_id);
        let sid = session_id.0.simple().to_string();
        self.run(|mut conn| async move { conn.srem::<_, _, ()>(key, sid).await })
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn session(&self, session_id: SessionId) -> Result<Option<Session>, StoreError> {
        let key = self.keys().session(session_id);
        let fields: HashMap<String, String> = self
            .run(|mut conn| async move { conn.hgetall(key).await })
            .await?;
        Ok(parse_session(session_id, &fields))
    }

    /// Ends one session; `true` if it existed.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn end_session(&self, session: &Session) -> Result<bool, StoreError> {
        self.discard(session.user_id, session.id).await
    }

    /// Deletes a session's record and its index entry; `true` if it existed.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn discard(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<bool, StoreError> {
        let key = self.keys().session(session_id);
        let removed: i64 = self
            .run(|mut conn| async move { conn.del(key).await })
            .await?;
        self.unindex(user_id, session_id).await?;
        Ok(removed > 0)
    }

    /// The user's live sessions; ids whose record is gone are pruned.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn user_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        let set = self.keys().user_sessions(user_id);
        let ids: Vec<String> = self
            .run(|mut conn| async move { conn.smembers(set).await })
            .await?;
        let mut sessions = Vec::with_capacity(ids.len());
        for raw in ids {
            let Ok(id) = Uuid::try_parse(&raw).map(SessionId) else {
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
        user_id: UserId,
        now: i64,
        marker_ttl_seconds: u64,
    ) -> Result<(), StoreError> {
        let marker = self.keys().user_not_before(user_id);
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
        user_id: UserId,
        keep: Option<SessionId>,
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
        user_id: UserId,
        session_id: SessionId,
        issued_at: i64,
    ) -> Result<SessionState, StoreError> {
        let marker = self.keys().user_not_before(user_id);
        let session = self.keys().session(session_id);
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
        if owner != Some(user_id.0) {
            return Ok(SessionState::SessionRevoked);
        }
        Ok(SessionState::Active)
    }
}

fn parse_session(id: SessionId, fields: &HashMap<String, String>) -> Option<Session> {
    let number = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok());
    Some(Session {
        id,
        user_id: UserId(number("uid")?),
        market: fields.get("market")?.clone(),
        device_name: fields.get("device").filter(|d| !d.is_empty()).cloned(),
        created_at: number("created")?,
        last_used_at: number("last_used")?,
    })
}
