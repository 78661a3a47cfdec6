//! The Redis connection of auth-service and the names of every key it
//! writes. The features add their own operations on [`RedisStore`] beside
//! their rules: sessions and refresh rotation in `sessions/store.rs`, codes
//! in `otp/store.rs`, the development outbox in `otp/outbox.rs`, fixed-window
//! limits in `rate_limit.rs`.
//!
//! Every key is listed in [`Keys`]. Each carries a hash tag (`{s:<sid>}`,
//! `{u:<uid>}`, `{p:<phone>}`, `{rl:...}`) so that every multi-key step
//! touches one slot and the same scripts run on Redis Cluster.

use std::future::Future;
use std::time::Duration;

use crate::redis_connection::RedisConnection;
use common::ids::{SessionId, UserId};

/// The Redis side of auth-service; cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    conn: RedisConnection,
    keys: Keys,
    timeout: Duration,
}

/// Names of every key auth-service writes.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Hash of one session: user, market, device, times, refresh digests.
    pub fn session(&self, sid: SessionId) -> String {
        format!("{}:{{s:{}}}", self.prefix, sid.0.simple())
    }
    /// Set of a user's session ids.
    pub fn user_sessions(&self, user_id: UserId) -> String {
        format!("{}:{{u:{user_id}}}:sessions", self.prefix)
    }
    /// A user's "not before": tokens issued earlier are revoked (logout-all).
    pub fn user_not_before(&self, user_id: UserId) -> String {
        format!("{}:{{u:{user_id}}}:nbf", self.prefix)
    }
    /// The live code of a number: digest, attempts, burnt flag.
    pub fn otp(&self, e164: &str) -> String {
        format!("{}:{{p:{e164}}}:otp", self.prefix)
    }
    /// Present while a number's resend cooldown runs.
    pub fn otp_cooldown(&self, e164: &str) -> String {
        format!("{}:{{p:{e164}}}:cooldown", self.prefix)
    }
    /// Codes sent to a number in the current hour.
    pub fn otp_sends(&self, e164: &str) -> String {
        format!("{}:{{p:{e164}}}:sends", self.prefix)
    }
    /// Wrong codes presented for a number in the current day.
    pub fn otp_failures(&self, e164: &str) -> String {
        format!("{}:{{p:{e164}}}:failures", self.prefix)
    }
    /// Development outbox of a number (list of JSON messages).
    pub fn outbox(&self, e164: &str) -> String {
        format!("{}:{{p:{e164}}}:outbox", self.prefix)
    }
    /// A daily SMS budget counter (`scope`: `total` or a country); one
    /// day's counters share a hash tag, so one script takes from both.
    pub fn sms_budget(&self, day: &str, scope: &str) -> String {
        format!("{}:{{sb:{day}}}:{scope}", self.prefix)
    }
    /// A country's conversion breaker: its window's buckets and deadline.
    pub fn sms_breaker(&self, country: &str) -> String {
        format!("{}:{{cb:{country}}}", self.prefix)
    }
    /// A marker that something single-use (a challenge) was used.
    pub fn once(&self, name: &str, id: &str) -> String {
        format!("{}:{{once:{name}:{id}}}", self.prefix)
    }
    /// A fixed-window counter of a named limit and subject, in a group
    /// whose counters share one hash tag (one Redis Cluster slot), so that
    /// one script counts a request against all of them.
    pub fn grouped_limit(&self, group: &str, name: &str, subject: &str) -> String {
        format!("{}:{{rl:{group}}}:{name}:{subject}", self.prefix)
    }
    /// A fixed-window counter of a named limit and subject.
    pub fn limit(&self, name: &str, subject: &str) -> String {
        format!("{}:{{rl:{name}:{subject}}}", self.prefix)
    }
}

/// Redis failed or did not answer in time; answered as `503`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis returned an unexpected reply: {0}")]
    Protocol(String),
}

impl RedisStore {
    pub fn new(conn: RedisConnection, prefix: &str, timeout: Duration) -> Self {
        Self {
            conn,
            keys: Keys {
                prefix: prefix.to_owned(),
            },
            timeout,
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Runs one Redis operation with its own connection handle, bounded in
    /// time so that a Redis outage answers 503 quickly instead of hanging.
    pub(crate) async fn run<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        F: FnOnce(RedisConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.timeout, operation(self.conn.clone())).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }

    /// Redis's `maxmemory-policy`, or `None` when the server does not say
    /// (managed services may disable `CONFIG`). Anything but `noeviction`
    /// lets Redis evict a session index under memory pressure, after which
    /// a logout-all would miss the evicted sessions.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn eviction_policy(&self) -> Result<Option<String>, StoreError> {
        let reply = self
            .run(|mut conn| async move {
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("maxmemory-policy")
                    .query_async::<Vec<String>>(&mut conn)
                    .await
            })
            .await;
        match reply {
            Ok(pair) => Ok(pair.into_iter().nth(1)),
            // CONFIG renamed or refused (NOPERM, unknown command): unknown.
            Err(StoreError::Redis(error)) if error.code().is_some() => {
                tracing::debug!(%error, "CONFIG GET maxmemory-policy refused");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// `PING`, for readiness.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(
            |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await
        .map(|_| ())
    }

    /// Marks `name`/`id` used for `seconds`; `true` only for the first
    /// caller (`SET NX`).
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn use_once(&self, name: &str, id: &str, seconds: u64) -> Result<bool, StoreError> {
        let key = self.keys().once(name, id);
        self.run(|mut conn| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(seconds.max(1))
                .query_async::<Option<String>>(&mut conn)
                .await
        })
        .await
        .map(|set| set.is_some())
    }
}
