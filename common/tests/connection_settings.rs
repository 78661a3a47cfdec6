//! Every service connection carries the server-side settings
//! `common::db::connect_options` promises: the statement cap, and no
//! parallel plans.

use sqlx::Connection as _;

#[tokio::test]
async fn a_service_connection_has_the_statement_cap_and_no_parallel_plans() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let options = common::db::connect_options(&url)?;
    let mut connection = sqlx::PgConnection::connect_with(&options).await?;
    let statement_timeout: String = sqlx::query_scalar("show statement_timeout")
        .fetch_one(&mut connection)
        .await?;
    let parallel_workers: String = sqlx::query_scalar("show max_parallel_workers_per_gather")
        .fetch_one(&mut connection)
        .await?;
    assert_eq!(statement_timeout, common::db::STATEMENT_TIMEOUT);
    assert_eq!(parallel_workers, "0");
    connection.close().await?;
    Ok(())
}
