//! The caller's wishlist: one per user, across markets.

use axum::extract::State;
use common::extract::{Id, Json, Path};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::caller::Customer;
use crate::error::ApiError;
use crate::ids::ProductId;
use crate::state::AppState;
use crate::wishlist::{self, WishlistView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_wishlist))
        .routes(routes!(add_wishlist_item))
        .routes(routes!(remove_wishlist_item))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddWishlistItem {
    /// A positive integer (`0` is `422`, an unknown id `404`).
    #[schema(value_type = i64, minimum = 1)]
    pub product_id: Id,
}

/// The caller's wishlist, newest first.
#[utoipa::path(get, path = "/api/v1/wishlist", tag = "wishlist", security(("bearer" = [])),
    responses((status = 200, body = WishlistView)))]
async fn get_wishlist(
    State(db): State<PgPool>,
    customer: Customer,
) -> Result<axum::Json<WishlistView>, ApiError> {
    Ok(axum::Json(wishlist::current(&db, customer.user_id).await?))
}

/// Adds a product; adding twice keeps one entry.
#[utoipa::path(post, path = "/api/v1/wishlist/items", tag = "wishlist", security(("bearer" = [])),
    request_body = AddWishlistItem, responses((status = 200, body = WishlistView), (status = 404, description = "unknown or inactive product")))]
async fn add_wishlist_item(
    State(db): State<PgPool>,
    customer: Customer,
    Json(body): Json<AddWishlistItem>,
) -> Result<axum::Json<WishlistView>, ApiError> {
    let view = wishlist::add(&db, customer.user_id, ProductId(body.product_id.0)).await?;
    Ok(axum::Json(view))
}

/// Removes a product.
#[utoipa::path(delete, path = "/api/v1/wishlist/items/{product_id}", tag = "wishlist", security(("bearer" = [])),
    params(("product_id" = i64, Path)), responses((status = 200, body = WishlistView)))]
async fn remove_wishlist_item(
    State(db): State<PgPool>,
    customer: Customer,
    Path(Id(product_id)): Path<Id>,
) -> Result<axum::Json<WishlistView>, ApiError> {
    let view = wishlist::remove(&db, customer.user_id, ProductId(product_id)).await?;
    Ok(axum::Json(view))
}
