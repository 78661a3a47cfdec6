//! auth-service on the event bus: the relay that publishes its outbox (the
//! `auth.*` events the sessions and accounts features write) to the `AUTH`
//! stream and announces its watermark. Nothing here without `NATS_URL`.

use common::events::AUTH_STREAM;
use common::events::outbox::Relay;

use crate::AppState;

/// Starts this replica's relay when a bus is configured. The connection is
/// made in the background: a bus that is down delays events, never the
/// service (they wait in the outbox).
pub async fn start_relay(state: &AppState) -> anyhow::Result<()> {
    let Some(bus) = &state.settings.bus else {
        return Ok(());
    };
    let client = bus.connect("auth-service").await?;
    let wake = state.outbox_wake.clone();
    let relay = Relay::on_bus(bus, state.db.clone(), client, AUTH_STREAM, wake);
    tokio::spawn(relay.run(std::future::pending()));
    Ok(())
}
