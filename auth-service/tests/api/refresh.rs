use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::support::{
    access, expect_problem, read, refresh_token, spawn, spawn_with, test_settings,
};

const PHONE: &str = "+13128059851";

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn refresh_rotates_the_token_and_keeps_the_session(pool: PgPool) {
    let app = spawn(pool).await;
    let first = app.login_phone(PHONE).await;
    let (status, second) = read(app.refresh(refresh_token(&first)).await).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["session_id"], first["session_id"]);
    assert_eq!(second["user"]["id"], first["user"]["id"]);
    assert_ne!(refresh_token(&second), refresh_token(&first));
    assert_eq!(app.me(access(&second)).await.status(), StatusCode::OK);
    let (status, third) = read(app.refresh(refresh_token(&second)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(third["session_id"], first["session_id"]);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn reusing_a_rotated_token_revokes_the_session(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("REFRESH_GRACE_SECONDS", "0")])).await;
    let first = app.login_phone(PHONE).await;
    let (_, second) = read(app.refresh(refresh_token(&first)).await).await;

    expect_problem(
        app.refresh(refresh_token(&first)).await,
        401,
        "refresh_reused",
    )
    .await;
    // The whole session is gone: the live successor and the access token too.
    expect_problem(
        app.refresh(refresh_token(&second)).await,
        401,
        "refresh_invalid",
    )
    .await;
    expect_problem(app.me(access(&second)).await, 401, "token_revoked").await;
    let status = app.status_of(&second).await;
    assert_eq!(status["active"], false);
    assert_eq!(status["reason"], "session_revoked");
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_retry_inside_the_grace_period_gets_the_very_same_successor(pool: PgPool) {
    let app = spawn(pool).await;
    let first = app.login_phone(PHONE).await;
    let (_, second) = read(app.refresh(refresh_token(&first)).await).await;
    let (status, retried) = read(app.refresh(refresh_token(&first)).await).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(refresh_token(&retried), refresh_token(&second));
    assert_eq!(retried["session_id"], first["session_id"]);
    assert_eq!(app.me(access(&retried)).await.status(), StatusCode::OK);

    // Once the successor has itself rotated, the first token is two steps
    // old: that is reuse, grace period or not.
    let (status, _third) = read(app.refresh(refresh_token(&second)).await).await;
    assert_eq!(status, StatusCode::OK);
    expect_problem(
        app.refresh(refresh_token(&first)).await,
        401,
        "refresh_reused",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn the_predecessor_after_the_grace_period_is_reuse(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("REFRESH_GRACE_SECONDS", "1")])).await;
    let first = app.login_phone(PHONE).await;
    let (_, second) = read(app.refresh(refresh_token(&first)).await).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expect_problem(
        app.refresh(refresh_token(&first)).await,
        401,
        "refresh_reused",
    )
    .await;
    expect_problem(
        app.refresh(refresh_token(&second)).await,
        401,
        "refresh_invalid",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn twenty_concurrent_refreshes_leave_one_live_session_and_no_revocation(pool: PgPool) {
    let app = spawn(pool).await;
    let first = app.login_phone(PHONE).await;
    let token = refresh_token(&first).to_owned();
    let answers = futures::future::join_all((0..20).map(|_| app.refresh(&token))).await;
    let mut successors = std::collections::HashSet::new();
    for response in answers {
        let (status, pair) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{pair}");
        assert_eq!(pair["session_id"], first["session_id"]);
        successors.insert(refresh_token(&pair).to_owned());
    }
    assert_eq!(successors.len(), 1, "exactly one successor is ever live");
    let successor = successors.into_iter().next().unwrap();

    let (status, sessions) = read(
        app.call(
            reqwest::Method::GET,
            "/api/v1/auth/sessions",
            access(&first),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sessions["items"].as_array().unwrap().len(), 1);
    let (status, _) = read(app.refresh(&successor).await).await;
    assert_eq!(status, StatusCode::OK);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn forged_and_ended_refresh_tokens_are_refresh_invalid(pool: PgPool) {
    let app = spawn(pool).await;
    for forged in [
        "",
        "garbage",
        "rt_1.0123456789abcdef0123456789abcdef.AAAA",
        "eyJhbGciOiJFZERTQSJ9.e30.sig",
    ] {
        expect_problem(app.refresh(forged).await, 401, "refresh_invalid").await;
    }
    let pair = app.login_phone(PHONE).await;
    let logout = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            access(&pair),
            None,
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    expect_problem(
        app.refresh(refresh_token(&pair)).await,
        401,
        "refresh_invalid",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_session_ends_at_its_absolute_limit_however_often_it_refreshes(pool: PgPool) {
    let mut settings = test_settings(&[]);
    settings.session_max_seconds = 3;
    let app = spawn_with(pool, settings).await;
    let first = app.login_phone(PHONE).await;
    assert!(first["refresh_expires_in"].as_u64().unwrap() <= 3);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, second) = read(app.refresh(refresh_token(&first)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(second["refresh_expires_in"].as_u64().unwrap() <= 2);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    expect_problem(
        app.refresh(refresh_token(&second)).await,
        401,
        "refresh_invalid",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn an_idle_session_expires(pool: PgPool) {
    let mut settings = test_settings(&[]);
    settings.refresh_idle_seconds = 1;
    let app = spawn_with(pool, settings).await;
    let pair = app.login_phone(PHONE).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expect_problem(
        app.refresh(refresh_token(&pair)).await,
        401,
        "refresh_invalid",
    )
    .await;
    expect_problem(app.me(access(&pair)).await, 401, "token_revoked").await;
}
