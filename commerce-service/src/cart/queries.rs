//! Carts per (user, market) and their lines.

use common::db::Bounded as _;
use common::ids::UserId;
use sqlx::PgExecutor;
use time::OffsetDateTime;

use super::version::{Digests, StoredVersion, Version};
use crate::ids::{ProductId, SkuId};

/// A cart line with what decides whether it can still be sold.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CartLineRow {
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub name: String,
    pub quantity: i32,
    /// `None` when the SKU is no longer priced in the cart's market.
    pub unit_price_minor: Option<i64>,
    pub stock: i32,
    pub sku_active: bool,
    pub product_active: bool,
}

impl CartLineRow {
    /// Active, priced in the market and in stock for the line's quantity.
    pub fn available(&self) -> bool {
        self.sku_active
            && self.product_active
            && self.unit_price_minor.is_some()
            && self.stock >= self.quantity
    }
}

/// A cart row with what its version is made of (`version.rs`).
#[derive(Debug, Clone)]
pub struct CartRow {
    pub id: i64,
    pub market: String,
    pub updated_at: OffsetDateTime,
    pub stored: StoredVersion,
}

/// A cart as one read saw it: the row and its lines, in the order added.
#[derive(Debug, Clone)]
pub struct CartSnapshot {
    pub cart: CartRow,
    pub lines: Vec<CartLineRow>,
}

/// Which cart to read.
#[derive(Debug, Clone, Copy)]
pub enum CartKey<'a> {
    /// A customer's cart in a market.
    Customer(UserId, &'a str),
    /// A cart by id (a guest cart, once its token is resolved).
    Id(i64),
}

/// The cart with its lines, in one round trip: `None` when there is no
/// such cart (a customer who never had one in this market).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn snapshot(
    db: impl PgExecutor<'_>,
    key: CartKey<'_>,
) -> sqlx::Result<Option<CartSnapshot>> {
    let (id, user_id, market) = match key {
        CartKey::Customer(user_id, market) => (None, Some(user_id.0), Some(market)),
        CartKey::Id(id) => (Some(id), None, None),
    };
    // One row per line, or one row of nulls for an empty cart. (Plain left
    // joins: PostgreSQL ran this 5-10% faster than a lateral subquery.)
    let rows = sqlx::query!(
        r#"select c.id as cart_id, c.market as cart_market, c.updated_at as cart_updated_at,
                  c.version, c.lines_version, c.lines_digest, c.money_digest,
                  ci.sku_id as "sku_id?", s.product_id as "product_id?", p.name as "name?",
                  ci.quantity as "quantity?", pr.amount_minor as "unit_price_minor?",
                  s.stock as "stock?", s.is_active as "sku_active?",
                  p.is_active as "product_active?"
           from carts c
           left join cart_items ci on ci.cart_id = c.id
           left join skus s on s.id = ci.sku_id
           left join products p on p.id = s.product_id
           left join prices pr on pr.sku_id = s.id and pr.market = c.market
           where c.id = (select id from carts
                         where id = $1 or (user_id = $2 and market = $3))
           order by ci.added_at, ci.sku_id"#,
        id,
        user_id,
        market
    )
    .fetch_all(db)
    .bounded()
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let cart = CartRow {
        id: first.cart_id,
        market: first.cart_market.clone(),
        updated_at: first.cart_updated_at,
        stored: StoredVersion {
            version: first.version,
            lines_version: first.lines_version,
            lines_digest: first.lines_digest.clone(),
            money_digest: first.money_digest.clone(),
        },
    };
    let lines = rows
        .into_iter()
        .filter_map(|row| {
            Some(CartLineRow {
                sku_id: SkuId(row.sku_id?),
                product_id: ProductId(row.product_id?),
                name: row.name?,
                quantity: row.quantity?,
                unit_price_minor: row.unit_price_minor,
                stock: row.stock?,
                sku_active: row.sku_active?,
                product_active: row.product_active?,
            })
        })
        .collect();
    Ok(Some(CartSnapshot { cart, lines }))
}

