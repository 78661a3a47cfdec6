//! Stopping a server: every request sent before its listener closed is
//! answered, and afterwards connections are refused (which a gateway may
//! pass to another replica) instead of being reset after the request was
//! sent (which it may not, for a POST).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::post;
use common::http::Lifecycle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

const REQUEST: &[u8] = b"POST /orders HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\n\r\n{}";

/// A server whose handler takes a little while and names the peer it saw;
/// it stops when the returned sender fires.
async fn start(
    grace: Duration,
) -> anyhow::Result<(
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new().route(
        "/orders",
        post(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            format!("made for {}", peer.ip())
        }),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(common::serve::serve(
        listener,
        app,
        Lifecycle::default(),
        grace,
        async move {
            let _ = stopped.await;
        },
    ));
    Ok((addr, stop, server))
}

/// Sends the request on a new connection and returns the connection.
async fn send(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut connection = TcpStream::connect(addr).await?;
    connection.write_all(REQUEST).await?;
    Ok(connection)
}

/// The whole answer, up to the server closing the connection.
async fn answer_on(mut connection: TcpStream) -> anyhow::Result<String> {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), connection.read_to_end(&mut answer)).await??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Opens connections and sends a request on each until one is refused;
/// returns those that were sent.
async fn send_until_refused(addr: SocketAddr) -> Vec<TcpStream> {
    let mut sent = Vec::new();
    while let Ok(connection) = send(addr).await {
        sent.push(connection);
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_sent_before_the_listener_closes_is_answered_and_later_ones_are_refused()
-> anyhow::Result<()> {
    let (addr, stop, server) = start(Duration::ZERO).await?;
    // Clients keep opening connections and sending on them as the server
    // stops, so some are still queued or unread when the listener closes.
    let senders: Vec<_> = (0..8)
        .map(|_| tokio::spawn(send_until_refused(addr)))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).map_err(|()| anyhow::anyhow!("server gone"))?;
    let mut sent = Vec::new();
    for sender in senders {
        sent.extend(sender.await?);
    }
    let count = sent.len();
    let answers = futures::future::join_all(sent.into_iter().map(answer_on)).await;
    let lost = answers
        .iter()
        .filter(|answer| {
            !answer.as_ref().is_ok_and(|answer| {
                answer.starts_with("HTTP/1.1 200") && answer.contains("made for 127.0.0.1")
            })
        })
        .count();
    anyhow::ensure!(lost == 0, "{lost} of {count} requests lost in the shutdown");
    server.await??;
    Ok(())
}

#[tokio::test]
async fn during_the_grace_new_connections_are_still_served_and_then_refused() -> anyhow::Result<()>
{
    let (addr, stop, server) = start(Duration::from_millis(400)).await?;
    stop.send(()).map_err(|()| anyhow::anyhow!("server gone"))?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = answer_on(send(addr).await?).await?;
    anyhow::ensure!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    // Past the grace and the first-request allowance the listener is gone,
    // while the server may still be draining.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let refused = TcpStream::connect(addr).await;
    anyhow::ensure!(
        refused
            .as_ref()
            .is_err_and(|error| error.kind() == std::io::ErrorKind::ConnectionRefused),
        "a connection after the grace was not refused: {refused:?}"
    );
    server.await??;
    Ok(())
}
