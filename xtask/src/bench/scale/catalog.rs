//! How the catalog's reads grow with it: the benchmark's commerce-service
//! database is grown to 1,000, 100,000 and 1,000,000 products (each with a
//! SKU priced in every market) by `generate_series` inserts. At each size a
//! search, a search nothing matches, a deep page and a product read are
//! driven straight at commerce-service (the gateway's cache would hide the
//! database), and the statements behind them are shown with `EXPLAIN
//! (ANALYZE, BUFFERS)`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use reqwest::Client;
use sqlx::PgPool;

use super::{explain, plans_md, verdict};
use crate::bench::drivers::{Driven, Op, drive, status_of};
use crate::bench::pg_floor::{bind, service_query};
use crate::bench::stack::Bench;

/// The catalog sizes measured, smallest first.
const SIZES: [i64; 3] = [1_000, 100_000, 1_000_000];
const QUICK_SIZES: [i64; 2] = [1_000, 10_000];
/// Products are inserted this many per statement (one transaction each).
const BATCH: i64 = 100_000;
/// A product's name is `{colour} {noun} {number}`: a search for a noun
/// matches one product in `NOUNS.len()`.
const COLOURS: [&str; 10] = [
    "red", "blue", "green", "black", "white", "amber", "ivory", "slate", "coral", "olive",
];
const NOUNS: [&str; 20] = [
    "lamp", "chair", "table", "mug", "kettle", "rug", "vase", "clock", "shelf", "stool", "bench",
    "mirror", "basket", "pillow", "blanket", "candle", "frame", "bowl", "plate", "jar",
];
/// The word searched for.
const SEARCHED: &str = "kettle";
/// A word no product's name has: without the trigram index on names its
/// search would read every product to learn that.
const ABSENT: &str = "xylophone";
/// The deep page: the same offset at every size, so that only the
/// catalog's size changes (at 1,000 products it is the last page).
const DEEP_PAGE: i64 = 50;
const PER_PAGE: i64 = 20;
/// Concurrent clients per read: enough to keep both cores busy, few enough
/// that the figures are latencies rather than queueing.
const CONNECTIONS: usize = 8;
/// At 1,000,000 products a read's p99 may be at most this many times its
/// p99 at 1,000 (issue 19's target).
const ALLOWED_GROWTH: f64 = 2.0;

/// What the list binds as the end of its count: one past the storefront's
/// result window (commerce-service's `catalog::RESULT_WINDOW`, 1000).
const WINDOW_COUNT: &str = "1001";

/// The reads.
const READS: [&str; 4] = ["search", "search, no match", "deep page", "product read"];

/// What one size measured.
struct Size {
    products: i64,
    grown_in_s: f64,
    reads: Vec<Driven>,
    plans: Vec<(String, String)>,
}

/// Grows the catalog size by size, measuring at each; the report's
/// section.
pub async fn measure(bench: &Bench, db: &PgPool) -> anyhow::Result<String> {
    let sizes: &[i64] = if bench.options.quick {
        &QUICK_SIZES
    } else {
        &SIZES
    };
    let mut measured = Vec::new();
    for &products in sizes {
        let started = Instant::now();
        grow_catalog(db, products).await?;
        let grown_in_s = started.elapsed().as_secs_f64();
        eprintln!("bench --scale: {products} products ({grown_in_s:.0} s to grow)");
        let (first, last) = scale_products(db).await?;
        let mut reads = Vec::new();
        for read in READS {
            let op = read_op(&bench.client, &bench.commerce, read, first, last);
            reads.push(drive(CONNECTIONS, bench.options.seconds, op).await);
        }
        let plans = explain_reads(db, first, last).await?;
        measured.push(Size {
            products,
            grown_in_s,
            reads,
            plans,
        });
    }
    section(&measured, bench.options.seconds)
}

/// Inserts products (one SKU each, priced in every market) until the
/// catalog holds `target`, then vacuums them.
async fn grow_catalog(db: &PgPool, target: i64) -> anyhow::Result<()> {
    let have: i64 = sqlx::query_scalar("select count(*) from products")
        .fetch_one(db)
        .await?;
    let mut next = have + 1;
    while next <= target {
        let last = (next + BATCH - 1).min(target);
        sqlx::query(
            "with made as (
                 insert into products (slug, name, description)
                 select 'scale-' || n,
                        ($3::text[])[(1 + n % cardinality($3))::int] || ' '
                          || ($4::text[])[(1 + (n / cardinality($3)) % cardinality($4))::int] || ' ' || n,
                        'Made by cargo xtask bench --scale'
                 from generate_series($1::bigint, $2::bigint) n
                 returning id, slug),
             skus_made as (
                 insert into skus (product_id, code, stock)
                 select id, slug, 1000 from made
                 returning id)
             insert into prices (sku_id, market, amount_minor)
             select s.id, m.code, 100 + s.id % 9900
             from skus_made s cross join markets m",
        )
        .bind(next)
        .bind(last)
        .bind(&COLOURS[..])
        .bind(&NOUNS[..])
        .execute(db)
        .await
        .context("growing the catalog")?;
        next = last + 1;
    }
    // As autovacuum would leave them, before the reads: statistics for the
    // planner, and visibility maps, so that no vacuum runs while they are
    // measured.
    sqlx::query("vacuum (analyze) products, skus, prices")
        .execute(db)
        .await?;
    Ok(())
}

