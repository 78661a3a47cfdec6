//! Creating and dropping the stack's databases.

use anyhow::Context;
use sqlx::migrate::MigrateDatabase as _;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Creates the database of `url` if it does not exist.
pub fn ensure_database(url: &str) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        if !sqlx::Postgres::database_exists(url)
            .await
            .context("asking PostgreSQL")?
        {
            sqlx::Postgres::create_database(url)
                .await
                .context("creating a database")?;
        }
        Ok(())
    })
}

/// Whether the database of `url` exists.
pub fn database_exists(url: &str) -> anyhow::Result<bool> {
    runtime()?.block_on(async {
        sqlx::Postgres::database_exists(url)
            .await
            .context("asking PostgreSQL")
    })
}

/// Drops the database of `url` if it exists (test stacks clean up after themselves).
pub fn drop_database(url: &str) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        if sqlx::Postgres::database_exists(url).await? {
            sqlx::Postgres::force_drop_database(url).await?;
        }
        Ok(())
    })
}
