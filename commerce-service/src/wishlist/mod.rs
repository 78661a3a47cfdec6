//! The wishlist: one per user, across markets, kept in PostgreSQL. Its SQL
//! is `queries.rs`; each use case answers with the wishlist as it now stands.

pub mod queries;

use common::Problem;
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;

use common::ids::UserId;

use crate::error::ApiError;
use crate::ids::ProductId;

#[derive(Debug, Serialize, ToSchema)]
pub struct WishlistItemView {
    #[schema(value_type = i64)]
    pub product_id: ProductId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WishlistView {
    pub items: Vec<WishlistItemView>,
}

/// The user's wishlist, newest first.
pub async fn current(db: &PgPool, user_id: UserId) -> Result<WishlistView, ApiError> {
    let items = queries::items(db, user_id)
        .await?
        .into_iter()
        .map(|row| WishlistItemView {
            product_id: row.product_id,
            name: row.name,
            added_at: row.added_at,
        })
        .collect();
    Ok(WishlistView { items })
}

/// Adds an active product; adding twice keeps one entry; unknown is `404`.
pub async fn add(
    db: &PgPool,
    user_id: UserId,
    product_id: ProductId,
) -> Result<WishlistView, ApiError> {
    if !queries::active_product_exists(db, product_id).await? {
        return Err(Problem::not_found().into());
    }
    queries::add(db, user_id, product_id).await?;
    current(db, user_id).await
}

/// Removes a product (removing one that is not there changes nothing).
pub async fn remove(
    db: &PgPool,
    user_id: UserId,
    product_id: ProductId,
) -> Result<WishlistView, ApiError> {
    queries::remove(db, user_id, product_id).await?;
    current(db, user_id).await
}
