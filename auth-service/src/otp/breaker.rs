//! The conversion breaker: per destination country, the share of sent
//! codes that were verified over a sliding window. Pumped codes are never
//! typed in, so a country whose share falls under the threshold with
//! enough volume is being pumped: the breaker opens for a cool-off, and
//! while it is open sends to that country need a solved challenge (or
//! trickle through a few a minute). It closes by itself once the cool-off
//! is over and the window no longer looks pumped (sends it held back are
//! not counted, so an attack ages out of the window).
//!
//! One Redis hash per country holds the window's buckets and the open
//! deadline; one script reads and decides, so replicas agree.

use std::sync::LazyLock;

use redis::Script;
use time::OffsetDateTime;

use crate::store::{RedisStore, StoreError};

/// The breaker's knobs.
#[derive(Debug, Clone)]
pub struct BreakerSettings {
    pub window_seconds: u64,
    /// Sends in the window below which the share is not judged.
    pub min_sends: u32,
    /// The least share of sends verified, in thousandths (200 = 20 %).
    pub min_conversion_permille: u32,
    pub cooloff_seconds: u64,
    /// Sends a minute that pass an open breaker without a challenge.
    pub trickle_per_minute: u32,
    /// Countries the breaker never judges (a test suite's own country).
    pub exempt_countries: Vec<String>,
}

/// Buckets a window is cut into.
const BUCKETS: u64 = 30;

/// Where a country's breaker stands after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
}

static BREAKER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local bucket_seconds, buckets = tonumber(ARGV[3]), tonumber(ARGV[4])
local current = math.floor(now / bucket_seconds)
if op == 's' or op == 'v' then
  redis.call('HINCRBY', key, op .. current, 1)
  redis.call('EXPIRE', key, bucket_seconds * buckets * 2)
  return {0, 0, 0}
end
local sent, verified = 0, 0
for b = current - buckets + 1, current do
  sent = sent + tonumber(redis.call('HGET', key, 's' .. b) or '0')
  verified = verified + tonumber(redis.call('HGET', key, 'v' .. b) or '0')
end
if redis.call('HLEN', key) > 4 * buckets then
  for _, field in ipairs(redis.call('HKEYS', key)) do
    local b = tonumber(string.sub(field, 2))
    if b and b <= current - buckets then redis.call('HDEL', key, field) end
  end
end
local open_until = tonumber(redis.call('HGET', key, 'open_until') or '0')
if now < open_until then return {1, sent, verified} end
local min_sends, min_permille, cooloff = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if sent >= min_sends and verified * 1000 < min_permille * sent then
  redis.call('HSET', key, 'open_until', now + cooloff)
  redis.call('EXPIRE', key, bucket_seconds * buckets * 2 + cooloff)
  return {2, sent, verified}
end
if open_until > 0 then
  redis.call('HDEL', key, 'open_until')
  return {3, sent, verified}
end
return {0, sent, verified}
",
    )
});

impl BreakerSettings {
    fn exempt(&self, country: &str) -> bool {
        self.exempt_countries.iter().any(|c| c == country)
    }

    fn bucket_seconds(&self) -> u64 {
        (self.window_seconds / BUCKETS).max(1)
    }
}

async fn run_script(
    store: &RedisStore,
    settings: &BreakerSettings,
    country: &str,
    op: &'static str,
    now: OffsetDateTime,
) -> Result<(i64, u64, u64), StoreError> {
    let key = store.keys().sms_breaker(country);
    let now = now.unix_timestamp();
    store
        .run(|mut conn| async move {
            BREAKER
                .key(key)
                .arg(op)
                .arg(now)
                .arg(settings.bucket_seconds())
                .arg(BUCKETS)
                .arg(settings.min_sends)
                .arg(settings.min_conversion_permille)
                .arg(settings.cooloff_seconds)
                .invoke_async(&mut conn)
                .await
        })
        .await
}

/// Whether `country`'s breaker is open now (judging the window, and
/// opening or closing it as the window says).
pub async fn check(
    store: &RedisStore,
    settings: &BreakerSettings,
    country: &str,
    now: OffsetDateTime,
) -> Result<BreakerState, StoreError> {
    if settings.exempt(country) {
        return Ok(BreakerState::Closed);
    }
    let (state, sent, verified) = run_script(store, settings, country, "c", now).await?;
    let open = matches!(state, 1 | 2);
    metrics::gauge!("sms_breaker_open", "country" => country.to_owned()).set(if open {
        1.0
    } else {
        0.0
    });
    match state {
        2 => {
            metrics::counter!("sms_breaker_opened_total", "country" => country.to_owned())
                .increment(1);
            tracing::warn!(
                alert = "sms_breaker_open",
                country,
                sent,
                verified,
                cooloff_seconds = settings.cooloff_seconds,
                "SMS conversion breaker opened: few codes sent to this country are verified; sends need a challenge or trickle"
            );
        }
        3 => tracing::info!(
            country,
            sent,
            verified,
            "SMS conversion breaker closed: the country's conversion recovered"
        ),
        _ => {}
    }
    Ok(if open {
        BreakerState::Open
    } else {
        BreakerState::Closed
    })
}

/// What happened to a code, for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Sent,
    Verified,
}

/// Counts a code sent to `country`, or verified.
pub async fn record(
    store: &RedisStore,
    settings: &BreakerSettings,
    country: &str,
    event: Event,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if settings.exempt(country) {
        return Ok(());
    }
    let op = match event {
        Event::Sent => "s",
        Event::Verified => "v",
    };
    run_script(store, settings, country, op, now)
        .await
        .map(|_| ())
}
