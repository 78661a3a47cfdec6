//! Markets, products, SKUs and prices.

use common::db::Bounded as _;
use serde_json::Value;
use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::ids::{ProductId, SkuId};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MarketRow {
    pub code: String,
    pub currency: String,
    pub name: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductRow {
    pub id: ProductId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub is_active: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A SKU with its price in one market.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PricedSkuRow {
    pub id: SkuId,
    pub product_id: ProductId,
    pub code: String,
    pub attributes: Value,
    pub stock: i32,
    pub amount_minor: i64,
}

/// A SKU as the admin API sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SkuRow {
    pub id: SkuId,
    pub product_id: ProductId,
    pub code: String,
    pub attributes: Value,
    pub stock: i32,
    pub is_active: bool,
    /// Units that pending (unpaid) orders hold.
    pub held: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PriceRow {
    pub sku_id: SkuId,
    pub market: String,
    pub amount_minor: i64,
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn markets(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<MarketRow>> {
    sqlx::query_as!(
        MarketRow,
        "select code, currency, name from markets order by code"
    )
    .fetch_all(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn product(db: impl PgExecutor<'_>, id: ProductId) -> sqlx::Result<Option<ProductRow>> {
    sqlx::query_as!(
        ProductRow,
        "select id, slug, name, description, is_active, created_at, updated_at from products where id = $1",
        id.0
    )
    .fetch_optional(db)
    .bounded()
    .await
}

/// The active SKUs of `products` priced in `market`, by id.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn priced_skus(
    db: impl PgExecutor<'_>,
    products: &[ProductId],
    market: &str,
) -> sqlx::Result<Vec<PricedSkuRow>> {
    let products: Vec<i64> = products.iter().map(|id| id.0).collect();
    sqlx::query_as!(
        PricedSkuRow,
        "select s.id, s.product_id, s.code, s.attributes, s.stock, pr.amount_minor
         from skus s join prices pr on pr.sku_id = s.id and pr.market = $2
         where s.product_id = any($1) and s.is_active
         order by s.id",
        &products,
        market
    )
    .fetch_all(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn skus_of(db: impl PgExecutor<'_>, product_id: ProductId) -> sqlx::Result<Vec<SkuRow>> {
    sqlx::query_as!(
        SkuRow,
        r#"select id, product_id, code, attributes, stock, is_active,
                  (select coalesce(sum(ol.quantity), 0)
                     from orders o join order_lines ol on ol.order_id = o.id
                    where o.status = 'pending' and ol.sku_id = skus.id)::bigint as "held!"
           from skus where product_id = $1 order by id"#,
        product_id.0
    )
    .fetch_all(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn sku(db: impl PgExecutor<'_>, id: SkuId) -> sqlx::Result<Option<SkuRow>> {
    sqlx::query_as!(
        SkuRow,
        r#"select id, product_id, code, attributes, stock, is_active,
                  (select coalesce(sum(ol.quantity), 0)
                     from orders o join order_lines ol on ol.order_id = o.id
                    where o.status = 'pending' and ol.sku_id = skus.id)::bigint as "held!"
           from skus where id = $1"#,
        id.0
    )
    .fetch_optional(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn prices_of(db: impl PgExecutor<'_>, skus: &[SkuId]) -> sqlx::Result<Vec<PriceRow>> {
    let skus: Vec<i64> = skus.iter().map(|id| id.0).collect();
    sqlx::query_as!(
        PriceRow,
        "select sku_id, market, amount_minor from prices where sku_id = any($1) order by sku_id, market",
        &skus
    )
    .fetch_all(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn insert_product(
    db: impl PgExecutor<'_>,
    slug: &str,
    name: &str,
    description: &str,
) -> sqlx::Result<ProductId> {
    sqlx::query_scalar!(
        "insert into products (slug, name, description) values ($1, $2, $3) returning id",
        slug,
        name,
        description
    )
    .fetch_one(db)
    .bounded()
    .await
    .map(ProductId)
}

/// Takes a transaction-scoped advisory lock on each SKU code, in sorted
/// order (the sorted subquery fixes the order the locks are taken in).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_sku_codes(db: impl PgExecutor<'_>, codes: &[String]) -> sqlx::Result<()> {
    sqlx::query_scalar!(
        r#"select count(pg_advisory_xact_lock(hashtextextended(code, 7426)))::bigint as "locked!"
             from (select distinct code from unnest($1::text[]) as code order by code) as sorted"#,
        codes
    )
    .fetch_one(db)
    .bounded()
    .await
    .map(|_| ())
}

/// Locks a product's row for the transaction and counts its SKUs; `None`
/// when there is no such product.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_product_counting_skus(
    db: impl PgExecutor<'_>,
    id: ProductId,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"select (select count(*) from skus where product_id = p.id) as "count!"
           from products p where p.id = $1 for update"#,
        id.0
    )
    .fetch_optional(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn insert_sku(
    db: impl PgExecutor<'_>,
    product_id: ProductId,
    code: &str,
    attributes: &Value,
    stock: i32,
) -> sqlx::Result<SkuId> {
    sqlx::query_scalar!(
        "insert into skus (product_id, code, attributes, stock) values ($1, $2, $3, $4) returning id",
        product_id.0,
        code,
        attributes,
        stock
    )
    .fetch_one(db)
    .bounded()
    .await
    .map(SkuId)
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn upsert_price(
    db: impl PgExecutor<'_>,
    sku_id: SkuId,
    market: &str,
    amount_minor: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into prices (sku_id, market, amount_minor) values ($1, $2, $3)
         on conflict (sku_id, market) do update set amount_minor = excluded.amount_minor",
        sku_id.0,
        market,
        amount_minor
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

/// Changes the given fields of a product; `None` if it does not exist.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn update_product(
    db: impl PgExecutor<'_>,
    id: ProductId,
    name: Option<&str>,
    description: Option<&str>,
    is_active: Option<bool>,
) -> sqlx::Result<Option<ProductId>> {
    sqlx::query_scalar!(
        "update products set name = coalesce($2, name), description = coalesce($3, description),
                is_active = coalesce($4, is_active), updated_at = now()
         where id = $1 returning id",
        id.0,
        name,
        description,
        is_active
    )
    .fetch_optional(db)
    .bounded()
    .await
    .map(|id| id.map(ProductId))
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn set_stock(
    db: impl PgExecutor<'_>,
    sku_id: SkuId,
    stock: i32,
) -> sqlx::Result<Option<SkuId>> {
    sqlx::query_scalar!(
        "update skus set stock = $2, updated_at = now() where id = $1 returning id",
        sku_id.0,
        stock
    )
    .fetch_optional(db)
    .bounded()
    .await
    .map(|id| id.map(SkuId))
}

/// Upserts markets (the development seed).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn upsert_market(
    db: impl PgExecutor<'_>,
    code: &str,
    currency: &str,
    name: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into markets (code, currency, name) values ($1, $2, $3)
         on conflict (code) do update set currency = excluded.currency, name = excluded.name",
        code,
        currency,
        name
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

/// Every product, sold or not, for the admin's list: its SKU count and
/// the stock of all its SKUs.
pub struct AdminProductRow {
    pub id: ProductId,
    pub slug: String,
    pub name: String,
    pub is_active: bool,
    pub sku_count: i64,
    pub stock: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Products newest first, optionally whose name or slug matches `pattern`
/// (an escaped `ILIKE` pattern), with the total.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn admin_products(
    db: impl PgExecutor<'_> + Copy,
    pattern: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<AdminProductRow>, i64)> {
    let rows = sqlx::query!(
        r#"select p.id, p.slug, p.name, p.is_active, p.created_at, p.updated_at,
                  coalesce(s.sku_count, 0) as "sku_count!", coalesce(s.stock, 0) as "stock!",
                  count(*) over () as "total!"
           from products p
           left join lateral (select count(*) as sku_count, sum(stock)::bigint as stock
                              from skus where product_id = p.id) s on true
           where $1::text is null or p.name ilike $1 or p.slug ilike $1
           order by p.id desc
           limit $2 offset $3"#,
        pattern,
        limit,
        offset
    )
    .fetch_all(db)
    .bounded()
    .await?;
    let total = match rows.first() {
        Some(row) => row.total,
        None if offset == 0 => 0,
        None => {
            sqlx::query_scalar!(
                r#"select count(*) as "count!" from products p
               where $1::text is null or p.name ilike $1 or p.slug ilike $1"#,
                pattern
            )
            .fetch_one(db)
            .bounded()
            .await?
        }
    };
    let rows = rows
        .into_iter()
        .map(|row| AdminProductRow {
            id: row.id.into(),
            slug: row.slug,
            name: row.name,
            is_active: row.is_active,
            sku_count: row.sku_count,
            stock: row.stock,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
        .collect();
    Ok((rows, total))
}
