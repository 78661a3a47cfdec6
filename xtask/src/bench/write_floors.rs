//! PostgreSQL's own floors for the benchmark's writes (`pg_floor/`), run
//! on the benchmark's database before the scenarios: what PostgreSQL alone
//! does with a cart add's and a checkout's statements, with the service's
//! pool size as clients.

use std::collections::BTreeMap;

use super::pg_floor;
use super::pg_floor::checkout::{self, SkuLine};
use super::probes;
use super::stack::{self, Bench};

/// The cart add's floor, then the adders' carts emptied again.
pub async fn cart_add(
    bench: &Bench,
    pool: &sqlx::PgPool,
    database_url: &str,
    floors: &mut BTreeMap<&'static str, f64>,
) -> anyhow::Result<()> {
    let Some(pgbench) = probes::pgbench() else {
        return Ok(());
    };
    let users = (
        bench.adder_ids.iter().copied().min().unwrap_or(1),
        bench.adder_ids.iter().copied().max().unwrap_or(1),
    );
    let clients: usize = stack::DATABASE_CONNECTIONS.parse()?;
    let (url, skus) = (database_url.to_owned(), bench.skus.clone());
    let tps = tokio::task::spawn_blocking(move || {
        pg_floor::cart_add_tps(pgbench, &url, users, &skus, clients, 10)
    })
    .await??;
    eprintln!(
        "  PostgreSQL alone, a cart add's statements (pgbench, {clients} clients): {tps:.0}/s"
    );
    floors.insert("postgresql_cart_add_tps", tps);
    sqlx::query(
        "delete from cart_items where cart_id in
           (select id from carts where user_id between $1 and $2)",
    )
    .bind(users.0)
    .bind(users.1)
    .execute(pool)
    .await?;
    Ok(())
}

/// The checkout's floor, over the benchmark's SKUs as they are priced in
/// `us`. Its orders stay, as scenario 8's do (their buyers' ids are far
/// above the customers').
pub async fn checkout(
    bench: &Bench,
    pool: &sqlx::PgPool,
    database_url: &str,
    floors: &mut BTreeMap<&'static str, f64>,
) -> anyhow::Result<()> {
    let Some(pgbench) = probes::pgbench() else {
        return Ok(());
    };
    let rows: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "select s.id, s.product_id, p.name, pr.amount_minor
         from unnest($1::bigint[]) as l (sku_id)
         join skus s on s.id = l.sku_id
         join products p on p.id = s.product_id
         join prices pr on pr.sku_id = s.id and pr.market = 'us'
         order by s.id",
    )
    .bind(&bench.skus)
    .fetch_all(pool)
    .await?;
    let skus: Vec<SkuLine> = rows
        .into_iter()
        .map(|(sku_id, product_id, name, price_minor)| SkuLine {
            sku_id,
            product_id,
            name,
            price_minor,
        })
        .collect();
    let currency: String = sqlx::query_scalar("select currency from markets where code = 'us'")
        .fetch_one(pool)
        .await?;
    let clients: usize = stack::DATABASE_CONNECTIONS.parse()?;
    checkout::fill_carts(pool, &skus, clients).await?;
    sqlx::query("analyze carts, cart_items")
        .execute(pool)
        .await?;
    let url = database_url.to_owned();
    let tps = tokio::task::spawn_blocking(move || {
        checkout::checkout_tps(pgbench, &url, &currency, &skus, clients, 10)
    })
    .await??;
    checkout::empty_carts(pool).await?;
    eprintln!(
        "  PostgreSQL alone, a checkout's statements (pgbench, {clients} clients): {tps:.0} orders/s"
    );
    floors.insert("postgresql_checkout_tps", tps);
    Ok(())
}
