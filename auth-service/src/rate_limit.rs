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

/// [`HIT`] over several counters of one group in one call: INCR each in
/// turn (a limit of 0 skips it), stopping at the first over its limit.
/// Answers the 1-based index of the refusing counter (0: none) and its
/// wait, then each counter's count (0 for those skipped or not reached).
/// The order is the caller's: a request refused by the first is not
/// counted by the rest, as with one call per counter.
static HIT_IN_ORDER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local window = ARGV[#KEYS + 1]
local answer = {0, 0}
for i = 1, #KEYS do answer[i + 2] = 0 end
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i])
  if limit > 0 then
    local count = redis.call('INCR', key)
    if count == 1 then redis.call('EXPIRE', key, window) end
    answer[i + 2] = count
    if count > limit then
      local ttl = redis.call('TTL', key)
      if ttl < 1 then ttl = 1 end
      answer[1] = i
      answer[2] = ttl
      return answer
    end
  end
end
return answer
",
    )
});

/// What [`RedisStore::hit_in_order`] counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hits {
    /// The index (into the hits asked for) of the counter that refused,
    /// and how long to wait.
    pub refused: Option<(usize, RetryAfter)>,
    /// Each counter's count in its window, this hit included (0 for one
    /// disabled or not reached).
    pub counts: Vec<u64>,
}

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

    /// Counts one hit against each `(name, subject, limit)` of `group`, in
    /// order, in one round trip; the first over its limit stops the rest
    /// (`limit == 0` disables one). The group's counters share a hash tag,
    /// so one script may touch them all on a Redis Cluster too.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn hit_in_order(
        &self,
        group: &str,
        hits: &[(&str, &str, u32)],
        window_seconds: u64,
    ) -> Result<Hits, StoreError> {
        let mut invocation = HIT_IN_ORDER.prepare_invoke();
        for (name, subject, limit) in hits {
            invocation
                .key(self.keys().grouped_limit(group, name, subject))
                .arg(*limit);
        }
        invocation.arg(window_seconds);
        let answer: Vec<u64> = self
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let refused = match answer.first().copied().unwrap_or(0) {
            0 => None,
            index => Some((
                index as usize - 1,
                RetryAfter(answer.get(1).copied().unwrap_or(1)),
            )),
        };
        Ok(Hits {
            refused,
            counts: answer.into_iter().skip(2).collect(),
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
        self.get_count(self.keys().limit(name, subject)).await
    }

    async fn get_count(&self, key: String) -> Result<u64, StoreError> {
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
