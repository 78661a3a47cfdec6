//! Revocation survives Redis losing its last writes. Each test takes a
//! copy of the Redis records a revocation deletes (`DUMP`), revokes, then
//! puts the copy back (`RESTORE`), as an AOF that lost its last second or a
//! failover to a lagging replica would, and shows that the ended session
//! stays ended at every door: the access token, token-status and refresh.

use auth_service::redis_connection::RedisConnection;
use common::ids::{SessionId, UserId};
use redis::AsyncCommands as _;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{
    TestApp, access, expect_problem, read, refresh_token, spawn_with, test_settings,
};

const PHONE: &str = "+13128059851";

/// A Redis record as it was, to be put back later.
struct Snapshot {
    key: String,
    dump: Option<Vec<u8>>,
    ttl_ms: i64,
}

/// A connection of its own to the app's Redis, one server or a cluster.
async fn redis(app: &TestApp) -> RedisConnection {
    RedisConnection::open(
        app.state.settings.redis_url.expose_secret(),
        std::time::Duration::from_secs(2),
    )
    .unwrap()
}

async fn snapshot(app: &TestApp, keys: Vec<String>) -> Vec<Snapshot> {
    let mut conn = redis(app).await;
    let mut out = Vec::new();
    for key in keys {
        let dump: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let ttl_ms: i64 = conn.pttl(&key).await.unwrap();
        out.push(Snapshot { key, dump, ttl_ms });
    }
    out
}

/// Puts every record back as it was at the snapshot (deleting those that
/// did not exist then), as a Redis that lost the writes since would.
async fn roll_back(app: &TestApp, snapshots: &[Snapshot]) {
    let mut conn = redis(app).await;
    for snapshot in snapshots {
        match &snapshot.dump {
            Some(dump) => redis::cmd("RESTORE")
                .arg(&snapshot.key)
                .arg(snapshot.ttl_ms.max(0))
                .arg(dump.as_slice())
                .arg("REPLACE")
                .query_async::<()>(&mut conn)
                .await
                .unwrap(),
            None => conn.del::<_, ()>(&snapshot.key).await.unwrap(),
        }
    }
}

fn session_key(app: &TestApp, pair: &Value) -> String {
    let sid: uuid::Uuid = pair["session_id"].as_str().unwrap().parse().unwrap();
    app.state.store.keys().session(SessionId(sid))
}

fn user_keys(app: &TestApp, pair: &Value) -> Vec<String> {
    let user = UserId(pair["user"]["id"].as_i64().unwrap());
    let keys = app.state.store.keys();
    vec![keys.user_sessions(user), keys.user_not_before(user)]
}

async fn exists(app: &TestApp, key: &str) -> bool {
    redis(app).await.exists(key).await.unwrap()
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_logout_that_redis_forgets_stays_a_logout(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[])).await;
    let pair = app.login_phone(PHONE).await;
    let mut keys = user_keys(&app, &pair);
    keys.push(session_key(&app, &pair));
    let before = snapshot(&app, keys).await;

    let response = app
        .call(Method::POST, "/api/v1/auth/logout", access(&pair), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    roll_back(&app, &before).await;
    assert!(
        exists(&app, &session_key(&app, &pair)).await,
        "the record is back"
    );

    expect_problem(app.me(access(&pair)).await, 401, "token_revoked").await;
    assert_eq!(
        app.status_of(&pair).await,
        json!({"active": false, "reason": "session_revoked", "user_active": true})
    );
    expect_problem(
        app.refresh(refresh_token(&pair)).await,
        401,
        "refresh_invalid",
    )
    .await;
    assert!(
        !exists(&app, &session_key(&app, &pair)).await,
        "the revived record is deleted again"
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_logout_all_that_redis_forgets_still_ends_every_device(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("OTP_RESEND_SECONDS", "0")])).await;
    let phone = app.login_phone(PHONE).await;
    let tablet = app.login_phone(PHONE).await;
    let mut keys = user_keys(&app, &phone);
    keys.push(session_key(&app, &phone));
    keys.push(session_key(&app, &tablet));
    let before = snapshot(&app, keys).await;

    let response = app
        .call(
            Method::POST,
            "/api/v1/auth/logout-all",
            access(&phone),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    roll_back(&app, &before).await;

    for pair in [&phone, &tablet] {
        expect_problem(app.me(access(pair)).await, 401, "token_revoked").await;
        let status = app.status_of(pair).await;
        assert_eq!(status["active"], false, "{status}");
        expect_problem(
            app.refresh(refresh_token(pair)).await,
            401,
            "refresh_invalid",
        )
        .await;
    }
    // A login after the logout-all is not caught by it.
    let later = app.login_phone(PHONE).await;
    assert_eq!(app.me(access(&later)).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_session_ended_by_refresh_reuse_stays_ended_when_redis_forgets(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("REFRESH_GRACE_SECONDS", "0")])).await;
    let first = app.login_phone(PHONE).await;
    let (status, second) = read(app.refresh(refresh_token(&first)).await).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let before = snapshot(&app, vec![session_key(&app, &second)]).await;

    expect_problem(
        app.refresh(refresh_token(&first)).await,
        401,
        "refresh_reused",
    )
    .await;
    roll_back(&app, &before).await;

    // The thief's copy and the rightful holder's successor both stay dead.
    expect_problem(
        app.refresh(refresh_token(&second)).await,
        401,
        "refresh_invalid",
    )
    .await;
    expect_problem(app.me(access(&second)).await, 401, "token_revoked").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn revocations_are_written_before_they_are_acknowledged(pool: PgPool) {
    let app = spawn_with(pool.clone(), test_settings(&[("OTP_RESEND_SECONDS", "0")])).await;
    let pair = app.login_phone(PHONE).await;
    let other = app.login_phone(PHONE).await;
    let response = app
        .call(Method::POST, "/api/v1/auth/logout", access(&pair), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let sid: uuid::Uuid = pair["session_id"].as_str().unwrap().parse().unwrap();
    let recorded: bool = sqlx::query_scalar(
        "select exists (select 1 from revoked_sessions where session_id = $1 and expires_at > now())",
    )
    .bind(sid)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(recorded, "a logout is in PostgreSQL once it is answered");

    let response = app
        .call(
            Method::POST,
            "/api/v1/auth/logout-all",
            access(&other),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let not_before: Option<i64> =
        sqlx::query_scalar("select tokens_not_before from users where id = $1")
            .bind(other["user"]["id"].as_i64().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        not_before.is_some(),
        "a logout-all is in PostgreSQL once it is answered"
    );
}
