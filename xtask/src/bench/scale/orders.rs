//! How a customer's orders and checkout fare as the order history grows:
//! each reader gets ten delivered orders, then their order list and the
//! checkout scenario are measured; the history is grown by
//! `generate_series` inserts to 1,000,000 orders spread over 100,000
//! other customers (each with its line and status history), and both are
//! measured again.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use sqlx::PgPool;

use super::{explain, median_run, plans_md, verdict};
use crate::bench::Measure;
use crate::bench::drivers::{Load, Op, status_of};
use crate::bench::pg_floor::{bind, service_query, service_query_with};
use crate::bench::scenarios::Scenario;
use crate::bench::stack::Bench;

const ORDERS: i64 = 1_000_000;
const QUICK_ORDERS: i64 = 20_000;
const CUSTOMERS: i64 = 100_000;
/// The generated customers' ids start here, far from the logged-in ones.
const FIRST_CUSTOMER: i64 = 900_000_000;
/// Each reader's own orders, there before and after the growth.
const READER_ORDERS: i64 = 10;
const BATCH: i64 = 100_000;
/// At 1,000,000 orders, the list's p99 and checkout's time per order may
/// be at most this many times what they were before (issue 19's target).
const ALLOWED_GROWTH: f64 = 1.5;

pub async fn measure(bench: &Bench, db: &PgPool) -> anyhow::Result<String> {
    let (sku, product): (i64, i64) =
        sqlx::query_as("select id, product_id from skus where id = $1")
            .bind(bench.skus[0])
            .fetch_one(db)
            .await?;
    let readers: Vec<i64> = bench.readers.iter().map(|r| r.user_id).collect();
    sqlx::query(insert_orders(
        "select user_id, 'scale-r-' || user_id || '-' || k as number
         from unnest($1::bigint[]) as user_id cross join generate_series(1, $2::bigint) k",
        (sku, product),
    ))
    .bind(readers)
    .bind(READER_ORDERS)
    .execute(db)
    .await
    .context("giving the readers orders")?;
    vacuum(db).await?;
    let before = measure_both(bench, db).await?;
    let target = if bench.options.quick {
        QUICK_ORDERS
    } else {
        ORDERS
    };
    let started = Instant::now();
    let mut next: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(db)
        .await?;
    while next < target {
        let last = (next + BATCH).min(target);
        sqlx::query(insert_orders(
            "select $3::bigint + n % $4::bigint as user_id, 'scale-' || n as number
             from generate_series($1::bigint, $2::bigint - 1) n",
            (sku, product),
        ))
        .bind(next)
        .bind(last)
        .bind(FIRST_CUSTOMER)
        .bind(CUSTOMERS)
        .execute(db)
        .await
        .context("growing the order history")?;
        next = last;
    }
    vacuum(db).await?;
    let grown_in_s = started.elapsed().as_secs_f64();
    let orders: i64 = sqlx::query_scalar("select count(*) from orders")
        .fetch_one(db)
        .await?;
    eprintln!("bench --scale: {orders} orders ({grown_in_s:.0} s to grow)");
    let after = measure_both(bench, db).await?;
    let plans = explain_list(db, bench.readers[0].user_id).await?;
    let context = (bench.readers.len(), bench.options.runs, grown_in_s);
    section(&before, &after, orders, context, &plans)
}

/// The order list's and the checkout's measures, the median run of each.
struct Both {
    list: Measure,
    checkout: Measure,
}

async fn measure_both(bench: &Bench, db: &PgPool) -> anyhow::Result<Both> {
    let (mut lists, mut checkouts) = (Vec::new(), Vec::new());
    for _ in 0..bench.options.runs {
        lists.push(bench.measure(Load::Driver(list_op(bench)), false).await?);
        checkouts.push(Scenario::Checkout.run(bench, db).await?);
    }
    Ok(Both {
        list: median_run(lists),
        checkout: median_run(checkouts),
    })
}

/// Readers asking for their first page of orders, each in turn.
fn list_op(bench: &Bench) -> Op {
    let tokens: Arc<Vec<String>> =
        Arc::new(bench.readers.iter().map(|r| r.access.clone()).collect());
    let (client, url) = (
        bench.client.clone(),
        format!("{}/api/v1/orders", bench.commerce),
    );
    Arc::new(move |worker, iteration| {
        let token = &tokens[(worker * 7919 + iteration as usize) % tokens.len()];
        let request = client.get(&url).bearer_auth(token);
        Box::pin(async move { status_of(request).await })
    })
}

