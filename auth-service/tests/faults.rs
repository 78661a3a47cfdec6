//! Faults of auth-service's Redis, on a Redis of the test's own (never the
//! shared one): killed and restarted empty, restored from an AOF that lost
//! the last logout, out of memory, and configured to evict keys. After each: the answers during the
//! fault, recovery without restarting the service, and that no ended
//! session works again.

// The shared helpers; this binary uses only some of them.
#[path = "api/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::ids::SessionId;
use redis::AsyncCommands as _;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;
use support::{TestApp, access, expect_problem, read, refresh_token, spawn_with, test_settings};

const PHONE: &str = "+13128059851";

/// A `redis-server` of the test's own on a free port (never the shared
/// one), for tests that configure, kill, restart or restore it; stopped
/// and its directory removed on drop.
pub struct OwnRedis {
    pub url: String,
    /// Its working directory (AOF files live here).
    pub dir: std::path::PathBuf,
    port: u16,
    args: Vec<String>,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// Starts one with `args` on top of: no RDB snapshots, no AOF.
    pub async fn start(args: &[&str]) -> Self {
        let port = common::testing::restartable_port();
        let dir = std::env::temp_dir().join(format!("auth-test-redis-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut own = Self {
            url: format!("redis://127.0.0.1:{port}"),
            dir,
            port,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        own.restart().await;
        own
    }

    /// Starts the server again on the same port and directory (after
    /// [`OwnRedis::kill`]); it loads whatever its directory holds.
    pub async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let client = redis::Client::open(self.url.as_str()).unwrap();
        for _ in 0..100 {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.kill();
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Kills the server at once (SIGKILL: no shutdown save, as a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A connection of the test's own, to set up or inspect the server.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn app_on(pool: PgPool, redis: &OwnRedis) -> TestApp {
    spawn_with(
        pool,
        test_settings(&[
            ("REDIS_URL", redis.url.as_str()),
            ("REDIS_TIMEOUT_MS", "500"),
            ("OTP_RESEND_SECONDS", "0"),
            // Any second presentation of a rotated token is reuse here.
            ("REFRESH_GRACE_SECONDS", "0"),
        ]),
    )
    .await
}

/// Waits until the service is ready again on its own (no restart), within
/// a bound; returns how long that took.
async fn recovered(app: &TestApp) -> Duration {
    let started = Instant::now();
    loop {
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        if ready.status() == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not ready again after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn session_of(pair: &Value) -> SessionId {
    SessionId(pair["session_id"].as_str().unwrap().parse().unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn redis_killed_and_restarted_empty_is_a_quick_503_then_recovers_logged_out(pool: PgPool) {
    let mut redis = OwnRedis::start(&[]).await;
    let app = app_on(pool, &redis).await;
    let pair = app.login_phone(PHONE).await;
    assert_eq!(app.me(access(&pair)).await.status(), StatusCode::OK);

    redis.kill();
    let started = Instant::now();
    let response = app.me(access(&pair)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered within the bound"
    );
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, 503, "dependency_unavailable").await;

    redis.restart().await;
    recovered(&app).await;
    // The same process recovers: a lost session is a logged-out one, never
    // a live one, and a new login works.
    expect_problem(app.me(access(&pair)).await, 401, "token_revoked").await;
    expect_problem(
        app.refresh(refresh_token(&pair)).await,
        401,
        "refresh_invalid",
    )
    .await;
    let again = app.login_phone(PHONE).await;
    assert_eq!(app.me(access(&again)).await.status(), StatusCode::OK);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_redis_restored_from_an_aof_without_the_logouts_does_not_revive_them(pool: PgPool) {
    let mut redis = OwnRedis::start(&["--appendonly", "yes", "--appendfsync", "always"]).await;
    let app = app_on(pool, &redis).await;
    let phone = app.login_phone(PHONE).await;
    let tablet = app.login_phone(PHONE).await;
    let laptop = app.login_phone(PHONE).await;
    // The AOF as it was before the logouts: what a crash between fsyncs, or
    // a failover to a replica that lagged, leaves behind.
    let saved = redis.dir.join("saved-aof");
    copy_dir(&redis.dir.join("appendonlydir"), &saved);

    let logout = app
        .call(Method::POST, "/api/v1/auth/logout", access(&phone), None)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let (status, _) = read(app.refresh(refresh_token(&tablet)).await).await;
    assert_eq!(status, StatusCode::OK, "the tablet rotates once");
    let reused = app.refresh(refresh_token(&tablet)).await;
    expect_problem(reused, 401, "refresh_reused").await;
    let logout_all = app
        .call(
            Method::POST,
            "/api/v1/auth/logout-all",
            access(&laptop),
            None,
        )
        .await;
    assert_eq!(logout_all.status(), StatusCode::NO_CONTENT);

    redis.kill();
    std::fs::remove_dir_all(redis.dir.join("appendonlydir")).unwrap();
    copy_dir(&saved, &redis.dir.join("appendonlydir"));
    redis.restart().await;
    recovered(&app).await;
    let revived: bool = redis
        .connection()
        .await
        .exists(app.state.store.keys().session(session_of(&phone)))
        .await
        .unwrap();
    assert!(
        revived,
        "the restored AOF holds the logged-out session again"
    );

    for pair in [&phone, &tablet, &laptop] {
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
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_redis_out_of_memory_is_a_503_and_recovers_when_memory_is_freed(pool: PgPool) {
    let redis = OwnRedis::start(&["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"]).await;
    let app = app_on(pool, &redis).await;
    let mut conn = redis.connection().await;
    let filler = "x".repeat(64 * 1024);
    for n in 0.. {
        let written: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("filler:{n}"))
            .arg(&filler)
            .query_async(&mut conn)
            .await;
        if written.is_err() {
            break;
        }
        assert!(n < 10_000, "maxmemory was never reached");
    }

    let response = app.send_code(PHONE).await;
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, 503, "dependency_unavailable").await;

    redis::cmd("FLUSHALL")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    assert_eq!(app.send_code(PHONE).await.status(), StatusCode::ACCEPTED);
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_redis_that_may_evict_sessions_is_not_ready(pool: PgPool) {
    let redis = OwnRedis::start(&["--maxmemory-policy", "allkeys-lru"]).await;
    let app = spawn_with(pool, test_settings(&[("REDIS_URL", redis.url.as_str())])).await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["redis"], "up");
    assert_eq!(body["checks"]["redis_eviction_policy"], "allkeys-lru");
}
