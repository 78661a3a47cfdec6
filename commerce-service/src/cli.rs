//! The subcommands of the binary besides serving: `migrate` and `seed`.

use sqlx::PgPool;

use crate::catalog::markets::Markets;

/// Applies pending migrations of the commerce database.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    common::db::migrate(&crate::MIGRATOR, db).await
}

/// Applies migrations, then seeds markets and the demo catalog (idempotent).
pub async fn seed(db: &PgPool, markets: &Markets) -> anyhow::Result<()> {
    migrate(db).await?;
    let added = crate::catalog::seed::seed(db).await?;
    markets.invalidate();
    println!("seeded markets us, in, eu and {added} new demo products");
    Ok(())
}