/// The statement inserting delivered orders, one line and one history
/// entry each, for the `(user_id, number)` rows `source` selects.
fn insert_orders(source: &str, (sku, product): (i64, i64)) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "with source as ({source}),
         made as (
             insert into orders (order_number, user_id, market, currency, status,
                                 subtotal_minor, total_minor, confirm_by)
             select number, user_id, 'us', 'USD', 'delivered', 2000, 2000, now() from source
             returning id),
         lines as (
             insert into order_lines (order_id, sku_id, product_id, name, quantity,
                                      unit_price_minor, line_total_minor)
             select id, {sku}, {product}, 'Scale item', 2, 1000, 2000 from made)
         insert into order_status_history (order_id, status) select id, 'delivered' from made"
    ))
}

async fn vacuum(db: &PgPool) -> anyhow::Result<()> {
    sqlx::query("vacuum (analyze) orders, order_lines, order_status_history")
        .execute(db)
        .await?;
    Ok(())
}

/// The statements behind a customer's first page of orders, from
/// commerce-service's `.sqlx/` data, bound as the list binds them.
async fn explain_list(db: &PgPool, user_id: i64) -> anyhow::Result<Vec<(String, String)>> {
    let page = service_query_with(&["from orders", "order by id desc limit $3 offset $4"])?;
    let count = service_query(r#"select count(*) as "count!" from orders"#)?;
    let lines = service_query("from order_lines where order_id = any($1)")?;
    let ids: Vec<i64> =
        sqlx::query_scalar("select id from orders where user_id = $1 order by id desc limit 20")
            .bind(user_id)
            .fetch_all(db)
            .await?;
    let ids = format!(
        "'{{{}}}'::bigint[]",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    );
    let user = user_id.to_string();
    explain(
        db,
        &[
            ("the page", bind(&page, &[&user, "null", "20", "0"])),
            ("the count", bind(&count, &[&user, "null"])),
            ("the lines", bind(&lines, &[&ids])),
        ],
    )
    .await
}

fn section(
    before: &Both,
    after: &Both,
    orders: i64,
    (readers, runs, grown_in_s): (usize, usize, f64),
    plans: &[(String, String)],
) -> anyhow::Result<String> {
    let mut md = format!(
        "### Orders\n\n\
         Each of the {readers} readers has {READER_ORDERS} delivered orders; then the history is grown to \
         {orders} orders over {CUSTOMERS} more customers (one line and one status entry each, \
         `VACUUM (ANALYZE)` after; {grown_in_s:.0} s). The list is a reader's first page of \
         `GET /api/v1/orders`; checkout is scenario 8. Median of {runs} run(s).\n\n\
         | history | order list req/s, p50 / p99 ms | checkout orders/s, p50 / p99 ms | commerce CPU µs per order |\n\
         |---|---|---|---|\n"
    );
    let grown = format!("{orders} orders");
    for (label, both) in [("before", before), (grown.as_str(), after)] {
        writeln!(
            md,
            "| {label} | {:.0}, {:.2} / {:.2} | {:.0}, {:.2} / {:.2} | {:.0} |",
            both.list.rps(),
            both.list.p50_ms,
            both.list.p99_ms,
            both.checkout.rps(),
            both.checkout.p50_ms,
            both.checkout.p99_ms,
            both.checkout
                .cpu_us_per_request
                .get("commerce-service")
                .copied()
                .unwrap_or(0.0),
        )?;
    }
    let list_growth = after.list.p99_ms / before.list.p99_ms.max(0.001);
    let checkout_growth = before.checkout.rps() / after.checkout.rps().max(0.001);
    writeln!(
        md,
        "\n- {} order list: p99 at {orders} orders within {ALLOWED_GROWTH}x of before: {list_growth:.2}x",
        verdict(list_growth <= ALLOWED_GROWTH)
    )?;
    writeln!(
        md,
        "- {} checkout: time per order at {orders} orders within {ALLOWED_GROWTH}x of before: {checkout_growth:.2}x",
        verdict(checkout_growth <= ALLOWED_GROWTH)
    )?;
    md.push_str(&format!(
        "\nThe statements behind a reader's list at {orders} orders:\n"
    ));
    md.push_str(&plans_md(&format!("{orders} orders"), plans));
    Ok(md)
}
