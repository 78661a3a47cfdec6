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

use crate::support::{TestApp, read, serve, spawn, spawn_with, test_settings};

async fn sent_count(app: &TestApp, phone: &str) -> usize {
    app.outbox(phone).await.as_array().map_or(0, Vec::len)
}

/// A `send-code` request: the login's market, the client address (the
/// test stands as the trusted proxy) and a challenge's solution, each if
/// given; the raw answer.
async fn send_code(
    app: &TestApp,
    phone: &str,
    market: Option<&str>,
    client: Option<&str>,
    solution: Option<Value>,
) -> (StatusCode, Value) {
    let mut body = json!({ "phone": phone });
    if let Some(solution) = solution {
        body["challenge_response"] = solution;
    }
    let mut request = app
        .client
        .post(app.url("/api/v1/auth/send-code"))
        .json(&body);
    if let Some(market) = market {
        request = request.header("x-market", market);
    }
    if let Some(client) = client {
        request = request.header("x-forwarded-for", client);
    }
    read(request.send().await.unwrap()).await
}

/// Sends a code for a login in `market`; every answer must be the plain
/// `202` of a sent code, whatever happened behind it.
async fn send(app: &TestApp, phone: &str, market: &str) -> Value {
    let (status, body) = send_code(app, phone, Some(market), None, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_number_outside_its_markets_destinations_is_sent_nothing_and_told_nothing(pool: PgPool) {
    let app = spawn(pool).await;
    let (refused, sent) = ("+919876543210", "+919876543211");
    // The US market sends only to US numbers: the same answer, no SMS.
    let refused_answer = send(&app, refused, "us").await;
    let sent_answer = send(&app, sent, "in").await;
    assert_eq!(refused_answer, sent_answer);
    assert_eq!(sent_count(&app, refused).await, 0);
    // And a repeat meets the same resend cooldown either way.
    for (phone, market) in [(refused, "us"), (sent, "in")] {
        let (status, _) = send_code(&app, phone, Some(market), None, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{phone}");
    }
    let items = app.outbox(sent).await;
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
    let state = AppState::with_pool(settings, pool)
        .unwrap()
        .with_otp_clock(Clock::from_fn(move || *read_now.lock().unwrap()));
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
    let code = app.outbox("+13128059851").await[0]["code"]
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

async fn send_from(
    app: &TestApp,
    client: &str,
    phone: &str,
    solution: Option<Value>,
) -> (StatusCode, Value) {
    send_code(app, phone, None, Some(client), solution).await
}

fn solved(problem: &Value) -> Value {
    let challenge = auth_service::otp::challenge::Challenge {
        kind: "pow-sha256",
        challenge: problem["challenge"]["challenge"]
            .as_str()
            .unwrap()
            .to_owned(),
        difficulty: u32::try_from(problem["challenge"]["difficulty"].as_u64().unwrap()).unwrap(),
        expires_in: 0,
    };
    let solution = auth_service::otp::challenge::solve(&challenge);
    json!({"challenge": challenge.challenge, "solution": solution})
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_hot_address_must_solve_a_fresh_challenge_bound_to_the_number(pool: PgPool) {
    let app = spawn_with(
        pool,
        test_settings(&[
            ("SMS_CHALLENGE_IP_AFTER", "2"),
            ("SMS_CHALLENGE_DIFFICULTY", "8"),
        ]),
    )
    .await;
    let client = "203.0.113.5";
    for phone in ["+13128059851", "+12127360000"] {
        assert_eq!(
            send_from(&app, client, phone, None).await.0,
            StatusCode::ACCEPTED
        );
    }
    let phone = "+14153901234";
    let (status, problem) = send_from(&app, client, phone, None).await;
    assert_eq!(
        (status.as_u16(), problem["code"].as_str()),
        (428, Some("challenge_required")),
        "{problem}"
    );
    assert_eq!(problem["challenge"]["kind"], "pow-sha256");
    assert_eq!(sent_count(&app, phone).await, 0);

    // A solution for another number, or a wrong one, is asked again.
    let mut other = solved(&problem);
    let (status, _) = send_from(&app, client, "+16175550000", Some(other.clone())).await;
    assert_eq!(status.as_u16(), 428);
    other["solution"] = json!("x");
    assert_eq!(
        send_from(&app, client, phone, Some(other)).await.0.as_u16(),
        428
    );

    // Solved, the code goes out; the same solution does not serve twice.
    let answer = solved(&problem);
    let (status, _) = send_from(&app, client, phone, Some(answer.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(sent_count(&app, phone).await, 1);
    let (status, _) = send_from(&app, client, "+14153901235", Some(answer)).await;
    assert_eq!(status.as_u16(), 428, "a solution is good once");
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn the_conversion_breaker_opens_on_a_pumped_country_and_closes_when_it_recovers(
    pool: PgPool,
) {
    use auth_service::otp::breaker::{self, BreakerSettings, BreakerState, Event};
    let app = spawn(pool).await;
    let store = &app.state.store;
    let settings = BreakerSettings {
        window_seconds: 60,
        min_sends: 10,
        min_conversion_permille: 200,
        cooloff_seconds: 30,
        trickle_per_minute: 0,
        exempt_countries: vec!["US".into()],
    };
    let t0 = time::macros::datetime!(2026-11-30 12:00:00 UTC);
    let at = |seconds: i64| t0 + time::Duration::seconds(seconds);
    let state = |country: &'static str, seconds: i64| {
        let settings = &settings;
        async move {
            breaker::check(store, settings, country, at(seconds))
                .await
                .unwrap()
        }
    };

    // India converts: 10 sent, 5 verified. Latvia is pumped: 12 sent, 1 verified.
    for n in 0..12 {
        breaker::record(store, &settings, "LV", Event::Sent, at(n))
            .await
            .unwrap();
    }
    breaker::record(store, &settings, "LV", Event::Verified, at(12))
        .await
        .unwrap();
    for n in 0..10 {
        breaker::record(store, &settings, "IN", Event::Sent, at(n))
            .await
            .unwrap();
        if n % 2 == 0 {
            breaker::record(store, &settings, "IN", Event::Verified, at(n))
                .await
                .unwrap();
        }
    }
    assert_eq!(state("IN", 13).await, BreakerState::Closed);
    assert_eq!(state("LV", 13).await, BreakerState::Open);
    assert_eq!(state("LV", 40).await, BreakerState::Open, "the cool-off");
    // The cool-off over, the window still holds the pumping: open again.
    assert_eq!(state("LV", 44).await, BreakerState::Open);
    // Once the pumped sends leave the window and the cool-off ends, it
    // closes by itself.
    assert_eq!(state("LV", 80).await, BreakerState::Closed);
    // Too few sends are not judged, and an exempt country never is.
    breaker::record(store, &settings, "EE", Event::Sent, at(80))
        .await
        .unwrap();
    assert_eq!(state("EE", 81).await, BreakerState::Closed);
    for n in 0..20 {
        breaker::record(store, &settings, "US", Event::Sent, at(n))
            .await
            .unwrap();
    }
    assert_eq!(state("US", 21).await, BreakerState::Closed);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_send_refused_by_its_address_budget_spends_none_of_the_countrys(pool: PgPool) {
    let app = spawn_with(
        pool,
        test_settings(&[("OTP_PER_IP_HOUR", "1"), ("OTP_PER_COUNTRY_HOUR", "2")]),
    )
    .await;
    let (noisy, quiet, third) = (
        Some("203.0.113.7"),
        Some("203.0.113.8"),
        Some("203.0.113.9"),
    );
    let (status, _) = send_code(&app, "+13128059851", Some("us"), noisy, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Over the address's budget, five times: the country's is untouched.
    for n in 2..7 {
        let (status, body) =
            send_code(&app, &format!("+1312805985{n}"), Some("us"), noisy, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["code"], "rate_limited");
    }
    let (status, body) = send_code(&app, "+13128059858", Some("us"), quiet, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(sent_count(&app, "+13128059858").await, 1);
    // Now the country's two are spent.
    let (status, body) = send_code(&app, "+13128059859", Some("us"), third, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}
