use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{access, expect_problem, read, spawn, spawn_with, test_settings};

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn password_login_issues_a_pair_and_bad_credentials_look_alike(pool: PgPool) {
    let app = spawn(pool).await;
    let id = app
        .create_account("ops@example.com", "a-long-password", "customer")
        .await;
    let (status, pair) = read(
        app.login_password("OPS@example.com ", "a-long-password")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    assert_eq!(pair["user"]["id"], id);
    assert_eq!(pair["user"]["email"], "ops@example.com");

    let wrong = expect_problem(
        app.login_password("ops@example.com", "wrong-password")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    let unknown = expect_problem(
        app.login_password("nobody@example.com", "wrong-password")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong["detail"], unknown["detail"]);
    // A phone-only account has no password to match either.
    let phone_user = app.login_phone("+13128059851").await;
    assert!(phone_user["user"]["email"].is_null());
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_failing_address_is_refused_while_the_owner_elsewhere_gets_in(pool: PgPool) {
    let app = spawn_with(
        pool,
        test_settings(&[("LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", "3")]),
    )
    .await;
    app.create_account("ops@example.com", "a-long-password", "customer")
        .await;
    let attacker = "198.51.100.7";
    for _ in 0..3 {
        expect_problem(
            app.login_password_from(attacker, "ops@example.com", "nope-nope")
                .await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // The attacker's address is refused for this account, even with the
    // right password...
    let response = app
        .login_password_from(attacker, "ops@example.com", "a-long-password")
        .await;
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, 429, "rate_limited").await;
    // ...the owner, at another address, is not locked out.
    let owner = app
        .login_password_from("203.0.113.5", "ops@example.com", "a-long-password")
        .await;
    assert_eq!(owner.status(), StatusCode::OK);
    // Unknown accounts are counted alike, so the limit reveals nothing.
    for _ in 0..3 {
        expect_problem(
            app.login_password_from(attacker, "ghost@example.com", "nope-nope")
                .await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    expect_problem(
        app.login_password_from(attacker, "ghost@example.com", "nope-nope")
            .await,
        429,
        "rate_limited",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn failures_from_many_addresses_slow_the_account_but_never_lock_it(pool: PgPool) {
    const DELAY: Duration = Duration::from_millis(300);
    let app = spawn_with(
        pool,
        test_settings(&[
            ("LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", "3"),
            ("LOGIN_SLOW_AFTER_FAILURES", "6"),
            ("LOGIN_SLOW_DELAY_MS", "300"),
        ]),
    )
    .await;
    app.create_account("ops@example.com", "a-long-password", "customer")
        .await;
    // Three addresses, each within its own limit: six failures in all.
    for attacker in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..3 {
            expect_problem(
                app.login_password_from(attacker, "ops@example.com", "nope-nope")
                    .await,
                401,
                "invalid_credentials",
            )
            .await;
        }
    }
    // From now on every attempt on the account waits first (a sleep's lower
    // bound, not a speed): the next attackers' guesses...
    for attacker in ["198.51.100.3", "198.51.100.4"] {
        let started = Instant::now();
        let guess = app
            .login_password_from(attacker, "ops@example.com", "nope-nope")
            .await;
        assert!(started.elapsed() >= DELAY, "a guess is slowed");
        expect_problem(guess, 401, "invalid_credentials").await;
    }
    // ...and the owner too, who still gets in: slowed, not locked out.
    let started = Instant::now();
    let owner = app
        .login_password_from("203.0.113.5", "ops@example.com", "a-long-password")
        .await;
    assert!(started.elapsed() >= DELAY, "the right password waits alike");
    assert_eq!(owner.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn an_ipv6_network_is_one_client_to_the_limits(pool: PgPool) {
    let app = spawn_with(
        pool,
        test_settings(&[("LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", "3")]),
    )
    .await;
    app.create_account("ops@example.com", "a-long-password", "customer")
        .await;
    // Three addresses of one /64, one failure each.
    for client in [
        "2001:db8:7:1::1",
        "2001:db8:7:1:a:b:c:d",
        "2001:db8:7:1:ffff:ffff:ffff:fffe",
    ] {
        expect_problem(
            app.login_password_from(client, "ops@example.com", "nope-nope")
                .await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // A fourth address of the same /64 is the same client: refused.
    expect_problem(
        app.login_password_from("2001:db8:7:1::2", "ops@example.com", "nope-nope")
            .await,
        429,
        "rate_limited",
    )
    .await;
    // The next /64 is someone else.
    assert_eq!(
        app.login_password_from("2001:db8:7:2::1", "ops@example.com", "a-long-password")
            .await
            .status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn concurrent_wrong_passwords_cannot_race_past_the_account_limit(pool: PgPool) {
    let app = spawn_with(
        pool,
        test_settings(&[("LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", "10")]),
    )
    .await;
    app.create_account("ops@example.com", "a-long-password", "customer")
        .await;
    let attempts = (0..30).map(|n| {
        let app = &app;
        async move {
            app.login_password("ops@example.com", &format!("wrong-{n:02}-password"))
                .await
                .status()
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let checked = answers
        .iter()
        .filter(|status| status.as_u16() == 401)
        .count();
    let refused = answers
        .iter()
        .filter(|status| status.as_u16() == 429)
        .count();
    assert_eq!(
        (checked, refused),
        (10, 20),
        "only the limit's worth of passwords are checked: {answers:?}"
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn one_address_gets_at_most_its_hourly_password_checks(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("LOGIN_PER_IP_HOUR", "2")])).await;
    app.create_account("ops@example.com", "a-long-password", "customer")
        .await;
    let (status, pair) = read(
        app.login_password("ops@example.com", "a-long-password")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.login_password("ops@example.com", "a-long-password")
            .await
            .status(),
        StatusCode::OK
    );
    expect_problem(
        app.login_password("ops@example.com", "a-long-password")
            .await,
        429,
        "rate_limited",
    )
    .await;
    // A password change checks a password too: same budget, no way around it.
    let change =
        json!({"current_password": "guess-one-more", "new_password": "a-new-long-password"});
    let response = app
        .call(
            Method::POST,
            "/api/v1/auth/password",
            access(&pair),
            Some(change),
        )
        .await;
    expect_problem(response, 429, "rate_limited").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn oversized_passwords_are_refused_before_hashing(pool: PgPool) {
    let app = spawn(pool).await;
    let body = expect_problem(
        app.login_password("ops@example.com", &"x".repeat(2000))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "password");
    expect_problem(
        app.login_password("not-an-email", "whatever-password")
            .await,
        422,
        "validation_failed",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_password_change_ends_every_other_session(pool: PgPool) {
    let app = spawn(pool).await;
    app.create_account("ops@example.com", "a-long-password", "customer")
        .await;
    let (_, here) = read(
        app.login_password("ops@example.com", "a-long-password")
            .await,
    )
    .await;
    let (_, elsewhere) = read(
        app.login_password("ops@example.com", "a-long-password")
            .await,
    )
    .await;

    let change = |current: &'static str| json!({"current_password": current, "new_password": "a-new-long-password"});
    let response = app
        .call(
            Method::POST,
            "/api/v1/auth/password",
            access(&here),
            Some(change("wrong-password")),
        )
        .await;
    expect_problem(response, 401, "invalid_credentials").await;
    let response = app
        .call(
            Method::POST,
            "/api/v1/auth/password",
            access(&here),
            Some(json!({"current_password": "a-long-password", "new_password": "short"})),
        )
        .await;
    expect_problem(response, 422, "validation_failed").await;
    let response = app
        .call(
            Method::POST,
            "/api/v1/auth/password",
            access(&here),
            Some(change("a-long-password")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(app.me(access(&here)).await.status(), StatusCode::OK);
    expect_problem(app.me(access(&elsewhere)).await, 401, "token_revoked").await;
    expect_problem(
        app.login_password("ops@example.com", "a-long-password")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.login_password("ops@example.com", "a-new-long-password")
            .await
            .status(),
        StatusCode::OK
    );
}
