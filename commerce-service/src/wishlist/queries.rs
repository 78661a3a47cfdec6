//! One wishlist per user.

use common::db::Bounded as _;
use common::ids::UserId;
use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::ids::ProductId;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WishlistItemRow {
    pub product_id: ProductId,
    pub name: String,
    pub added_at: OffsetDateTime,
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn items(db: impl PgExecutor<'_>, user_id: UserId) -> sqlx::Result<Vec<WishlistItemRow>> {
    sqlx::query_as!(
        WishlistItemRow,
        "select wi.product_id, p.name, wi.added_at
         from wishlists w
         join wishlist_items wi on wi.wishlist_id = w.id
         join products p on p.id = wi.product_id
         where w.user_id = $1
         order by wi.added_at desc, wi.product_id desc",
        user_id.0
    )
    .fetch_all(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn active_product_exists(
    db: impl PgExecutor<'_>,
    product_id: ProductId,
) -> sqlx::Result<bool> {
    let found = sqlx::query_scalar!(
        "select id from products where id = $1 and is_active",
        product_id.0
    )
    .fetch_optional(db)
    .bounded()
    .await?;
    Ok(found.is_some())
}

/// Adds a product; adding twice keeps one entry.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn add(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    product_id: ProductId,
) -> sqlx::Result<()> {
    sqlx::query!(
        "with wishlist as (
             insert into wishlists (user_id) values ($1)
             on conflict (user_id) do update set user_id = excluded.user_id
             returning id
         )
         insert into wishlist_items (wishlist_id, product_id)
         select id, $2 from wishlist
         on conflict (wishlist_id, product_id) do nothing",
        user_id.0,
        product_id.0
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn remove(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    product_id: ProductId,
) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from wishlist_items wi using wishlists w
         where wi.wishlist_id = w.id and w.user_id = $1 and wi.product_id = $2",
        user_id.0,
        product_id.0
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

/// Deletes a user's wishlist with its items (account deletion).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn delete_of(db: impl PgExecutor<'_>, user_id: UserId) -> sqlx::Result<u64> {
    let deleted = sqlx::query!("delete from wishlists where user_id = $1", user_id.0)
        .execute(db)
        .bounded()
        .await?
        .rows_affected();
    Ok(deleted)
}
