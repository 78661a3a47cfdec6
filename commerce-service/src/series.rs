//! The series an operator alerts on, each known label value registered at
//! zero when the application is built, so the first scrape already shows
//! them: a dashboard never says "no data" for an outcome that has not
//! happened yet, and rate and `absent()` alerts work from the start.

use common::telemetry::{CounterSeries, register_counters_at_zero};

use crate::orders::status::OrderStatus;

/// Counters and the values of their labels, as the features count them.
const COUNTERS: &[CounterSeries] = &[
    (
        "status_cache_requests_total",
        "result",
        &["hit", "miss", "bypass"],
    ),
    (
        "auth_status_calls_total",
        "outcome",
        &["ok", "error", "breaker_open"],
    ),
    (
        "checkouts_total",
        "outcome",
        &[
            "created",
            "replayed",
            "cart_empty",
            "out_of_stock",
            "unavailable",
            "idempotency_conflict",
            "too_many_pending_orders",
            "held_units_limit",
            "cart_changed",
            "price_changed",
            "validation_failed",
            "error",
        ],
    ),
    ("orders_expired_total", "", &[]),
    (
        "guest_carts_total",
        "event",
        &["created", "refused", "merged", "expired"],
    ),
    ("outbox_events_published_total", "stream", &["COMMERCE"]),
    ("outbox_relay_failures_total", "", &[]),
    ("revocation_push_events_total", "", &[]),
    ("revocation_push_gaps_total", "", &[]),
];

/// Registers every series at zero (idempotent: adding zero changes nothing).
pub fn register_at_zero() {
    register_counters_at_zero(COUNTERS);
    for status in OrderStatus::ALL {
        metrics::counter!("order_transitions_total", "to" => status.as_str()).increment(0);
    }
    metrics::gauge!("auth_status_breaker_open").set(0.0);
    // Adding zero: the subscription may have set it already.
    metrics::gauge!("revocation_push_connected").increment(0.0);
}
