//! The subcommands of the binary besides serving: `migrate` and `seed`.

use crate::state::AppState;

/// Applies pending migrations of the commerce database.
pub async fn migrate(state: &AppState) -> anyhow::Result<()> {
    common::db::migrate(&crate::MIGRATOR, &state.db).await
}

/// Applies migrations, then seeds markets and the demo catalog (idempotent).
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    migrate(state).await?;
    let added = crate::catalog::seed::seed(&state.db).await?;
    state.markets.invalidate();
    println!("seeded markets us, in, eu and {added} new demo products");
    Ok(())
}
