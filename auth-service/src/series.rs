//! The series an operator alerts on, each known label value registered at
//! zero when the application is built, so the first scrape already shows
//! them: a dashboard never says "no data" for a refresh reuse that has not
//! happened yet, and rate and `absent()` alerts work from the start.

use common::telemetry::{CounterSeries, register_counters_at_zero};

/// Counters and the values of their labels, as the features count them.
const COUNTERS: &[CounterSeries] = &[
    ("otp_sends_total", "", &[]),
    (
        "otp_sends_refused_total",
        "reason",
        &["otp-ip", "otp-country", "otp-total", "otp-number"],
    ),
    (
        "otp_verifications_total",
        "outcome",
        &[
            "accepted",
            "wrong",
            "burnt",
            "no_live_code",
            "locked",
            "capped",
        ],
    ),
    ("otp_codes_locked_total", "", &[]),
    ("password_logins_total", "outcome", &["ok", "invalid"]),
    ("password_logins_slowed_total", "", &[]),
    (
        "refresh_rotations_total",
        "outcome",
        &["rotated", "grace_retry", "invalid", "reused"],
    ),
    ("refresh_reuse_detected_total", "", &[]),
    ("auth_sessions_started_total", "", &[]),
    ("token_status_requests_total", "active", &["true", "false"]),
    ("outbox_events_published_total", "stream", &["AUTH"]),
    ("outbox_relay_failures_total", "", &[]),
];

/// Registers every series at zero (idempotent: adding zero changes nothing).
pub fn register_at_zero() {
    register_counters_at_zero(COUNTERS);
}
