//! Faults of commerce-service's PostgreSQL, never the shared server's:
//! - a network partition, through a TCP proxy the test controls: a query
//!   already sent when the network breaks fails within the database call
//!   bound with `503 dependency_unavailable` (not after the request
//!   timeout), and the service recovers by itself when the network heals;
//! - a PostgreSQL cluster of the test's own (`initdb`, `pg_ctl`) killed in
//!   the middle of a burst of checkouts racing for the last units: every
//!   acknowledged order exists once, retries with the same key make no
//!   second order, and the stock equation holds.

// The shared helpers; this binary uses only some of them.
#[path = "api/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use support::{expect_problem, serve, settings, spawn, spawn_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to PostgreSQL that can stop relaying (the sockets stay
/// open, bytes are held), as a broken network does.
struct Partition {
    port: u16,
    cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Partition {
    async fn to(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(relay(client_read, server_write, flag.clone()));
                tokio::spawn(relay(server_read, client_write, flag.clone()));
            }
        });
        Self { port, cut, task }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        while cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

#[sqlx::test(migrator = "commerce_service::MIGRATOR")]
async fn a_partition_from_postgres_is_a_503_within_the_call_bound_and_heals(pool: PgPool) {
    let stack = spawn(pool.clone()).await;
    let buyer = stack.login("+13128059851", "us").await;
    let options = pool.connect_options();
    let upstream: SocketAddr = format!("{}:{}", options.get_host(), options.get_port())
        .parse()
        .unwrap();
    let partition = Partition::to(upstream).await;
    let database = options.get_database().unwrap().to_owned();
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{database}",
        partition.port
    );
    let commerce_settings = settings(
        &stack.auth.base,
        &[
            ("DATABASE_URL", url.as_str()),
            ("REQUEST_TIMEOUT_MS", "30000"),
        ],
    );
    let state = commerce_service::AppState::connect(commerce_settings).unwrap();
    let base = serve(state).await;
    let cart = || {
        stack
            .client
            .get(format!("{base}/api/v1/cart"))
            .bearer_auth(&buyer.token)
            .send()
    };
    assert_eq!(cart().await.unwrap().status(), StatusCode::OK);

    partition.set_cut(true);
    let started = Instant::now();
    let response = cart().await.unwrap();
    let waited = started.elapsed();
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(response, 503, "dependency_unavailable").await;
    assert!(
        waited < Duration::from_secs(20),
        "answered by the call bound, not the 30 s request timeout ({waited:?})"
    );

    partition.set_cut(false);
    let healed = Instant::now();
    loop {
        let response = cart().await.unwrap();
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(10),
            "did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A PostgreSQL cluster of the test's own on a free port, run as the
/// `postgres` user (initdb refuses root); stopped and removed on drop.
struct OwnPostgres {
    dir: std::path::PathBuf,
    port: u16,
}

fn pg_tool(name: &str) -> std::path::PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is installed");
    let mut dirs: Vec<_> = versions.filter_map(Result::ok).map(|e| e.path()).collect();
    dirs.sort();
    dirs.pop()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(name)
}

