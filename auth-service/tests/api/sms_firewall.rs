//! The SMS-pumping firewall's silent rules, seen from outside: a dropped
//! send is answered exactly like a sent one, and only the outbox (what
//! the provider would have been asked to send) tells them apart.

use std::sync::{Arc, Mutex};

use auth_service::AppState;
use auth_service::otp::firewall::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::support::{INTERNAL_TOKEN, TestApp, read, serve, spawn, spawn_with, test_settings};

/// Every message the development outbox holds for `phone`.
async fn outbox_of(app: &TestApp, phone: &str) -> Value {
    let response = app
        .client
        .get(app.url("/internal/v1/dev/sms-outbox"))
        .query(&[("phone", phone)])
        .bearer_auth(INTERNAL_TOKEN)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].clone()
}

async fn sent_count(app: &TestApp, phone: &str) -> usize {
    outbox_of(app, phone).await.as_array().map_or(0, Vec::len)
}

/// Sends a code for a login in `market`; every answer must be the plain
/// `202` of a sent code, whatever happened behind it.
async fn send(app: &TestApp, phone: &str, market: &str) -> Value {
    let response = app
        .client
        .post(app.url("/api/v1/auth/send-code"))
        .header("x-market", market)
        .json(&json!({ "phone": phone }))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_number_outside_its_markets_destinations_is_sent_nothing_and_told_nothing(pool: PgPool) {
    let app = spawn(pool).await;
    let indian = "+919876543210";
    // The US market sends only to US numbers: the same answer, no SMS.
    let refused = send(&app, indian, "us").await;
    assert_eq!(sent_count(&app, indian).await, 0);
    let sent = send(&app, indian, "in").await;
    assert_eq!(refused, sent);
    let items = outbox_of(&app, indian).await;
    assert_eq!(items.as_array().map(Vec::len), Some(1));

    // The code's text is bound to the shop's domain (development: localhost).
    let code = items[0]["code"].as_str().unwrap();
    let message = items[0]["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("\n@localhost #{code}")),
        "{message}"
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn sequential_numbers_of_one_range_get_the_ranges_hourly_share_only(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("SMS_PER_RANGE_HOUR", "2")])).await;
    let answers = [
        send(&app, "+13128059851", "us").await,
        send(&app, "+13128059852", "us").await,
        send(&app, "+13128059853", "us").await,
        send(&app, "+13128059854", "us").await,
    ];
    assert!(
        answers.iter().all(|answer| *answer == answers[0]),
        "indistinguishable"
    );
    let mut sent = 0;
    for phone in [
        "+13128059851",
        "+13128059852",
        "+13128059853",
        "+13128059854",
    ] {
        sent += sent_count(&app, phone).await;
    }
    assert_eq!(sent, 2, "the range +1 312 80 had its two");
    // Another range is untouched.
    send(&app, "+12127360000", "us").await;
    assert_eq!(sent_count(&app, "+12127360000").await, 1);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn daily_budgets_stop_sends_until_the_utc_day_ends_while_sent_codes_still_verify(
    pool: PgPool,
) {
    let settings = test_settings(&[
        ("SMS_DAILY_BUDGET", "3"),
        ("SMS_DAILY_BUDGET_PER_COUNTRY", "2"),
    ]);
    let now = Arc::new(Mutex::new(time::macros::datetime!(2026-11-30 23:59:00 UTC)));
    let read_now = now.clone();
    let mut state = AppState::with_pool(settings, pool).unwrap();
    state.otp = state
        .otp
        .with_clock(Clock::from_fn(move || *read_now.lock().unwrap()));
    let app = serve(state).await;

    send(&app, "+13128059851", "us").await;
    send(&app, "+12127360000", "us").await;
    send(&app, "+14153901234", "us").await; // over the US budget of 2
    send(&app, "+919876543210", "in").await; // the third of the total 3
    send(&app, "+919876543211", "in").await; // over the total
    let counts = [
        sent_count(&app, "+13128059851").await,
        sent_count(&app, "+12127360000").await,
        sent_count(&app, "+14153901234").await,
        sent_count(&app, "+919876543210").await,
        sent_count(&app, "+919876543211").await,
    ];
    assert_eq!(counts, [1, 1, 0, 1, 0]);

    // A code already sent still logs in.
    let code = outbox_of(&app, "+13128059851").await[0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let verified = app.verify_code("+13128059851", &code).await;
    assert_eq!(verified.status(), StatusCode::OK);

    // A new UTC day, new budgets.
    *now.lock().unwrap() += time::Duration::minutes(2);
    assert_eq!(budget_day_of(&now), "20261201");
    // (Another number: a dropped send starts its number's resend
    // cooldown as a sent one does, which is what keeps them alike.)
    send(&app, "+14153901235", "us").await;
    assert_eq!(sent_count(&app, "+14153901235").await, 1);
}

fn budget_day_of(now: &Mutex<OffsetDateTime>) -> String {
    auth_service::otp::firewall::budget_day(*now.lock().unwrap())
}
