//! Guest carts: carts owned by a token (only its SHA-256 is stored), and
//! the per-address creation windows that limit them.

use common::db::Bounded as _;
use common::ids::UserId;
use sqlx::{PgConnection, PgExecutor};

use crate::ids::SkuId;

/// A live guest cart, as its token finds it.
#[derive(Debug, Clone)]
pub struct GuestCartRow {
    pub id: i64,
    pub market: String,
    /// A merge moved its lines to a customer's cart.
    pub consumed: bool,
}

/// What a creation attempt did.
#[derive(Debug, Clone, Copy)]
pub struct Created {
    /// The new cart, unless the address is over its limit.
    pub cart_id: Option<i64>,
    /// Seconds until the address's window ends.
    pub window_left_seconds: i64,
}

/// Counts one creation against `client`'s current window and creates the
/// cart if the count is within `limit` (`0`: no limit), in one statement:
/// the count and the cart commit together, on every replica alike.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn create(
    db: impl PgExecutor<'_>,
    client: &str,
    limit: u32,
    market: &str,
    token_hash: &[u8],
    ttl_seconds: i64,
) -> sqlx::Result<Created> {
    let row = sqlx::query!(
        r#"with quota as (
               insert into guest_cart_quota (client, window_start, created)
               values ($1, date_trunc('hour', now()), 1)
               on conflict (client, window_start)
               do update set created = guest_cart_quota.created + 1
               returning created, window_start
           ), cart as (
               insert into carts (market, guest_token_hash, expires_at)
               select $3, $4, now() + make_interval(secs => $5)
               from quota where $2 = 0 or created <= $2
               returning id
           )
           select (select id from cart) as cart_id,
                  ceil(extract(epoch from window_start + interval '1 hour' - now()))::bigint
                      as "window_left!"
           from quota"#,
        client,
        i32::try_from(limit).unwrap_or(i32::MAX),
        market,
        token_hash,
        ttl_seconds as f64
    )
    .fetch_one(db)
    .bounded()
    .await?;
    Ok(Created {
        cart_id: row.cart_id,
        window_left_seconds: row.window_left,
    })
}

/// The live guest cart of a token hash, its idle expiry pushed back to
/// `ttl_seconds` from now unless it is consumed (written only once a tenth
/// of the time has passed, so that reads do not write every time).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn find_and_touch(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    ttl_seconds: i64,
) -> sqlx::Result<Option<GuestCartRow>> {
    sqlx::query_as!(
        GuestCartRow,
        r#"with found as (
               select id, market, consumed_at, expires_at from carts
               where guest_token_hash = $1 and expires_at > now()
           ), touched as (
               update carts set expires_at = now() + make_interval(secs => $2)
               from found
               where carts.id = found.id and found.consumed_at is null
                 and found.expires_at < now() + make_interval(secs => $2 * 0.9)
           )
           select id as "id!", market as "market!",
                  (consumed_at is not null) as "consumed!"
           from found"#,
        token_hash,
        ttl_seconds as f64
    )
    .fetch_optional(db)
    .bounded()
    .await
}

/// The live guest cart of a token hash, locked for a merge.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn lock(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> sqlx::Result<Option<GuestCartRow>> {
    sqlx::query_as!(
        GuestCartRow,
        r#"select id, market, (consumed_at is not null) as "consumed!"
           from carts
           where guest_token_hash = $1 and expires_at > now()
           for update"#,
        token_hash
    )
    .fetch_optional(conn)
    .bounded()
    .await
}

/// Moves every line of guest cart `guest` into `user`'s cart of the same
/// market (created if missing): quantities add up to at most 99 per line.
/// The guest cart is emptied and marked consumed; both carts are touched.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn merge_into(
    conn: &mut PgConnection,
    guest: i64,
    user_id: UserId,
    market: &str,
    max_line_quantity: i32,
) -> sqlx::Result<()> {
    // The customer's cart first: the upsert locks its row, so two merges
    // into one cart take turns (each guest cart is locked before it).
    let customer_cart = super::queries::ensure(&mut *conn, user_id, market).await?;
    sqlx::query!(
        "with moved as (
             insert into cart_items (cart_id, sku_id, quantity)
             select $2, sku_id, quantity from cart_items where cart_id = $1
             on conflict (cart_id, sku_id)
             do update set quantity = least(cart_items.quantity + excluded.quantity, $3)
         ), emptied as (
             delete from cart_items where cart_id = $1
         )
         update carts set consumed_at = now(), updated_at = now() where id = $1",
        guest,
        customer_cart,
        max_line_quantity
    )
    .execute(conn)
    .bounded()
    .await?;
    Ok(())
}

/// Adds `quantity` of a SKU to cart `cart_id` of `market` if the SKU is
/// sellable there, touching the cart: `None` when the SKU is unknown or
/// inactive, `Some(false)` when not priced in the market (nothing
/// changes). Going past 99 violates `cart_items_quantity_check`.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn add_if_sellable(
    db: impl PgExecutor<'_>,
    cart_id: i64,
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
               update carts set updated_at = now()
               where id = $1 and (select priced from sellable)
               returning id
           ), line as (
               insert into cart_items (cart_id, sku_id, quantity)
               select id, $3, $4 from cart
               on conflict (cart_id, sku_id)
               do update set quantity = cart_items.quantity + excluded.quantity
           )
           select (select priced from sellable) as "priced?""#,
        cart_id,
        market,
        sku_id.0,
        quantity
    )
    .fetch_one(db)
    .bounded()
    .await
}

/// Marks a cart as changed now.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn touch(db: impl PgExecutor<'_>, cart_id: i64) -> sqlx::Result<()> {
    sqlx::query!("update carts set updated_at = now() where id = $1", cart_id)
        .execute(db)
        .bounded()
        .await?;
    Ok(())
}

/// Deletes up to `batch` expired guest carts (skipping rows another
/// replica's sweep holds) and past creation windows; returns the carts.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn sweep(db: impl PgExecutor<'_>, batch: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"with expired as (
               select id from carts
               where guest_token_hash is not null and expires_at <= now()
               order by expires_at
               limit $1
               for update skip locked
           ), gone as (
               delete from carts where id in (select id from expired) returning id
           ), windows as (
               delete from guest_cart_quota
               where window_start < date_trunc('hour', now())
           )
           select count(*) as "count!" from gone"#,
        batch
    )
    .fetch_one(db)
    .bounded()
    .await
}
