//! The caller's wishlist: one per user, across markets.

use axum::extract::State;
use common::Problem;
use common::extract::{Id, Json, Path};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Customer;
use crate::db::wishlist;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_wishlist))
        .routes(routes!(add_wishlist_item))
        .routes(routes!(remove_wishlist_item))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddWishlistItem {
    pub product_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WishlistItemView {
    pub product_id: i64,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WishlistView {
    pub items: Vec<WishlistItemView>,
}

async fn current(state: &AppState, user_id: i64) -> Result<axum::Json<WishlistView>, ApiError> {
    let items = wishlist::items(&state.db, user_id)
        .await?
        .into_iter()
        .map(|row| WishlistItemView {
            product_id: row.product_id,
            name: row.name,
            added_at: row.added_at,
        })
        .collect();
    Ok(axum::Json(WishlistView { items }))
}

/// The caller's wishlist, newest first.
#[utoipa::path(get, path = "/api/v1/wishlist", tag = "wishlist", security(("bearer" = [])),
    responses((status = 200, body = WishlistView)))]
async fn get_wishlist(
    State(state): State<AppState>,
    customer: Customer,
) -> Result<axum::Json<WishlistView>, ApiError> {
    current(&state, customer.user_id).await
}

/// Adds a product; adding twice keeps one entry.
#[utoipa::path(post, path = "/api/v1/wishlist/items", tag = "wishlist", security(("bearer" = [])),
    request_body = AddWishlistItem, responses((status = 200, body = WishlistView), (status = 404, description = "unknown or inactive product")))]
async fn add_wishlist_item(
    State(state): State<AppState>,
    customer: Customer,
    Json(body): Json<AddWishlistItem>,
) -> Result<axum::Json<WishlistView>, ApiError> {
    if !wishlist::active_product_exists(&state.db, body.product_id).await? {
        return Err(Problem::not_found().into());
    }
    wishlist::add(&state.db, customer.user_id, body.product_id).await?;
    current(&state, customer.user_id).await
}

/// Removes a product.
#[utoipa::path(delete, path = "/api/v1/wishlist/items/{product_id}", tag = "wishlist", security(("bearer" = [])),
    params(("product_id" = i64, Path)), responses((status = 200, body = WishlistView)))]
async fn remove_wishlist_item(
    State(state): State<AppState>,
    customer: Customer,
    Path(Id(product_id)): Path<Id>,
) -> Result<axum::Json<WishlistView>, ApiError> {
    wishlist::remove(&state.db, customer.user_id, product_id).await?;
    current(&state, customer.user_id).await
}
