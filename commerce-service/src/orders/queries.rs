//! Orders, their lines and status history, idempotency keys, and the stock
//! movements that go with them.

use common::db::Bounded as _;
use common::ids::UserId;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use super::status::OrderStatus;
use crate::cart::queries::CartLineRow;
use crate::ids::{OrderId, ProductId, SkuId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: OrderId,
    pub order_number: String,
    pub user_id: UserId,
    pub market: String,
    pub currency: String,
    pub status: OrderStatus,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub note: Option<String>,
    pub shipping_address: Option<Value>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderLineRow {
    pub order_id: OrderId,
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub name: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub at: OffsetDateTime,
}

/// A cart line at checkout, read with its SKU row locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckoutLineRow {
    pub cart_id: i64,
    /// The cart row's time and version columns (the same on every line).
    pub cart_updated_at: OffsetDateTime,
    pub version: i64,
    pub lines_version: i64,
    pub lines_digest: Option<Vec<u8>>,
    pub money_digest: Option<Vec<u8>>,
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub name: String,
    pub quantity: i32,
    pub stock: i32,
    pub sku_active: bool,
    pub product_active: bool,
    pub unit_price_minor: Option<i64>,
    /// Units of this SKU the user's pending orders already hold.
    pub held: i64,
}

impl CheckoutLineRow {
    /// The line as the cart shows it.
    pub fn as_cart_line(&self) -> CartLineRow {
        CartLineRow {
            sku_id: self.sku_id,
            product_id: self.product_id,
            name: self.name.clone(),
            quantity: self.quantity,
            unit_price_minor: self.unit_price_minor,
            stock: self.stock,
            sku_active: self.sku_active,
            product_active: self.product_active,
        }
    }
}

/// What a new order is made of.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub user_id: UserId,
    pub market: &'a str,
    pub currency: &'a str,
    pub subtotal_minor: i64,
    pub note: Option<&'a str>,
    pub shipping_address: Option<&'a Value>,
    pub pending_seconds: i64,
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn find(db: impl PgExecutor<'_>, id: OrderId) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as!(
        OrderRow,
        r#"select id, order_number, user_id, market, currency, status as "status: OrderStatus",
                subtotal_minor, total_minor, note, shipping_address, created_at, updated_at
         from orders where id = $1"#,
        id.0
    )
    .fetch_optional(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lines_of(
    db: impl PgExecutor<'_>,
    orders: &[OrderId],
) -> sqlx::Result<Vec<OrderLineRow>> {
    let orders: Vec<i64> = orders.iter().map(|id| id.0).collect();
    sqlx::query_as!(
        OrderLineRow,
        "select order_id, sku_id, product_id, name, quantity, unit_price_minor, line_total_minor
         from order_lines where order_id = any($1) order by order_id, sku_id",
        &orders
    )
    .fetch_all(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn history_of(
    db: impl PgExecutor<'_>,
    orders: &[OrderId],
) -> sqlx::Result<Vec<HistoryRow>> {
    let orders: Vec<i64> = orders.iter().map(|id| id.0).collect();
    sqlx::query_as!(
        HistoryRow,
        r#"select order_id, status as "status: OrderStatus", at from order_status_history
           where order_id = any($1) order by order_id, id"#,
        &orders
    )
    .fetch_all(db)
    .bounded()
    .await
}

/// A page of orders, newest first: one user's (`user_id`) or everyone's,
/// optionally of one status.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn page(
    db: impl PgExecutor<'_> + Copy,
    user_id: Option<UserId>,
    status: Option<OrderStatus>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<OrderRow>, i64)> {
    let user_id = user_id.map(|id| id.0);
    let status = status.map(OrderStatus::as_str);
    let rows = sqlx::query_as!(
        OrderRow,
        r#"select id, order_number, user_id, market, currency, status as "status: OrderStatus",
                subtotal_minor, total_minor, note, shipping_address, created_at, updated_at
         from orders
         where ($1::bigint is null or user_id = $1) and ($2::text is null or status = $2)
         order by id desc limit $3 offset $4"#,
        user_id,
        status,
        limit,
        offset
    )
    .fetch_all(db)
    .bounded()
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "count!" from orders
           where ($1::bigint is null or user_id = $1) and ($2::text is null or status = $2)"#,
        user_id,
        status
    )
    .fetch_one(db)
    .bounded()
    .await?;
    Ok((rows, total))
}

/// Serialises one user's checkouts for the rest of the transaction, so the
/// pending-order cap and idempotency keys hold across markets too; a
/// checkout waiting more than 3 s behind another gives up (`55P03`, answered
/// `409 idempotency_in_progress`), well inside the 4 s statement timeout.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_user_checkouts(conn: &mut PgConnection, user_id: UserId) -> sqlx::Result<()> {
    // The materialised CTE runs first, so the timeout covers the lock wait.
    sqlx::query!(
        "with timeout as materialized (select set_config('lock_timeout', '3s', true))
         select pg_advisory_xact_lock($1) from timeout",
        user_id.0
    )
    .execute(conn)
    .bounded()
    .await?;
    Ok(())
}

