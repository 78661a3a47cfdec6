//! Codes in Redis: one live code per number (its keyed digest, attempts,
//! burnt flag), the resend cooldown, the per-number hourly count of sends
//! and daily count of wrong codes, each changed in one atomic script (the per-number limits of `limits.rs`).

use std::sync::LazyLock;

use redis::Script;

use super::limits::{DAY, SendLimits, VerifyLimits};
use crate::store::{RedisStore, StoreError};

/// KEYS: otp, cooldown, sends, failures. ARGV: digest, code ttl, cooldown,
/// hourly cap, daily cap of wrong codes (0: none).
/// Replaces any previous code (a resend voids the old one).
static SEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local failures = tonumber(redis.call('GET', KEYS[4]) or '0')
if tonumber(ARGV[5]) > 0 and failures >= tonumber(ARGV[5]) then
  local ttl = redis.call('TTL', KEYS[4])
  if ttl < 1 then ttl = 1 end
  return {'capped', ttl}
end
local cooldown = redis.call('TTL', KEYS[2])
if cooldown > 0 then return {'cooldown', cooldown} end
local sends = tonumber(redis.call('GET', KEYS[3]) or '0')
if sends >= tonumber(ARGV[4]) then
  local ttl = redis.call('TTL', KEYS[3])
  if ttl < 1 then ttl = 1 end
  return {'capped', ttl}
end
if redis.call('INCR', KEYS[3]) == 1 then redis.call('EXPIRE', KEYS[3], 3600) end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'digest', ARGV[1], 'attempts', 0, 'burnt', 0)
redis.call('EXPIRE', KEYS[1], ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[2], '1', 'EX', ARGV[3]) end
return {'sent', 0}
",
    )
});

/// KEYS: otp, cooldown, failures. ARGV: presented digest, max attempts,
/// daily cap of wrong codes (0: none), its window in seconds.
/// Both values compared are HMACs under the server key, so the comparison
/// leaks nothing about the code (the double-HMAC comparison pattern).
static VERIFY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cap = tonumber(ARGV[3])
if cap > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= cap then
  local wait = redis.call('TTL', KEYS[3])
  if wait < 1 then wait = 1 end
  return {'capped', wait}
end
local record = redis.call('HMGET', KEYS[1], 'digest', 'attempts', 'burnt')
if not record[1] then return {'expired', 0} end
if record[3] == '1' then
  local wait = redis.call('TTL', KEYS[2])
  if wait < 1 then wait = 1 end
  return {'locked', wait}
end
if record[1] == ARGV[1] then
  local left = redis.call('PTTL', KEYS[1])
  redis.call('DEL', KEYS[1])
  return {'ok', left}
end
if cap > 0 and redis.call('INCR', KEYS[3]) == 1 then
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'burnt', 1)
  return {'burnt', 0}
end
return {'invalid', 0}
",
    )
});

/// KEYS: otp. ARGV: digest, milliseconds to live. Puts back a code that was
/// accepted but could not complete a login (a dependency failed after the
/// check), unless a new code has been sent since.
static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'digest', ARGV[1], 'attempts', 0, 'burnt', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
    )
});

/// The outcome of storing a new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Stored,
    /// Refused: wait this many seconds.
    Refused(u64),
}

/// The outcome of checking a presented code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Right, and now used up; it had this many milliseconds left.
    Accepted(u64),
    Wrong,
    /// Wrong, and the last attempt allowed: the code is now burnt.
    WrongAndBurnt,
    /// No live code: never sent, expired or used.
    NoLiveCode,
    /// Burnt by too many wrong attempts: wait this many seconds to resend.
    Locked(u64),
    /// The number has had its day's worth of wrong codes: wait this many
    /// seconds.
    Capped(u64),
}

impl VerifyOutcome {
    /// The `outcome` label of `otp_verifications_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Accepted(_) => "accepted",
            Self::Wrong => "wrong",
            Self::WrongAndBurnt => "burnt",
            Self::NoLiveCode => "no_live_code",
            Self::Locked(_) => "locked",
            Self::Capped(_) => "capped",
        }
    }
}

impl RedisStore {
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn store_code(
        &self,
        e164: &str,
        digest: &str,
        limits: SendLimits,
    ) -> Result<SendOutcome, StoreError> {
        let keys = [
            self.keys().otp(e164),
            self.keys().otp_cooldown(e164),
            self.keys().otp_sends(e164),
            self.keys().otp_failures(e164),
        ];
        let digest = digest.to_owned();
        let (status, wait): (String, u64) = self
            .run(|mut conn| async move {
                SEND.key(&keys[0])
                    .key(&keys[1])
                    .key(&keys[2])
                    .key(&keys[3])
                    .arg(digest)
                    .arg(limits.code_ttl_seconds)
                    .arg(limits.resend_seconds)
                    .arg(limits.per_number_hour)
                    .arg(limits.failures_per_number_day)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        match status.as_str() {
            "sent" => Ok(SendOutcome::Stored),
            "cooldown" | "capped" => Ok(SendOutcome::Refused(wait)),
            other => Err(StoreError::Protocol(format!(
                "send script answered {other}"
            ))),
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn check_code(
        &self,
        e164: &str,
        digest: &str,
        limits: VerifyLimits,
    ) -> Result<VerifyOutcome, StoreError> {
        let keys = [
            self.keys().otp(e164),
            self.keys().otp_cooldown(e164),
            self.keys().otp_failures(e164),
        ];
        let digest = digest.to_owned();
        let (status, wait): (String, u64) = self
            .run(|mut conn| async move {
                VERIFY
                    .key(&keys[0])
                    .key(&keys[1])
                    .key(&keys[2])
                    .arg(digest)
                    .arg(limits.max_attempts)
                    .arg(limits.failures_per_number_day)
                    .arg(DAY)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        match status.as_str() {
            "ok" => Ok(VerifyOutcome::Accepted(wait)),
            "invalid" => Ok(VerifyOutcome::Wrong),
            "burnt" => Ok(VerifyOutcome::WrongAndBurnt),
            "expired" => Ok(VerifyOutcome::NoLiveCode),
            "locked" => Ok(VerifyOutcome::Locked(wait)),
            "capped" => Ok(VerifyOutcome::Capped(wait)),
            other => Err(StoreError::Protocol(format!(
                "verify script answered {other}"
            ))),
        }
    }

    /// Puts an accepted code back for `ttl_ms` unless another code was
    /// sent meanwhile; `true` when it was put back.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn give_back_code(
        &self,
        e164: &str,
        digest: &str,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let key = self.keys().otp(e164);
        let digest = digest.to_owned();
        let restored: i64 = self
            .run(|mut conn| async move {
                GIVE_BACK
                    .key(key)
                    .arg(digest)
                    .arg(ttl_ms.max(1))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(restored == 1)
    }
}