fn as_postgres(program: std::path::PathBuf) -> std::process::Command {
    let mut command = std::process::Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

impl OwnPostgres {
    fn start() -> Self {
        let port = common::testing::restartable_port();
        let dir = std::env::temp_dir().join(format!("commerce-test-pg-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let chown = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(chown.success());
        let initdb = as_postgres(pg_tool("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(initdb.success(), "initdb failed");
        let own = Self { dir, port };
        own.pg_ctl(&["start"]);
        own
    }

    fn pg_ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let status = as_postgres(pg_tool("pg_ctl"))
            .arg("-D")
            .arg(&self.dir)
            .args(["-w", "-o", &options, "-l"])
            .arg(self.dir.join("server.log"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {args:?} failed");
    }

    /// Stops the server: `immediate` as a crash does (no checkpoint,
    /// recovery on start), `fast` as an operator's stop does (sessions
    /// ended, open transactions rolled back).
    fn stop(&self, mode: &str) {
        self.pg_ctl(&["stop", "-m", mode]);
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = as_postgres(pg_tool("pg_ctl"))
            .arg("-D")
            .arg(&self.dir)
            .args(["stop", "-m", "immediate"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn postgres_killed_mid_checkout_keeps_every_order_once_and_the_stock_exact() {
    checkouts_through_a_postgres_that_stops("immediate").await;
}

#[tokio::test]
async fn postgres_stopped_mid_checkout_keeps_every_order_once_and_the_stock_exact() {
    checkouts_through_a_postgres_that_stops("fast").await;
}

/// 20 buyers race for 12 units; PostgreSQL stops (`mode`) right after the
/// first order is acknowledged, then starts again; unanswered buyers
/// retry with the same key.
async fn checkouts_through_a_postgres_that_stops(mode: &str) {
    const STOCK: i64 = 12;
    const BUYERS: usize = 20;
    let pg = OwnPostgres::start();
    let admin_pool = PgPool::connect(&pg.url("postgres")).await.unwrap();
    sqlx::query("create database faults")
        .execute(&admin_pool)
        .await
        .unwrap();
    let pool = PgPool::connect(&pg.url("faults")).await.unwrap();
    commerce_service::MIGRATOR.run(&pool).await.unwrap();
    // Token checks stay cached through the outage: what is measured is
    // what the checkout itself does when its database dies.
    let stack = spawn_with(pool.clone(), &[("STATUS_CACHE_TTL_MS", "120000")]).await;
    let admin = stack.admin_token().await;
    let item = stack
        .create_item(&admin, "last-units", STOCK, json!({"us": 500}))
        .await;
    let mut buyers = Vec::new();
    for n in 0..BUYERS {
        let buyer = stack.login(&format!("+1312805{:04}", 2000 + n), "us").await;
        assert_eq!(
            stack.add_to_cart(&buyer, item.sku_id, 1).await.status(),
            StatusCode::OK
        );
        buyers.push(buyer);
    }

    let stack = Arc::new(stack);
    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
    for (n, buyer) in buyers.iter().enumerate() {
        let (stack, buyer, answers) = (stack.clone(), buyer.clone(), answers.clone());
        tokio::spawn(async move {
            let status = stack.checkout(&buyer, &format!("key-{n}")).await.status();
            let _ = answers.send((n, status));
        });
    }
    drop(answers);
    // The crash lands in the middle of the burst: right after the first
    // order is acknowledged, while the others wait on the SKU's row lock.
    let mut first = vec![StatusCode::OK; BUYERS];
    let mut killed = false;
    while let Some((n, status)) = answered.recv().await {
        first[n] = status;
        if !killed && status == StatusCode::CREATED {
            pg.stop(mode);
            killed = true;
        }
    }
    assert!(
        killed,
        "at least one checkout went through before the crash"
    );
    for status in &first {
        assert!(
            [
                StatusCode::CREATED,
                StatusCode::CONFLICT,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(status),
            "an answer during the crash is a result or a 503, never {status}"
        );
    }

    pg.pg_ctl(&["start"]);
    let started = Instant::now();
    while stack
        .client
        .get(stack.url("/readyz"))
        .send()
        .await
        .map_or(true, |r| r.status() != StatusCode::OK)
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every buyer not answered with an order retries with the same key.
    let mut acknowledged = 0;
    for (n, buyer) in buyers.iter().enumerate() {
        let mut status = first[n];
        let retried_at = Instant::now();
        while status != StatusCode::CREATED && status != StatusCode::CONFLICT {
            status = stack.checkout(buyer, &format!("key-{n}")).await.status();
            if status == StatusCode::OK {
                break; // a replay: the crash hid an order that was made
            }
            assert!(
                retried_at.elapsed() < Duration::from_secs(20),
                "retry never settled"
            );
        }
        if status == StatusCode::CREATED || status == StatusCode::OK {
            acknowledged += 1;
        }
    }

    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    let keys: i64 = sqlx::query_scalar("select count(distinct key) from idempotency_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    let sold: i64 =
        sqlx::query_scalar("select coalesce(sum(quantity), 0)::bigint from order_lines")
            .fetch_one(&pool)
            .await
            .unwrap();
    let left = i64::from(stack.stock_of(item.sku_id).await);
    assert_eq!(
        orders, acknowledged,
        "every acknowledged order exists, once"
    );
    assert_eq!(keys, orders, "one order per key");
    assert_eq!(sold + left, STOCK, "the stock equation holds");
    assert_eq!(
        orders,
        STOCK.min(BUYERS as i64),
        "the units all sold, no more"
    );
}
