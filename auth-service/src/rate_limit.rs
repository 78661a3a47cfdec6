//! Fixed-window counters in Redis, shared by every replica. The limits
//! themselves (which counter, which cap) belong to their features:
//! `otp/limits.rs` and `accounts/login.rs`.

use std::sync::LazyLock;

use redis::Script;

use crate::store::{RedisStore, StoreError};

/// INCR a window counter (starting its window on the first hit) and answer
/// 0 when within `limit`, else the seconds until the window ends.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return ttl
end
return 0
",
    )
});

/// How long a refused caller should wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RedisStore {
    /// Counts one hit against `name`/`subject`; `Err(RetryAfter)` once more
    /// than `limit` hits fall in the current window. `limit == 0` disables.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn hit(
        &self,
        name: &str,
        subject: &str,
        limit: u32,
        window_seconds: u64,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        if limit == 0 {
            return Ok(Ok(()));
        }
        let key = self.keys().limit(name, subject);
        let wait: u64 = self
            .run(|mut conn| async move {
                HIT.key(key)
                    .arg(limit)
                    .arg(window_seconds)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(if wait == 0 {
            Ok(())
        } else {
            Err(RetryAfter(wait))
        })
    }

    /// Counts one event in `name`/`subject`'s window, with no limit of its
    /// own (a count that other decisions read with [`Self::count`]).
    pub async fn record(
        &self,
        name: &str,
        subject: &str,
        window_seconds: u64,
    ) -> Result<(), StoreError> {
        self.hit(name, subject, u32::MAX, window_seconds)
            .await
            .map(|_| ())
    }

    /// The events counted in `name`/`subject`'s current window.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn count(&self, name: &str, subject: &str) -> Result<u64, StoreError> {
        let key = self.keys().limit(name, subject);
        self.run(|mut conn| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<u64>>(&mut conn)
                .await
        })
        .await
        .map(Option::unwrap_or_default)
    }

    /// Clears a window (after a successful login, its failures are forgiven).
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn clear(&self, name: &str, subject: &str) -> Result<(), StoreError> {
        let key = self.keys().limit(name, subject);
        self.run(|mut conn| async move {
            redis::cmd("DEL")
                .arg(key)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }
}