/// The first and last product ids the scale run made.
async fn scale_products(db: &PgPool) -> anyhow::Result<(i64, i64)> {
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("select min(id), max(id) from products where slug like 'scale-%'")
            .fetch_one(db)
            .await?;
    first.zip(last).context("the scale run made no products")
}

/// One read as a load unit: the search and the deep page are one request
/// each; the product read asks for a product spread over the whole range.
fn read_op(client: &Client, commerce: &str, read: &'static str, first: i64, last: i64) -> Op {
    let (client, commerce) = (client.clone(), commerce.to_owned());
    Arc::new(move |worker, iteration| {
        let url = match read {
            "search" => format!("{commerce}/api/v1/products?q={SEARCHED}&per_page={PER_PAGE}"),
            "search, no match" => {
                format!("{commerce}/api/v1/products?q={ABSENT}&per_page={PER_PAGE}")
            }
            "deep page" => {
                format!("{commerce}/api/v1/products?page={DEEP_PAGE}&per_page={PER_PAGE}")
            }
            _ => {
                let spread =
                    (worker as u64 * 7919 + iteration * 104_729) % (last - first + 1) as u64;
                format!("{commerce}/api/v1/products/{}", first + spread as i64)
            }
        };
        let request = client.get(url).header("x-market", "us");
        Box::pin(async move { status_of(request).await })
    })
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the statements behind the reads,
/// taken from commerce-service's `.sqlx/` data and bound as the reads bind
/// them.
async fn explain_reads(
    db: &PgPool,
    first: i64,
    last: i64,
) -> anyhow::Result<Vec<(String, String)>> {
    let list = service_query("with listed as materialized")?;
    let search = service_query("with matching as materialized")?;
    let product = service_query(
        "select id, slug, name, description, is_active, created_at, updated_at from products where id = $1",
    )?;
    let skus = service_query("where s.product_id = any($1) and s.is_active")?;
    let middle = (first + last) / 2;
    let pattern = format!("'%{SEARCHED}%'");
    let (limit, offset) = (
        PER_PAGE.to_string(),
        ((DEEP_PAGE - 1) * PER_PAGE).to_string(),
    );
    let statements = [
        (
            "search: the page",
            bind(&search, &["'us'", &pattern, &limit, "0", WINDOW_COUNT]),
        ),
        (
            "search, no match: the page",
            bind(
                &search,
                &["'us'", &format!("'%{ABSENT}%'"), &limit, "0", WINDOW_COUNT],
            ),
        ),
        (
            "deep page: the page",
            bind(&list, &["'us'", &limit, &offset, WINDOW_COUNT]),
        ),
        (
            "product read: the product",
            bind(&product, &[&middle.to_string()]),
        ),
        (
            "product read: its priced SKUs",
            bind(&skus, &[&format!("'{{{middle}}}'::bigint[]"), "'us'"]),
        ),
    ];
    explain(db, &statements).await
}

/// The catalog's part of the report.
fn section(measured: &[Size], seconds: f64) -> anyhow::Result<String> {
    let mut md = format!(
        "### The catalog\n\n\
         The benchmark's catalog grown by `generate_series` inserts ({BATCH} products per statement, \
         one SKU each priced in every market, then `VACUUM (ANALYZE)`); at each size each read driven \
         straight at commerce-service for {seconds} s by {CONNECTIONS} clients. The search is \
         `q={SEARCHED}` (one product in {}), the search with no match is `q={ABSENT}`, the deep page is page {DEEP_PAGE} of {PER_PAGE}, the \
         product read spreads over every product.\n\n\
         | products | grown in s | {} |\n|---|---|{}\n",
        NOUNS.len(),
        READS
            .map(|read| format!("{read} req/s, p50 / p99 ms"))
            .join(" | "),
        "---|".repeat(READS.len()),
    );
    for size in measured {
        let cells: Vec<String> = size
            .reads
            .iter()
            .map(|read| {
                format!(
                    "{:.0}, {:.2} / {:.2}{}",
                    read.requests as f64 / read.elapsed,
                    read.p50_ms,
                    read.p99_ms,
                    if read.failed > 0 {
                        format!(" ({} failed)", read.failed)
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        writeln!(
            md,
            "| {} | {:.0} | {} |",
            size.products,
            size.grown_in_s,
            cells.join(" | ")
        )?;
    }
    if let (Some(smallest), Some(largest)) = (measured.first(), measured.last()) {
        md.push('\n');
        for (index, read) in READS.iter().enumerate() {
            let growth = largest.reads[index].p99_ms / smallest.reads[index].p99_ms.max(0.001);
            writeln!(
                md,
                "- {} {read}: p99 at {} products within {ALLOWED_GROWTH}x of {}: {growth:.1}x",
                verdict(growth <= ALLOWED_GROWTH),
                largest.products,
                smallest.products,
            )?;
        }
    }
    md.push_str("\nThe statements behind the reads, `EXPLAIN (ANALYZE, BUFFERS)` at each size:\n");
    for size in measured {
        md.push_str(&plans_md(
            &format!("{} products", size.products),
            &size.plans,
        ));
    }
    Ok(md)
}
