//! commerce-service on the event bus (nothing here without `NATS_URL`):
//! following auth-service's revocations into the status cache
//! (`caller/subscription.rs`).

use crate::AppState;

/// Connects (in the background: a bus that is down delays the push, never
/// the service) and starts following the revocation push.
pub async fn start(state: &AppState) -> anyhow::Result<()> {
    let Some(bus) = &state.settings.bus else {
        return Ok(());
    };
    let client = bus.connect("commerce-service").await?;
    tokio::spawn(crate::caller::subscription::follow(
        state.token_status.push().clone(),
        client,
        bus.namespace.clone(),
    ));
    Ok(())
}
