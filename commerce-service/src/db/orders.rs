//! Orders, their lines and status history, idempotency keys, and the stock
//! movements that go with them.

use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub order_number: String,
    pub user_id: i64,
    pub market: String,
    pub currency: String,
    pub status: String,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub note: Option<String>,
    pub shipping_address: Option<Value>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderLineRow {
    pub order_id: i64,
    pub sku_id: i64,
    pub product_id: i64,
    pub name: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryRow {
    pub order_id: i64,
    pub status: String,
    pub at: OffsetDateTime,
}

/// A cart line at checkout, read with its SKU row locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckoutLineRow {
    pub sku_id: i64,
    pub product_id: i64,
    pub name: String,
    pub quantity: i32,
    pub stock: i32,
    pub sku_active: bool,
    pub product_active: bool,
    pub unit_price_minor: Option<i64>,
}

/// What a new order is made of.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub user_id: i64,
    pub market: &'a str,
    pub currency: &'a str,
    pub subtotal_minor: i64,
    pub note: Option<&'a str>,
    pub shipping_address: Option<&'a Value>,
    pub pending_seconds: i64,
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn find(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<OrderRow>> {
    sqlx::query_as!(
        OrderRow,
        "select id, order_number, user_id, market, currency, status, subtotal_minor, total_minor,
                note, shipping_address, created_at, updated_at
         from orders where id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lines_of(db: impl PgExecutor<'_>, orders: &[i64]) -> sqlx::Result<Vec<OrderLineRow>> {
    sqlx::query_as!(
        OrderLineRow,
        "select order_id, sku_id, product_id, name, quantity, unit_price_minor, line_total_minor
         from order_lines where order_id = any($1) order by order_id, sku_id",
        orders
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn history_of(db: impl PgExecutor<'_>, orders: &[i64]) -> sqlx::Result<Vec<HistoryRow>> {
    sqlx::query_as!(
        HistoryRow,
        "select order_id, status, at from order_status_history where order_id = any($1) order by order_id, id",
        orders
    )
    .fetch_all(db)
    .await
}

/// A page of orders, newest first: one user's (`user_id`) or everyone's,
/// optionally of one status.
#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn page(
    db: impl PgExecutor<'_> + Copy,
    user_id: Option<i64>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<OrderRow>, i64)> {
    let rows = sqlx::query_as!(
        OrderRow,
        "select id, order_number, user_id, market, currency, status, subtotal_minor, total_minor,
                note, shipping_address, created_at, updated_at
         from orders
         where ($1::bigint is null or user_id = $1) and ($2::text is null or status = $2)
         order by id desc limit $3 offset $4",
        user_id,
        status,
        limit,
        offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "count!" from orders
           where ($1::bigint is null or user_id = $1) and ($2::text is null or status = $2)"#,
        user_id,
        status
    )
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// Serialises one user's checkouts for the rest of the transaction, so the
/// pending-order cap and idempotency keys hold across markets too.
#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_user_checkouts(conn: &mut PgConnection, user_id: i64) -> sqlx::Result<()> {
    sqlx::query!("select pg_advisory_xact_lock($1)", user_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn order_for_key(
    conn: &mut PgConnection,
    user_id: i64,
    key: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "select order_id from idempotency_keys where user_id = $1 and key = $2",
        user_id,
        key
    )
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_cart(
    conn: &mut PgConnection,
    user_id: i64,
    market: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "select id from carts where user_id = $1 and market = $2 for update",
        user_id,
        market
    )
    .fetch_optional(conn)
    .await
}

/// The cart's lines with their SKU rows locked in id order (no deadlocks
/// between checkouts sharing SKUs).
#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_checkout_lines(
    conn: &mut PgConnection,
    cart_id: i64,
    market: &str,
) -> sqlx::Result<Vec<CheckoutLineRow>> {
    sqlx::query_as!(
        CheckoutLineRow,
        r#"select ci.sku_id, s.product_id, p.name, ci.quantity, s.stock,
                  s.is_active as sku_active, p.is_active as product_active,
                  pr.amount_minor as "unit_price_minor?"
           from cart_items ci
           join skus s on s.id = ci.sku_id
           join products p on p.id = s.product_id
           left join prices pr on pr.sku_id = s.id and pr.market = $2
           where ci.cart_id = $1
           order by s.id
           for update of s"#,
        cart_id,
        market
    )
    .fetch_all(conn)
    .await
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn pending_count(conn: &mut PgConnection, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from orders where user_id = $1 and status = 'pending'"#,
        user_id
    )
    .fetch_one(conn)
    .await
}

/// Takes stock for each (sku, quantity); the rows are already locked.
#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn take_stock(
    conn: &mut PgConnection,
    skus: &[i64],
    quantities: &[i32],
) -> sqlx::Result<()> {
    sqlx::query!(
        "update skus set stock = skus.stock - t.quantity, updated_at = now()
         from unnest($1::bigint[], $2::int[]) as t(sku_id, quantity)
         where skus.id = t.sku_id",
        skus,
        quantities
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Returns an order's stock to its SKUs.
#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn return_stock(conn: &mut PgConnection, order_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update skus set stock = skus.stock + l.quantity, updated_at = now()
         from order_lines l
         where l.order_id = $1 and skus.id = l.sku_id",
        order_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn insert(conn: &mut PgConnection, order: &NewOrder<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"insert into orders (order_number, user_id, market, currency, subtotal_minor, total_minor,
                               note, shipping_address, confirm_by)
           values ('SO-' || to_char(now() at time zone 'utc', 'YYMMDD') || '-'
                       || lpad(nextval('order_number_seq')::text, 6, '0'),
                   $1, $2, $3, $4, $4, $5, $6, now() + make_interval(secs => $7))
           returning id"#,
        order.user_id,
        order.market,
        order.currency,
        order.subtotal_minor,
        order.note,
        order.shipping_address,
        order.pending_seconds as f64
    )
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn insert_lines(
    conn: &mut PgConnection,
    order_id: i64,
    lines: &[OrderLineRow],
) -> sqlx::Result<()> {
    let skus: Vec<i64> = lines.iter().map(|l| l.sku_id).collect();
    let products: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
    let names: Vec<String> = lines.iter().map(|l| l.name.clone()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let prices: Vec<i64> = lines.iter().map(|l| l.unit_price_minor).collect();
    let totals: Vec<i64> = lines.iter().map(|l| l.line_total_minor).collect();
    sqlx::query!(
        "insert into order_lines (order_id, sku_id, product_id, name, quantity, unit_price_minor, line_total_minor)
         select $1, * from unnest($2::bigint[], $3::bigint[], $4::text[], $5::int[], $6::bigint[], $7::bigint[])",
        order_id,
        &skus,
        &products,
        &names,
        &quantities,
        &prices,
        &totals
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn record_status(
    conn: &mut PgConnection,
    order_id: i64,
    status: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into order_status_history (order_id, status) values ($1, $2)",
        order_id,
        status
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn bind_key(
    conn: &mut PgConnection,
    user_id: i64,
    key: &str,
    order_id: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into idempotency_keys (user_id, key, order_id) values ($1, $2, $3)",
        user_id,
        key,
        order_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn empty_cart(conn: &mut PgConnection, cart_id: i64) -> sqlx::Result<()> {
    sqlx::query!("delete from cart_items where cart_id = $1", cart_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("update carts set updated_at = now() where id = $1", cart_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks an order row for a status change: its owner and status.
#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<(i64, String)>> {
    let row = sqlx::query!(
        "select user_id, status from orders where id = $1 for update",
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.user_id, r.status)))
}

#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn set_status(conn: &mut PgConnection, id: i64, status: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update orders set status = $2, updated_at = now() where id = $1",
        id,
        status
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Pending orders past their deadline, locked; rows another replica holds
/// are skipped, so replicas share the work.
#[tracing::instrument(skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock_overdue(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "select id from orders where status = 'pending' and confirm_by < now()
         order by confirm_by limit $1 for update skip locked",
        limit
    )
    .fetch_all(conn)
    .await
}