/// Moves a cart to the next version, whose content has `digests`, unless
/// another answer moved it since version `seen` (then `None`: read again).
/// The lines' version moves too when the non-money part changed.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn advance_version(
    db: impl PgExecutor<'_>,
    cart_id: i64,
    seen: i64,
    digests: &Digests,
) -> sqlx::Result<Option<Version>> {
    sqlx::query_as!(
        Version,
        "update carts
         set version = version + 1,
             lines_version = case when lines_digest is distinct from $3
                                  then version + 1 else lines_version end,
             lines_digest = $3, money_digest = $4
         where id = $1 and version = $2
         returning version, lines_version",
        cart_id,
        seen,
        &digests.lines[..],
        &digests.money[..]
    )
    .fetch_optional(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn find(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    market: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "select id from carts where user_id = $1 and market = $2",
        user_id.0,
        market
    )
    .fetch_optional(db)
    .bounded()
    .await
}

/// The cart of (user, market), created if missing; touched either way.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn ensure(db: impl PgExecutor<'_>, user_id: UserId, market: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into carts (user_id, market) values ($1, $2)
         on conflict (user_id, market) do update set updated_at = now()
         returning id",
        user_id.0,
        market
    )
    .fetch_one(db)
    .bounded()
    .await
}

/// For a SKU that is active with an active product: whether it is priced
/// in `market`. `None` when it is unknown or inactive.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn sellable_sku_priced(
    db: impl PgExecutor<'_>,
    sku_id: SkuId,
    market: &str,
) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar!(
        r#"select (pr.amount_minor is not null) as "priced!"
           from skus s
           join products p on p.id = s.product_id
           left join prices pr on pr.sku_id = s.id and pr.market = $2
           where s.id = $1 and s.is_active and p.is_active"#,
        sku_id.0,
        market
    )
    .fetch_optional(db)
    .bounded()
    .await
}

/// Adds `quantity` of a SKU to the cart of (user, market), creating the
/// cart if needed, in one statement: `None` when the SKU is unknown or
/// inactive, `Some(false)` when it is not priced in the market (nothing
/// changes), `Some(true)` when added. Going past 99 on a line violates
/// `cart_items_quantity_check` and changes nothing.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn add_if_sellable(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    market: &str,
    sku_id: SkuId,
    quantity: i32,
) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar!(
        r#"with sellable as (
               select (pr.amount_minor is not null) as priced
               from skus s
               join products p on p.id = s.product_id
               left join prices pr on pr.sku_id = s.id and pr.market = $2
               where s.id = $3 and s.is_active and p.is_active
           ), cart as (
               insert into carts (user_id, market)
               select $1, $2 from sellable where priced
               on conflict (user_id, market) do update set updated_at = now()
               returning id
           ), line as (
               -- Runs to completion although nothing reads it (as every
               -- data-modifying WITH does).
               insert into cart_items (cart_id, sku_id, quantity)
               select id, $3, $4 from cart
               on conflict (cart_id, sku_id)
               do update set quantity = cart_items.quantity + excluded.quantity
           )
           select (select priced from sellable) as "priced?""#,
        user_id.0,
        market,
        sku_id.0,
        quantity
    )
    .fetch_one(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn set(
    db: impl PgExecutor<'_>,
    cart_id: i64,
    sku_id: SkuId,
    quantity: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into cart_items (cart_id, sku_id, quantity) values ($1, $2, $3)
         on conflict (cart_id, sku_id) do update set quantity = excluded.quantity",
        cart_id,
        sku_id.0,
        quantity
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn remove(db: impl PgExecutor<'_>, cart_id: i64, sku_id: SkuId) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from cart_items where cart_id = $1 and sku_id = $2",
        cart_id,
        sku_id.0
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

/// Deletes every cart of a user, in every market (account deletion).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn delete_all_of(db: impl PgExecutor<'_>, user_id: UserId) -> sqlx::Result<u64> {
    let deleted = sqlx::query!("delete from carts where user_id = $1", user_id.0)
        .execute(db)
        .bounded()
        .await?
        .rows_affected();
    Ok(deleted)
}
