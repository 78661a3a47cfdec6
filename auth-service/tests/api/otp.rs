use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::support::{expect_problem, read, serve, spawn, spawn_with, test_settings};

const PHONE: &str = "+13128059851";

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_code_logs_in_once_and_creates_the_user_on_first_login(pool: PgPool) {
    let app = spawn(pool).await;
    let (status, body) = read(app.send_code("+1 (312) 805-9851").await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body, json!({"expires_in": 300, "resend_after": 60}));
    let code = app.latest_code(PHONE).await;
    assert_eq!(code.len(), 6);

    let (status, pair) = read(app.verify_code(PHONE, &code).await).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 1800);
    assert_eq!(pair["refresh_expires_in"], 604_800);
    assert_eq!(pair["user"]["phone"], PHONE);
    assert_eq!(pair["user"]["role"], "customer");
    assert_eq!(pair["user"]["market"], "us");
    assert!(pair["refresh_token"].as_str().unwrap().starts_with("rt_"));

    // Single use: the same code again finds no live code.
    expect_problem(app.verify_code(PHONE, &code).await, 401, "otp_expired").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn the_same_number_logs_in_again_as_the_same_user_in_the_market_of_its_first_login(
    pool: PgPool,
) {
    let app = spawn_with(pool, test_settings(&[("OTP_RESEND_SECONDS", "0")])).await;
    let first = app.login_phone(PHONE).await;
    let sent = app.send_code(PHONE).await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let code = app.latest_code(PHONE).await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/verify-code"))
        .header("X-Market", "in")
        .json(&json!({"phone": PHONE, "verification_code": code}))
        .send()
        .await
        .unwrap();
    let (status, second) = read(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["user"]["id"], first["user"]["id"]);
    assert_ne!(second["session_id"], first["session_id"]);
    assert_eq!(second["user"]["market"], "us");
    assert_eq!(
        crate::support::claims_of(crate::support::access(&second))["market"],
        "in"
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn five_wrong_codes_burn_the_code_and_then_even_the_right_one_is_locked(pool: PgPool) {
    let app = spawn(pool).await;
    app.send_code(PHONE).await;
    let code = app.latest_code(PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        expect_problem(app.verify_code(PHONE, wrong).await, 401, "otp_invalid").await;
    }
    let response = app.verify_code(PHONE, &code).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    expect_problem(response, 429, "otp_locked").await;
    expect_problem(app.verify_code(PHONE, &code).await, 429, "otp_locked").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn wrong_codes_over_all_of_a_numbers_codes_are_capped_for_the_day(pool: PgPool) {
    let app = spawn_with(
        pool,
        test_settings(&[
            ("OTP_RESEND_SECONDS", "0"),
            ("OTP_FAILURES_PER_NUMBER_DAY", "7"),
        ]),
    )
    .await;
    let wrong_for = |code: &str| if code == "000000" { "111111" } else { "000000" }.to_owned();
    // A first code burnt by five wrong guesses, then two more on a fresh code.
    app.send_code(PHONE).await;
    let first = app.latest_code(PHONE).await;
    for _ in 0..5 {
        expect_problem(
            app.verify_code(PHONE, &wrong_for(&first)).await,
            401,
            "otp_invalid",
        )
        .await;
    }
    app.send_code(PHONE).await;
    let second = app.latest_code(PHONE).await;
    for _ in 0..2 {
        expect_problem(
            app.verify_code(PHONE, &wrong_for(&second)).await,
            401,
            "otp_invalid",
        )
        .await;
    }
    // Seven wrong codes today: even the right one waits for the day to end,
    // and the customer is told how long.
    let response = app.verify_code(PHONE, &second).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3600..=86_400).contains(&retry_after), "{retry_after}");
    let problem = expect_problem(response, 429, "otp_locked").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("today"),
        "{problem}"
    );
    // No SMS is paid for a code that could not be used.
    let sent = app.send_code(PHONE).await;
    assert!(sent.headers().contains_key("retry-after"));
    expect_problem(sent, 429, "rate_limited").await;
    // Another number is not affected.
    let other = "+13128059852";
    app.send_code(other).await;
    let code = app.latest_code(other).await;
    assert_eq!(app.verify_code(other, &code).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_resend_inside_the_cooldown_is_refused_and_a_later_resend_replaces_the_code(
    pool: PgPool,
) {
    let app = spawn_with(pool, test_settings(&[("OTP_RESEND_SECONDS", "1")])).await;
    app.send_code(PHONE).await;
    let old = app.latest_code(PHONE).await;
    let refused = app.send_code("0013128059851").await;
    assert!(refused.headers().contains_key("retry-after"));
    expect_problem(refused, 429, "rate_limited").await;

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.send_code(PHONE).await.status(), StatusCode::ACCEPTED);
    let new = app.latest_code(PHONE).await;
    if new != old {
        expect_problem(app.verify_code(PHONE, &old).await, 401, "otp_invalid").await;
    }
    assert_eq!(app.verify_code(PHONE, &new).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn an_expired_code_is_otp_expired(pool: PgPool) {
    let mut settings = test_settings(&[]);
    settings.otp.code_ttl_seconds = 1;
    let app = spawn_with(pool, settings).await;
    app.send_code(PHONE).await;
    let code = app.latest_code(PHONE).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    expect_problem(app.verify_code(PHONE, &code).await, 401, "otp_expired").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_number_gets_at_most_its_hourly_codes(pool: PgPool) {
    let app = spawn_with(
        pool,
        test_settings(&[("OTP_RESEND_SECONDS", "0"), ("OTP_PER_NUMBER_HOUR", "2")]),
    )
    .await;
    assert_eq!(app.send_code(PHONE).await.status(), StatusCode::ACCEPTED);
    assert_eq!(app.send_code(PHONE).await.status(), StatusCode::ACCEPTED);
    expect_problem(app.send_code(PHONE).await, 429, "rate_limited").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn one_client_address_gets_at_most_its_hourly_codes(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("OTP_PER_IP_HOUR", "2")])).await;
    assert_eq!(
        app.send_code("+13128059851").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.send_code("+13128059852").await.status(),
        StatusCode::ACCEPTED
    );
    expect_problem(app.send_code("+13128059853").await, 429, "rate_limited").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn the_country_and_total_budgets_cap_sends(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("OTP_PER_COUNTRY_HOUR", "1")])).await;
    assert_eq!(
        app.send_code("+13128059851").await.status(),
        StatusCode::ACCEPTED
    );
    expect_problem(app.send_code("+13128059852").await, 429, "rate_limited").await;
    assert_eq!(
        app.send_code("+919876543210").await.status(),
        StatusCode::ACCEPTED
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn numbers_that_are_not_international_valid_or_allowed_are_422(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("PHONE_COUNTRIES", "IN")])).await;
    for phone in ["3128059851", "+1 555", "+91 98765 abc", ""] {
        let body = expect_problem(app.send_code(phone).await, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "phone");
    }
    expect_problem(app.send_code(PHONE).await, 422, "validation_failed").await;
    assert_eq!(
        app.send_code("+91 98765 43210").await.status(),
        StatusCode::ACCEPTED
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn send_code_answers_the_same_for_known_and_unknown_numbers(pool: PgPool) {
    let app = spawn(pool).await;
    let (unknown_status, unknown_body) = read(app.send_code("+13128059899").await).await;
    let other_known = "+13128059877";
    sqlx::query("insert into users (phone, market) values ($1, 'us')")
        .bind(other_known)
        .execute(&app.state.db)
        .await
        .unwrap();
    let (known_status, known_body) = read(app.send_code(other_known).await).await;
    assert_eq!((known_status, known_body), (unknown_status, unknown_body));
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_deactivated_number_gets_a_code_but_cannot_log_in(pool: PgPool) {
    let app = spawn(pool).await;
    sqlx::query("insert into users (phone, market, is_active) values ($1, 'us', false)")
        .bind(PHONE)
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(app.send_code(PHONE).await.status(), StatusCode::ACCEPTED);
    let code = app.latest_code(PHONE).await;
    expect_problem(app.verify_code(PHONE, &code).await, 401, "user_inactive").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_malformed_code_is_422_and_an_unknown_market_400(pool: PgPool) {
    let app = spawn(pool).await;
    app.send_code(PHONE).await;
    let body = expect_problem(
        app.verify_code(PHONE, "12ab56").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "verification_code");
    let response = app
        .client
        .post(app.url("/api/v1/auth/verify-code"))
        .header("X-Market", "mars")
        .json(&json!({"phone": PHONE, "verification_code": "123456"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "unknown_market").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_right_code_is_not_used_up_by_a_login_a_database_outage_stopped(pool: PgPool) {
    // Two replicas sharing one Redis: one cannot reach PostgreSQL.
    let prefix = format!("test-auth-{}", uuid::Uuid::new_v4().simple());
    let up = spawn_with(
        pool,
        test_settings(&[("REDIS_KEY_PREFIX", prefix.as_str())]),
    )
    .await;
    let down_settings = test_settings(&[
        ("REDIS_KEY_PREFIX", prefix.as_str()),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/auth"),
    ]);
    let down = serve(auth_service::AppState::connect(down_settings).unwrap()).await;

    assert_eq!(up.send_code(PHONE).await.status(), StatusCode::ACCEPTED);
    let code = up.latest_code(PHONE).await;
    let refused = down.verify_code(PHONE, &code).await;
    assert!(refused.headers().contains_key("retry-after"));
    expect_problem(refused, 503, "dependency_unavailable").await;

    let (status, pair) = read(up.verify_code(PHONE, &code).await).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same code logs in once PostgreSQL answers: {pair}"
    );
    expect_problem(up.verify_code(PHONE, &code).await, 401, "otp_expired").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn first_logins_of_one_number_at_once_make_one_user_and_a_returning_login_writes_nothing(
    pool: PgPool,
) {
    use auth_service::accounts::users::find_or_create_by_phone;
    let logins = (0..16).map(|_| find_or_create_by_phone(&pool, PHONE, "us"));
    let users = futures::future::join_all(logins).await;
    let ids: std::collections::BTreeSet<i64> =
        users.into_iter().map(|user| user.unwrap().id.0).collect();
    assert_eq!(ids.len(), 1, "one user for one number: {ids:?}");
    let version = "select xmin::text from users where phone = $1";
    let before: String = sqlx::query_scalar(version)
        .bind(PHONE)
        .fetch_one(&pool)
        .await
        .unwrap();
    let again = find_or_create_by_phone(&pool, PHONE, "in").await.unwrap();
    assert_eq!(Some(again.id.0), ids.first().copied());
    assert_eq!(again.market, "us", "the first login's market stays");
    let after: String = sqlx::query_scalar(version)
        .bind(PHONE)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before, after, "a returning login must not rewrite the row");
}