/// After the user's lock: the order a key is bound to, if any, and how
/// many of the user's orders await confirmation.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn key_and_pending(
    conn: &mut PgConnection,
    user_id: UserId,
    key: &str,
) -> sqlx::Result<(Option<OrderId>, i64)> {
    let row = sqlx::query!(
        r#"select (select order_id from idempotency_keys where user_id = $1 and key = $2) as bound_order,
                  (select count(*) from orders where user_id = $1 and status = 'pending') as "pending!""#,
        user_id.0,
        key
    )
    .fetch_one(conn)
    .bounded()
    .await?;
    Ok((row.bound_order.map(OrderId), row.pending))
}

/// The cart of (user, market) and its lines, locked: the cart row, then
/// the SKU rows in id order (no deadlocks between checkouts sharing SKUs).
/// No rows when there is no cart or it is empty.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_checkout_lines(
    conn: &mut PgConnection,
    user_id: UserId,
    market: &str,
) -> sqlx::Result<Vec<CheckoutLineRow>> {
    sqlx::query_as!(
        CheckoutLineRow,
        r#"select c.id as cart_id, c.updated_at as cart_updated_at, c.version, c.lines_version,
                  c.lines_digest, c.money_digest,
                  ci.sku_id, s.product_id, p.name, ci.quantity, s.stock,
                  s.is_active as sku_active, p.is_active as product_active,
                  pr.amount_minor as "unit_price_minor?",
                  (select coalesce(sum(ol.quantity), 0)
                     from orders o join order_lines ol on ol.order_id = o.id
                    where o.user_id = c.user_id and o.status = 'pending'
                      and ol.sku_id = s.id)::bigint as "held!"
           from carts c
           join cart_items ci on ci.cart_id = c.id
           join skus s on s.id = ci.sku_id
           join products p on p.id = s.product_id
           left join prices pr on pr.sku_id = s.id and pr.market = c.market
           where c.user_id = $1 and c.market = $2
           order by s.id
           for update of c, s"#,
        user_id.0,
        market
    )
    .fetch_all(conn)
    .bounded()
    .await
}

