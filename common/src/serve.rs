//! Serving HTTP, and stopping without losing a request that was sent.
//!
//! A stopping replica goes through three steps:
//!
//! 1. For `grace`, readiness answers 503 and every answer says
//!    `Connection: close` ([`crate::http::Lifecycle`]), so load balancers
//!    stop choosing it and the gateway keeps no pooled connection to it.
//! 2. The listener closes, after accepting every connection already waiting
//!    in its queue. From then on a new connection is refused, and a refused
//!    request never reached this process, so the gateway may pass it to
//!    another replica, a POST included.
//! 3. After [`FIRST_REQUEST_ALLOWANCE`], in-flight requests drain and the
//!    server stops.
//!
//! axum's own graceful shutdown does steps 2 and 3 at once. Closing the
//! listener that way resets the connections in its queue. hyper then closes
//! every connection that has not had its first request read yet. The
//! gateway has already sent its request on such a connection, and if that
//! request is a POST it may not be sent to another replica, so the client
//! gets a 502 for a request no replica saw.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::{Listener, ListenerExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::http::Lifecycle;

/// How long connections accepted before the listener closed get to have
/// their first request read before the drain begins. A connection the
/// gateway opened a moment earlier has its request on the way.
pub const FIRST_REQUEST_ALLOWANCE: Duration = Duration::from_millis(500);

/// Listens on `addr` (`LISTEN_ADDR`) and serves `app` there until Ctrl-C
/// or SIGTERM, then stops as the module describes.
pub async fn listen_and_serve(
    service: &str,
    addr: &str,
    app: Router,
    lifecycle: Lifecycle,
    grace: Duration,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("LISTEN_ADDR: cannot listen on {addr}"))?;
    tracing::info!(%addr, "{service} listening");
    serve(listener, app, lifecycle, grace, shutdown_signal())
        .await
        .context("serving HTTP")
}

/// Serves `app` on `listener` until `stop` completes, then stops as the
/// module describes. Handlers see the peer's address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    lifecycle: Lifecycle,
    grace: Duration,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = ClosingListener::new(listener);
    let (close, closed) = (listener.close.clone(), listener.closed.clone());
    let stopped = async move {
        stop.await;
        lifecycle.begin_stopping();
        tokio::time::sleep(grace).await;
        close.notify_one();
        closed.notified().await;
        tokio::time::sleep(FIRST_REQUEST_ALLOWANCE).await;
    };
    // Answers are written whole, so Nagle's algorithm only delays them.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped)
    .await
}

/// A TCP listener that can be closed without refusing what it has queued:
/// on `close` it accepts every waiting connection, closes the socket, hands
/// the waiting connections out, and then never yields another.
struct ClosingListener {
    open: Option<TcpListener>,
    waiting: VecDeque<(TcpStream, SocketAddr)>,
    close: Arc<Notify>,
    closed: Arc<Notify>,
}

impl ClosingListener {
    fn new(listener: TcpListener) -> Self {
        Self {
            open: Some(listener),
            waiting: VecDeque::new(),
            close: Arc::new(Notify::new()),
            closed: Arc::new(Notify::new()),
        }
    }

    /// Takes every connection waiting in the kernel's queue, then closes the
    /// socket. The accepts are plain non-blocking calls, so nothing can slip
    /// in between the last one and the close but a connection completing in
    /// those same microseconds.
    fn close_now(&mut self) {
        if let Some(listener) = self.open.take() {
            match listener.into_std() {
                Ok(listener) => self.take_waiting(&listener),
                Err(error) => tracing::warn!(%error, "listener closed without taking its queue"),
            }
            tracing::info!("listener closed; draining accepted connections");
        }
        self.closed.notify_one();
    }

    fn take_waiting(&mut self, listener: &std::net::TcpListener) {
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let stream = stream
                        .set_nonblocking(true)
                        .and_then(|()| TcpStream::from_std(stream));
                    match stream {
                        Ok(stream) => self.waiting.push_back((stream, peer)),
                        Err(error) => tracing::warn!(%error, "a queued connection was lost"),
                    }
                }
                Err(error) if is_connection_error(&error) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    tracing::warn!(%error, "stopped taking queued connections");
                    return;
                }
            }
        }
    }
}

enum Next {
    Close,
    Accepted(io::Result<(TcpStream, SocketAddr)>),
}

impl Listener for ClosingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            if let Some(connection) = self.waiting.pop_front() {
                return connection;
            }
            let Some(listener) = &self.open else {
                return std::future::pending().await;
            };
            let close = self.close.clone();
            let next = tokio::select! {
                biased;
                () = close.notified() => Next::Close,
                accepted = listener.accept() => Next::Accepted(accepted),
            };
            match next {
                Next::Close => self.close_now(),
                Next::Accepted(Ok(connection)) => return connection,
                Next::Accepted(Err(error)) if is_connection_error(&error) => {}
                Next::Accepted(Err(error)) => {
                    // Out of file descriptors, most likely: give the
                    // in-flight requests a moment to free some.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.open {
            Some(listener) => listener.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the listener is closed",
            )),
        }
    }
}

/// A connection that failed before it was accepted: the peer's business,
/// not the listener's.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; stopping");
}
