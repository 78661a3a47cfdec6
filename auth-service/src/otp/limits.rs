//! Every limit on sending and checking codes, in one place: the per-IP,
//! per-country and total hourly budgets of sends (fixed windows from
//! `rate_limit.rs`), the per-IP budget of checks, and the per-number
//! limits that the send script enforces atomically with storing the code
//! (resend cooldown, hourly cap) and the verify script with checking it
//! (attempts before the code is burnt, and the daily cap on wrong codes
//! per number over all its codes: 5 codes an hour with 5 attempts each
//! would otherwise allow 25 guesses an hour, every hour).

use std::net::IpAddr;

use super::OtpError;
use super::phone::Phone;
use crate::config::OtpSettings;
use crate::store::RedisStore;

pub use super::store::{SendOutcome, VerifyOutcome};

const HOUR: u64 = 3600;
/// The window of the per-number cap on wrong codes.
pub const DAY: u64 = 86_400;

/// The per-number limits of one send, applied inside the send script.
#[derive(Debug, Clone, Copy)]
pub struct SendLimits {
    pub code_ttl_seconds: u64,
    pub resend_seconds: u64,
    pub per_number_hour: u32,
    /// A number at its daily cap of wrong codes is sent none: it could not
    /// use them.
    pub failures_per_number_day: u32,
}

impl From<&OtpSettings> for SendLimits {
    fn from(settings: &OtpSettings) -> Self {
        Self {
            code_ttl_seconds: settings.code_ttl_seconds,
            resend_seconds: settings.resend_seconds,
            per_number_hour: settings.per_number_hour,
            failures_per_number_day: settings.failures_per_number_day,
        }
    }
}

/// The per-number limits of one check, applied inside the verify script.
#[derive(Debug, Clone, Copy)]
pub struct VerifyLimits {
    pub max_attempts: u32,
    pub failures_per_number_day: u32,
}

impl From<&OtpSettings> for VerifyLimits {
    fn from(settings: &OtpSettings) -> Self {
        Self {
            max_attempts: settings.max_attempts,
            failures_per_number_day: settings.failures_per_number_day,
        }
    }
}

/// The group of the send budgets' counters (one script counts a send in
/// all three; see `RedisStore::hit_in_order`). On a Redis Cluster they
/// share a slot, as the total counter alone already made every send touch
/// one node.
pub const SEND_BUDGETS: &str = "otp-send";

/// The per-IP send budget's counter (its count, which
/// [`check_send_budgets`] answers, also tells the firewall whether the
/// address is hot).
pub const PER_IP: &str = "otp-ip";

/// Counts a send against the per-IP, per-country and total budgets, in
/// that order, in one round trip; the first one exhausted refuses it (and
/// is counted in a metric by name), and the later ones do not count it.
/// Answers how many sends the client's address has made this hour, this
/// one included.
pub async fn check_send_budgets(
    store: &RedisStore,
    settings: &OtpSettings,
    phone: &Phone,
    client_ip: IpAddr,
) -> Result<u64, OtpError> {
    let ip = client_ip.to_string();
    let budgets = [
        (PER_IP, ip.as_str(), settings.per_ip_hour),
        ("otp-country", phone.country(), settings.per_country_hour),
        ("otp-total", "all", settings.total_hour),
    ];
    let hits = store.hit_in_order(SEND_BUDGETS, &budgets, HOUR).await?;
    if let Some((index, wait)) = hits.refused {
        let name = budgets.get(index).map_or("otp-total", |budget| budget.0);
        metrics::counter!("otp_sends_refused_total", "reason" => name).increment(1);
        return Err(OtpError::RateLimited(wait.0));
    }
    Ok(hits.counts.first().copied().unwrap_or(0))
}

/// Counts a code check against the per-IP budget.
pub async fn check_verify_budget(
    store: &RedisStore,
    settings: &OtpSettings,
    client_ip: IpAddr,
) -> Result<(), OtpError> {
    store
        .hit(
            "otp-verify-ip",
            &client_ip.to_string(),
            settings.verify_per_ip_hour,
            HOUR,
        )
        .await?
        .map_err(|wait| OtpError::RateLimited(wait.0))
}