/// Writes a checked order in one statement: stock taken (the SKU rows are
/// locked and were checked), the order with its lines and first history
/// entry, the key bound (a concurrent twin fails on
/// `idempotency_keys_pkey`), the cart emptied and touched. Returns the
/// order's row and the time of its first (`pending`) history entry.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn place(
    conn: &mut PgConnection,
    order: &NewOrder<'_>,
    lines: &[OrderLineRow],
    cart_id: i64,
    key: &str,
) -> sqlx::Result<(OrderRow, OffsetDateTime)> {
    let skus: Vec<i64> = lines.iter().map(|l| l.sku_id.0).collect();
    let products: Vec<i64> = lines.iter().map(|l| l.product_id.0).collect();
    let names: Vec<String> = lines.iter().map(|l| l.name.clone()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let prices: Vec<i64> = lines.iter().map(|l| l.unit_price_minor).collect();
    let totals: Vec<i64> = lines.iter().map(|l| l.line_total_minor).collect();
    // Every data-modifying WITH runs to completion whether read or not;
    // foreign keys to the new order are checked at the end of the statement.
    let placed = sqlx::query!(
        r#"with stock as (
               update skus set stock = skus.stock - t.quantity, updated_at = now()
               from unnest($8::bigint[], $11::int[]) as t (sku_id, quantity)
               where skus.id = t.sku_id
           ), new_order as (
               insert into orders (order_number, user_id, market, currency, subtotal_minor,
                                   total_minor, note, shipping_address, confirm_by)
               values ('SO-' || to_char(now() at time zone 'utc', 'YYMMDD') || '-'
                           || lpad(nextval('order_number_seq')::text, 6, '0'),
                       $1, $2, $3, $4, $4, $5, $6, now() + make_interval(secs => $7))
               returning *
           ), new_lines as (
               insert into order_lines (order_id, sku_id, product_id, name, quantity,
                                        unit_price_minor, line_total_minor)
               select new_order.id, l.*
               from new_order,
                    unnest($8::bigint[], $9::bigint[], $10::text[], $11::int[], $12::bigint[],
                           $13::bigint[]) as l
           ), history as (
               insert into order_status_history (order_id, status)
               select id, 'pending' from new_order
               returning at
           ), bound_key as (
               insert into idempotency_keys (user_id, key, order_id)
               select $1, $14, id from new_order
           ), emptied as (
               delete from cart_items where cart_id = $15
           ), touched as (
               update carts set updated_at = now() where id = $15
           )
           select o.id as "id!", o.order_number as "order_number!", o.user_id as "user_id!",
                  o.market as "market!", o.currency as "currency!", o.status as "status!: OrderStatus",
                  o.subtotal_minor as "subtotal_minor!", o.total_minor as "total_minor!",
                  o.note, o.shipping_address, o.created_at as "created_at!",
                  o.updated_at as "updated_at!", h.at as "pending_at!"
           from new_order o, history h"#,
        order.user_id.0,
        order.market,
        order.currency,
        order.subtotal_minor,
        order.note,
        order.shipping_address,
        order.pending_seconds as f64,
        &skus,
        &products,
        &names,
        &quantities,
        &prices,
        &totals,
        key,
        cart_id
    )
    .fetch_one(conn)
    .bounded()
    .await?;
    let row = OrderRow {
        id: OrderId(placed.id),
        order_number: placed.order_number,
        user_id: UserId(placed.user_id),
        market: placed.market,
        currency: placed.currency,
        status: placed.status,
        subtotal_minor: placed.subtotal_minor,
        total_minor: placed.total_minor,
        note: placed.note,
        shipping_address: placed.shipping_address,
        created_at: placed.created_at,
        updated_at: placed.updated_at,
    };
    Ok((row, placed.pending_at))
}

/// Returns an order's stock to its SKUs.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn return_stock(conn: &mut PgConnection, order_id: OrderId) -> sqlx::Result<()> {
    sqlx::query!(
        "update skus set stock = skus.stock + l.quantity, updated_at = now()
         from order_lines l
         where l.order_id = $1 and skus.id = l.sku_id",
        order_id.0
    )
    .execute(conn)
    .bounded()
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn record_status(
    conn: &mut PgConnection,
    order_id: OrderId,
    status: OrderStatus,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into order_status_history (order_id, status) values ($1, $2)",
        order_id.0,
        status.as_str()
    )
    .execute(conn)
    .bounded()
    .await?;
    Ok(())
}

/// Locks an order row for a status change: its owner and status.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock(
    conn: &mut PgConnection,
    id: OrderId,
) -> sqlx::Result<Option<(UserId, OrderStatus)>> {
    let row = sqlx::query!(
        r#"select user_id, status as "status: OrderStatus" from orders where id = $1 for update"#,
        id.0
    )
    .fetch_optional(conn)
    .bounded()
    .await?;
    Ok(row.map(|r| (UserId(r.user_id), r.status)))
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn set_status(
    conn: &mut PgConnection,
    id: OrderId,
    status: OrderStatus,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update orders set status = $2, updated_at = now() where id = $1",
        id.0,
        status.as_str()
    )
    .execute(conn)
    .bounded()
    .await?;
    Ok(())
}

/// Pending orders past their deadline, locked; rows another replica holds
/// are skipped, so replicas share the work.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_overdue(
    conn: &mut PgConnection,
    limit: i64,
) -> sqlx::Result<Vec<(OrderId, UserId)>> {
    let rows = sqlx::query!(
        "select id, user_id from orders where status = 'pending' and confirm_by < now()
         order by confirm_by limit $1 for update skip locked",
        limit
    )
    .fetch_all(conn)
    .bounded()
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (OrderId(row.id), UserId(row.user_id)))
        .collect())
}

/// A user's pending orders, locked (in id order, as checkout locks).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_pending_of(
    conn: &mut PgConnection,
    user_id: UserId,
) -> sqlx::Result<Vec<OrderId>> {
    let ids = sqlx::query_scalar!(
        "select id from orders where user_id = $1 and status = 'pending'
         order by id for update",
        user_id.0
    )
    .fetch_all(conn)
    .bounded()
    .await?;
    Ok(ids.into_iter().map(OrderId).collect())
}
