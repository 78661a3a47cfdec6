//! The SMS-pumping firewall's silent rules: sends that pass the per-IP,
//! per-country and per-number limits (`limits.rs`) may still go to numbers
//! nobody will ever type a code from. These rules drop such sends without
//! telling: the caller gets the same `202` as for a sent code, so no
//! answer tells an attacker which rule stopped it. Every count lives in
//! Redis, shared by the replicas.
//!
//! - **Number-range velocity**: sends per number range (the first digits
//!   of the E.164 number, country code included) per hour. Pumping walks
//!   through sequential numbers of a few premium ranges; customers are
//!   spread over thousands of ranges.
//! - **Daily spend budgets**: SMS per UTC day, in total and per
//!   destination country. Past one, sends stop (a log line and a metric
//!   an operator alerts on); codes already sent still verify.

use std::sync::{Arc, LazyLock};

use anyhow::ensure;
use common::config::Env;
use ipnet::IpNet;
use redis::Script;
use time::OffsetDateTime;

use super::breaker::BreakerSettings;
use super::phone::Phone;
use crate::store::{RedisStore, StoreError};

const HOUR: u64 = 3600;
/// Budget counters outlive their day by one, then expire.
const BUDGET_KEY_SECONDS: u64 = 2 * 86_400;

/// The firewall's knobs (`SMS_*` settings); `0` turns a limit off.
#[derive(Debug, Clone)]
pub struct FirewallSettings {
    /// Sends per number range per hour.
    pub per_range_hour: u32,
    /// How many leading digits of the E.164 number make its range.
    pub range_digits: usize,
    /// SMS per UTC day, in total.
    pub daily_total: u32,
    /// SMS per UTC day to one destination country.
    pub daily_per_country: u32,
    pub breaker: BreakerSettings,
    pub challenge: ChallengeSettings,
}

/// When `send-code` asks for a challenge, and how hard it is.
#[derive(Debug, Clone)]
pub struct ChallengeSettings {
    /// Leading zero bits the proof of work needs (2^n hashes on average).
    pub difficulty: u32,
    pub ttl_seconds: u64,
    /// Sends from one client address in the hour after which it is hot.
    pub ip_hot_after: u32,
    /// Sends to one number range in the hour after which it is hot.
    pub range_hot_after: u32,
    /// Client addresses never asked (a test suite's own).
    pub exempt: Vec<IpNet>,
}

impl FirewallSettings {
    pub fn from_env(env: &Env) -> anyhow::Result<Self> {
        let settings = Self {
            per_range_hour: env.parse("SMS_PER_RANGE_HOUR", 20)?,
            range_digits: env.parse("SMS_RANGE_DIGITS", 6)?,
            daily_total: env.parse("SMS_DAILY_BUDGET", 10_000)?,
            daily_per_country: env.parse("SMS_DAILY_BUDGET_PER_COUNTRY", 5_000)?,
            breaker: BreakerSettings {
                window_seconds: env.parse("SMS_BREAKER_WINDOW_SECONDS", 3600)?,
                min_sends: env.parse("SMS_BREAKER_MIN_SENDS", 50)?,
                min_conversion_permille: 10
                    * env.parse::<u32>("SMS_BREAKER_MIN_CONVERSION_PERCENT", 20)?,
                cooloff_seconds: env.parse("SMS_BREAKER_COOLOFF_SECONDS", 900)?,
                trickle_per_minute: env.parse("SMS_BREAKER_TRICKLE_PER_MINUTE", 2)?,
                exempt_countries: env
                    .list("SMS_BREAKER_EXEMPT_COUNTRIES", "")
                    .iter()
                    .map(|c| c.to_ascii_uppercase())
                    .collect(),
            },
            challenge: ChallengeSettings {
                difficulty: env.parse("SMS_CHALLENGE_DIFFICULTY", 18)?,
                ttl_seconds: env.parse("SMS_CHALLENGE_TTL_SECONDS", 120)?,
                ip_hot_after: env.parse("SMS_CHALLENGE_IP_AFTER", 5)?,
                range_hot_after: env.parse("SMS_CHALLENGE_RANGE_AFTER", 10)?,
                exempt: common::client_ip::networks(env, "SMS_CHALLENGE_EXEMPT", "")?,
            },
        };
        ensure!(
            (4..=12).contains(&settings.range_digits),
            "SMS_RANGE_DIGITS must be from 4 to 12"
        );
        ensure!(
            (1..=32).contains(&settings.challenge.difficulty),
            "SMS_CHALLENGE_DIFFICULTY must be from 1 to 32 bits"
        );
        ensure!(
            settings.breaker.min_conversion_permille <= 1000,
            "SMS_BREAKER_MIN_CONVERSION_PERCENT must be at most 100"
        );
        ensure!(
            settings.breaker.window_seconds >= 30 && settings.challenge.ttl_seconds >= 10,
            "SMS_BREAKER_WINDOW_SECONDS must be at least 30 and SMS_CHALLENGE_TTL_SECONDS at least 10"
        );
        Ok(settings)
    }
}

