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
    let users = (
        bench.adder_ids.iter().copied().min().unwrap_or(1),
        bench.adder_ids.iter().copied().max().unwrap_or(1),
    );
    let (url, skus) = (database_url.to_owned(), bench.skus.clone());
    record(
        floors,
        "postgresql_cart_add_tps",
        "a cart add's statements",
        move |pgbench, clients| pg_floor::cart_add_tps(pgbench, &url, users, &skus, clients, 10),
    )
    .await?;
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
    if probes::pgbench().is_none() {
        return Ok(());
    }
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
    checkout::fill_carts(pool, &skus, stack::DATABASE_CONNECTIONS.parse()?).await?;
    sqlx::query("analyze carts, cart_items")
        .execute(pool)
        .await?;
    let url = database_url.to_owned();
    record(
        floors,
        "postgresql_checkout_tps",
        "a checkout's statements",
        move |pgbench, clients| {
            checkout::checkout_tps(pgbench, &url, &currency, &skus, clients, 10)
        },
    )
    .await?;
    checkout::empty_carts(pool).await
}

/// Runs `floor` (given pgbench and the service's pool size as clients) off
/// the async workers, prints its rate and records it as `floors[key]`;
/// nothing without pgbench.
async fn record(
    floors: &mut BTreeMap<&'static str, f64>,
    key: &'static str,
    what: &str,
    floor: impl FnOnce(&'static str, usize) -> anyhow::Result<f64> + Send + 'static,
) -> anyhow::Result<()> {
    let Some(pgbench) = probes::pgbench() else {
        return Ok(());
    };
    let clients: usize = stack::DATABASE_CONNECTIONS.parse()?;
    let tps = tokio::task::spawn_blocking(move || floor(pgbench, clients)).await??;
    eprintln!("  PostgreSQL alone, {what} (pgbench, {clients} clients): {tps:.0}/s");
    floors.insert(key, tps);
    Ok(())
}
