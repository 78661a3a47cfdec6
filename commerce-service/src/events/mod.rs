//! commerce-service on the event bus (nothing here without `NATS_URL`):
//! - following auth-service's revocations into the status cache
//!   (`caller/subscription.rs`);
//! - acting on account deletions (`account_deleted.rs`);
//! - relaying its own outbox (the `commerce.order.*` events the orders
//!   feature writes) to the `COMMERCE` stream.

pub mod account_deleted;

use common::events::COMMERCE_STREAM;
use common::events::outbox::Relay;

use crate::AppState;

/// Connects (in the background: a bus that is down delays events, never
/// the service) and starts the three.
pub async fn start(state: &AppState) -> anyhow::Result<()> {
    let Some(bus) = &state.settings.bus else {
        return Ok(());
    };
    let client = bus.connect("commerce-service").await?;
    tokio::spawn(crate::caller::subscription::follow(
        state.token_status.push().clone(),
        client.clone(),
        bus.namespace.clone(),
    ));
    tokio::spawn(account_deleted::follow(
        state.db.clone(),
        state.outbox.clone(),
        client.clone(),
        bus.namespace.clone(),
    ));
    let wake = state.outbox_wake.clone();
    let relay = Relay::on_bus(bus, state.db.clone(), client, COMMERCE_STREAM, wake);
    tokio::spawn(relay.run(std::future::pending()));
    Ok(())
}
