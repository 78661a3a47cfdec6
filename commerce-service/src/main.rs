//! commerce-service: serves its health and metrics routes until its own
//! issue (catalog, cart, wishlist, orders) lands.

use std::time::Duration;

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init_logging();
    let addr = common::config::Env::system().string("LISTEN_ADDR", "127.0.0.1:8082");
    let app = common::http::finish_router(
        common::http::health_and_metrics_routes(),
        Duration::from_secs(30),
    );
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("LISTEN_ADDR: cannot listen on {addr}"))?;
    tracing::info!(%addr, "commerce-service listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(common::http::shutdown_signal())
        .await?;
    Ok(())
}