/// What time it is: the system clock, or a test's.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(OffsetDateTime::now_utc))
    }

    /// A clock that reads `now` (a test moves it).
    pub fn from_fn(now: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// Why a send was dropped, as the `outcome` label of `sms_sends_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    RangeLimited,
    BudgetExhausted,
}

impl Dropped {
    pub fn label(self) -> &'static str {
        match self {
            Self::RangeLimited => "range_limited",
            Self::BudgetExhausted => "budget_exhausted",
        }
    }
}

/// The range of a number: its first `digits` digits (country code
/// included), e.g. `131280` for +1 312 805 9851 and 6 digits.
pub fn range_of(phone: &Phone, digits: usize) -> &str {
    let number = phone.e164().trim_start_matches('+');
    &number[..digits.min(number.len())]
}

/// The UTC day a budget counts in, e.g. `20261130`.
pub fn budget_day(now: OffsetDateTime) -> String {
    let date = now.to_offset(time::UtcOffset::UTC).date();
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Counts a send against its number range; `Err` when the range had its
/// hour's share.
pub async fn check_range(
    store: &RedisStore,
    settings: &FirewallSettings,
    phone: &Phone,
) -> Result<Result<(), Dropped>, StoreError> {
    let range = range_of(phone, settings.range_digits);
    let within = store
        .hit("sms-range", range, settings.per_range_hour, HOUR)
        .await?;
    Ok(within.map_err(|_| Dropped::RangeLimited))
}

/// Whether the client's address or the number's range has sent enough
/// this hour to be asked for a challenge (`ip_sends` is the send limit's
/// per-address count, already counting this send).
pub async fn is_hot(
    store: &RedisStore,
    settings: &FirewallSettings,
    phone: &Phone,
    ip_sends: u64,
) -> Result<bool, StoreError> {
    let rules = &settings.challenge;
    if rules.ip_hot_after > 0 && ip_sends > u64::from(rules.ip_hot_after) {
        return Ok(true);
    }
    let range = range_of(phone, settings.range_digits);
    Ok(rules.range_hot_after > 0
        && store.count("sms-range", range).await? >= u64::from(rules.range_hot_after))
}

/// Takes one SMS from today's budgets, the total and the country's, both
/// or neither (one script; both keys share the day's hash tag).
static SPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local country = tonumber(redis.call('GET', KEYS[2]) or '0')
local total_cap, country_cap = tonumber(ARGV[1]), tonumber(ARGV[2])
if (total_cap > 0 and total >= total_cap) or (country_cap > 0 and country >= country_cap) then
  return {0, total, country}
end
total = redis.call('INCR', KEYS[1])
country = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {1, total, country}
",
    )
});

/// Spends one SMS of today's budgets; `Err` (and an alert-worthy log
/// line) when the total or the country's is used up.
pub async fn spend_budget(
    store: &RedisStore,
    settings: &FirewallSettings,
    phone: &Phone,
    now: OffsetDateTime,
) -> Result<Result<(), Dropped>, StoreError> {
    let day = budget_day(now);
    let total_key = store.keys().sms_budget(&day, "total");
    let country_key = store.keys().sms_budget(&day, phone.country());
    let (spent, total, country): (i64, u64, u64) = store
        .run(|mut conn| async move {
            SPEND
                .key(total_key)
                .key(country_key)
                .arg(settings.daily_total)
                .arg(settings.daily_per_country)
                .arg(BUDGET_KEY_SECONDS)
                .invoke_async(&mut conn)
                .await
        })
        .await?;
    metrics::gauge!("sms_budget_used", "scope" => "total").set(total as f64);
    metrics::gauge!("sms_budget_used", "scope" => phone.country().to_owned()).set(country as f64);
    if spent == 1 {
        return Ok(Ok(()));
    }
    metrics::counter!("sms_budget_exhausted_total", "country" => phone.country().to_owned())
        .increment(1);
    tracing::error!(
        alert = "sms_budget_exhausted",
        country = phone.country(),
        day,
        total_used = total,
        country_used = country,
        total_budget = settings.daily_total,
        country_budget = settings.daily_per_country,
        "the daily SMS budget is used up: no codes are sent until the day ends"
    );
    Ok(Err(Dropped::BudgetExhausted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_the_leading_digits_of_the_number() {
        let phone = Phone::parse("+1 312 805 9851", &[]).unwrap();
        assert_eq!(range_of(&phone, 6), "131280");
        assert_eq!(range_of(&phone, 4), "1312");
        assert_eq!(range_of(&phone, 40), "13128059851");
    }

    #[test]
    fn budgets_count_per_utc_day() {
        let late = time::macros::datetime!(2026-11-30 23:59:59 UTC);
        assert_eq!(budget_day(late), "20261130");
        assert_eq!(budget_day(late + time::Duration::seconds(2)), "20261201");
        let elsewhere = time::macros::datetime!(2026-12-01 01:00 +03:00);
        assert_eq!(budget_day(elsewhere), "20261130", "the day is UTC's");
    }
}
