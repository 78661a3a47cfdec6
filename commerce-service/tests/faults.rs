//! A network partition between commerce-service and PostgreSQL, through a
//! TCP proxy the test controls: a query already sent when the network
//! breaks fails within the database call bound with `503
//! dependency_unavailable` (not after the request timeout), and the
//! service recovers by itself when the network heals.

// The shared helpers; this binary uses only some of them.
#[path = "api/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::PgPool;
use support::{expect_problem, serve, settings, spawn};
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
