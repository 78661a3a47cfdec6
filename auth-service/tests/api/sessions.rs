use common::claims::Role;
use common::verifier::now_unix;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{
    access, expect_problem, read, refresh_token, spawn, spawn_with, test_settings,
};

const PHONE: &str = "+13128059851";

fn resend_free() -> auth_service::config::Settings {
    test_settings(&[("OTP_RESEND_SECONDS", "0")])
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn logout_ends_only_this_session_and_twice_is_harmless(pool: PgPool) {
    let app = spawn_with(pool, resend_free()).await;
    let phone_a = app.login_phone(PHONE).await;
    let phone_b = app.login_phone(PHONE).await;

    for _ in 0..2 {
        let response = app
            .call(Method::POST, "/api/v1/auth/logout", access(&phone_a), None)
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    expect_problem(app.me(access(&phone_a)).await, 401, "token_revoked").await;
    expect_problem(
        app.refresh(refresh_token(&phone_a)).await,
        401,
        "refresh_invalid",
    )
    .await;
    let status = app.status_of(&phone_a).await;
    assert_eq!(
        status,
        json!({"active": false, "reason": "session_revoked", "user_active": true})
    );

    assert_eq!(app.me(access(&phone_b)).await.status(), StatusCode::OK);
    let status = app.status_of(&phone_b).await;
    assert_eq!(
        status,
        json!({"active": true, "reason": null, "user_active": true})
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn logout_takes_an_expired_access_token_or_a_refresh_token(pool: PgPool) {
    let app = spawn_with(pool, resend_free()).await;
    let pair = app.login_phone(PHONE).await;
    let user_id = pair["user"]["id"].as_i64().unwrap();
    let session_id: Uuid = pair["session_id"].as_str().unwrap().parse().unwrap();
    let subject = auth_service::sessions::signing::Subject {
        user_id: common::ids::UserId(user_id),
        session_id: common::ids::SessionId(session_id),
        market: "us",
        role: Role::Customer,
        auth_time: now_unix() - 7200,
    };
    let (issuer, _) =
        auth_service::sessions::signing::TokenIssuer::from_settings(&app.state.settings).unwrap();
    let expired = issuer.issue(subject, now_unix() - 7200).unwrap();
    expect_problem(app.me(&expired).await, 401, "token_expired").await;
    let response = app
        .call(Method::POST, "/api/v1/auth/logout", &expired, None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    expect_problem(
        app.refresh(refresh_token(&pair)).await,
        401,
        "refresh_invalid",
    )
    .await;

    // A token that expired longer ago than a session may sit idle (7 days)
    // ends nothing.
    let third = app.login_phone(PHONE).await;
    let ancient = issuer
        .issue(
            auth_service::sessions::signing::Subject {
                session_id: common::ids::SessionId(
                    third["session_id"].as_str().unwrap().parse().unwrap(),
                ),
                ..subject
            },
            now_unix() - 8 * 86_400,
        )
        .unwrap();
    let response = app
        .call(Method::POST, "/api/v1/auth/logout", &ancient, None)
        .await;
    expect_problem(response, 401, "token_expired").await;
    assert_eq!(
        app.refresh(refresh_token(&third)).await.status(),
        StatusCode::OK,
        "the session lives on"
    );

    let other = app.login_phone(PHONE).await;
    let response = app
        .post(
            "/api/v1/auth/logout",
            json!({"refresh_token": refresh_token(&other)}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    expect_problem(app.me(access(&other)).await, 401, "token_revoked").await;

    let response = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    expect_problem(response, 401, "missing_token").await;
    let response = app
        .call(Method::POST, "/api/v1/auth/logout", "not-a-jwt", None)
        .await;
    expect_problem(response, 401, "invalid_token").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn logout_all_ends_every_session_and_a_new_login_works_at_once(pool: PgPool) {
    let app = spawn_with(pool, resend_free()).await;
    let device_a = app.login_phone(PHONE).await;
    let device_b = app.login_phone(PHONE).await;
    let user_id = device_a["user"]["id"].as_i64().unwrap();

    let response = app
        .call(
            Method::POST,
            "/api/v1/auth/logout-all",
            access(&device_a),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for device in [&device_a, &device_b] {
        expect_problem(app.me(access(device)).await, 401, "token_revoked").await;
        expect_problem(
            app.refresh(refresh_token(device)).await,
            401,
            "refresh_invalid",
        )
        .await;
        assert_eq!(app.status_of(device).await["active"], false);
    }
    // A token issued before the logout-all is refused for that reason first.
    let earlier = app
        .token_status(
            user_id,
            device_b["session_id"].as_str().unwrap(),
            now_unix() - 60,
        )
        .await;
    assert_eq!(earlier["reason"], "tokens_revoked");

    let fresh = app.login_phone(PHONE).await;
    assert_eq!(app.me(access(&fresh)).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn sessions_are_listed_and_only_the_owner_can_end_one(pool: PgPool) {
    let app = spawn_with(pool, resend_free()).await;
    let device_a = app.login_phone(PHONE).await;
    let device_b = app.login_phone(PHONE).await;
    let stranger = app.login_phone("+13128059852").await;

    let (status, list) = read(
        app.call(
            Method::GET,
            "/api/v1/auth/sessions",
            access(&device_a),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], device_a["session_id"]);
    assert_eq!(current[0]["device_name"], "test phone");

    let path = format!(
        "/api/v1/auth/sessions/{}",
        device_b["session_id"].as_str().unwrap()
    );
    expect_problem(
        app.call(Method::DELETE, &path, access(&stranger), None)
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.me(access(&device_b)).await.status(), StatusCode::OK);
    let response = app
        .call(Method::DELETE, &path, access(&device_a), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    expect_problem(app.me(access(&device_b)).await, 401, "token_revoked").await;
    expect_problem(
        app.call(
            Method::DELETE,
            "/api/v1/auth/sessions/not-a-uuid",
            access(&device_a),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn deleting_the_account_ends_it_and_frees_the_number(pool: PgPool) {
    let app = spawn_with(pool, resend_free()).await;
    let pair = app.login_phone(PHONE).await;
    let response = app
        .call(Method::DELETE, "/api/v1/auth/me", access(&pair), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    expect_problem(app.me(access(&pair)).await, 401, "user_inactive").await;
    expect_problem(
        app.refresh(refresh_token(&pair)).await,
        401,
        "user_inactive",
    )
    .await;

    let again = app.login_phone(PHONE).await;
    assert_ne!(again["user"]["id"], pair["user"]["id"]);
    let (phone, active): (Option<String>, bool) =
        sqlx::query_as("select phone, is_active from users where id = $1")
            .bind(pair["user"]["id"].as_i64().unwrap())
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!((phone, active), (None, false));
}

/// The claims of an access token, read without verifying (the test's own
/// token).
fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn deleting_the_account_needs_a_recent_login_not_just_a_fresh_token(pool: PgPool) {
    let app = spawn_with(pool, resend_free()).await;
    let pair = app.login_phone(PHONE).await;
    let logged_in_at = claims_of(access(&pair))["auth_time"].as_i64().unwrap();
    assert!((now_unix() - logged_in_at).abs() <= 5);
    // A refresh mints a new token but is no login: the time is kept.
    let (_, renewed) = read(app.refresh(refresh_token(&pair)).await).await;
    assert_eq!(claims_of(access(&renewed))["auth_time"], logged_in_at);

    // The token of a session whose login was ten minutes ago, however
    // freshly minted, cannot delete the account.
    let (issuer, _) =
        auth_service::sessions::signing::TokenIssuer::from_settings(&app.state.settings).unwrap();
    let session_id: Uuid = pair["session_id"].as_str().unwrap().parse().unwrap();
    let stale_login = issuer
        .issue(
            auth_service::sessions::signing::Subject {
                user_id: common::ids::UserId(pair["user"]["id"].as_i64().unwrap()),
                session_id: common::ids::SessionId(session_id),
                market: "us",
                role: Role::Customer,
                auth_time: now_unix() - 600,
            },
            now_unix(),
        )
        .unwrap();
    let response = app
        .call(Method::DELETE, "/api/v1/auth/me", &stale_login, None)
        .await;
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_user_authentication""#),
        "{challenge}"
    );
    assert!(challenge.contains("max_age=300"), "{challenge}");
    expect_problem(response, 401, "reauthentication_required").await;
    assert_eq!(
        app.me(access(&renewed)).await.status(),
        StatusCode::OK,
        "nothing deleted"
    );

    // Log in again, and the new session deletes it.
    let again = app.login_phone(PHONE).await;
    let response = app
        .call(Method::DELETE, "/api/v1/auth/me", access(&again), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn me_answers_the_callers_profile(pool: PgPool) {
    let app = spawn(pool).await;
    let pair = app.login_phone(PHONE).await;
    let (status, me) = read(app.me(access(&pair)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, pair["user"]);
    let response = app.me(access(&pair)).await;
    assert!(response.headers().get("www-authenticate").is_none());
    expect_problem(
        app.client
            .get(app.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap(),
        401,
        "missing_token",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_device_name_that_would_read_backwards_or_break_lines_is_422(pool: PgPool) {
    let app = spawn(pool).await;
    app.send_code(PHONE).await;
    let code = app.latest_code(PHONE).await;
    for name in [
        "phone\u{202E}enohp",
        "\u{2067}isolate\u{2069}",
        "left\u{200F}mark",
        "two\u{2028}lines",
        "tab\there",
    ] {
        let response = app
            .post(
                "/api/v1/auth/verify-code",
                json!({ "phone": PHONE, "verification_code": code, "device_name": name }),
            )
            .await;
        let body = expect_problem(response, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "device_name", "{body}");
    }
    // Emoji sequences (with their joiners) are names like any other.
    let response = app
        .post(
            "/api/v1/auth/verify-code",
            json!({ "phone": PHONE, "verification_code": code, "device_name": "Family 👨\u{200D}👩\u{200D}👧 tablet" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
