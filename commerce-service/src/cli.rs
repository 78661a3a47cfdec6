//! The subcommands of the binary besides serving: `migrate` and `seed`.

use sqlx::PgPool;

use crate::catalog::markets::Markets;

/// Applies pending migrations of the commerce database.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    common::db::migrate(&crate::MIGRATOR, db).await
}

/// Before serving: migrates (`MIGRATE_ON_START`, the default), or, where
/// migrations run as their own step, refuses to serve a database that
/// lacks one this build needs.
pub async fn prepare_schema(db: &PgPool, migrate_on_start: bool) -> anyhow::Result<()> {
    if migrate_on_start {
        migrate(db).await
    } else {
        common::db::ensure_migrated(&crate::MIGRATOR, db).await
    }
}

/// Applies migrations, then seeds markets and the demo catalog (idempotent).
pub async fn seed(db: &PgPool, markets: &Markets) -> anyhow::Result<()> {
    migrate(db).await?;
    let added = crate::catalog::seed::seed(db).await?;
    markets.invalidate();
    println!("seeded markets us, in, eu and {added} new demo products");
    Ok(())
}
