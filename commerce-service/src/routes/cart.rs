//! The cart of the caller in the request's market.

use axum::extract::State;
use common::Problem;
use common::extract::{Id, Json, Path};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::caller::Customer;
use crate::cart::{self, CartView};
use crate::error::ApiError;
use crate::ids::SkuId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(add_cart_item))
        .routes(routes!(set_cart_item, remove_cart_item))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddCartItem {
    /// A positive integer (validation comes before existence: `0` is
    /// `422`, an unknown id `404`).
    #[schema(value_type = i64, minimum = 1)]
    pub sku_id: Id,
    /// 1 to 99; added to the line's quantity.
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetCartItem {
    /// 0 to 99; 0 removes the line.
    #[schema(minimum = 0, maximum = 99)]
    pub quantity: i64,
}

fn quantity_field(value: i64, allow_zero: bool) -> Result<i32, Problem> {
    cart::quantity(value, allow_zero)
        .map_err(|message| Problem::invalid_field("quantity", &message))
}

/// The caller's cart in this market (empty if none yet).
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart", security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 401, description = "not signed in")))]
async fn get_cart(
    State(db): State<PgPool>,
    customer: Customer,
) -> Result<axum::Json<CartView>, ApiError> {
    let view = cart::current(&db, customer.user_id, &customer.market).await?;
    Ok(axum::Json(view))
}

/// Adds a SKU; adding one already there adds to its quantity.
#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart", security(("bearer" = [])),
    request_body = AddCartItem, responses((status = 200, body = CartView), (status = 404, description = "`not_found`: no such SKU, or not sold")))]
async fn add_cart_item(
    State(db): State<PgPool>,
    customer: Customer,
    Json(body): Json<AddCartItem>,
) -> Result<axum::Json<CartView>, ApiError> {
    let quantity = quantity_field(body.quantity, false)?;
    let view = cart::add(
        &db,
        customer.user_id,
        &customer.market,
        SkuId(body.sku_id.0),
        quantity,
    )
    .await?;
    Ok(axum::Json(view))
}

/// Sets a line's quantity (adds the SKU if missing; 0 removes it).
#[utoipa::path(put, path = "/api/v1/cart/items/{sku_id}", tag = "cart", security(("bearer" = [])),
    params(("sku_id" = i64, Path)), request_body = SetCartItem, responses((status = 200, body = CartView)))]
async fn set_cart_item(
    State(db): State<PgPool>,
    customer: Customer,
    Path(Id(sku_id)): Path<Id>,
    Json(body): Json<SetCartItem>,
) -> Result<axum::Json<CartView>, ApiError> {
    let quantity = quantity_field(body.quantity, true)?;
    let view = cart::set(
        &db,
        customer.user_id,
        &customer.market,
        SkuId(sku_id),
        quantity,
    )
    .await?;
    Ok(axum::Json(view))
}

/// Removes a line.
#[utoipa::path(delete, path = "/api/v1/cart/items/{sku_id}", tag = "cart", security(("bearer" = [])),
    params(("sku_id" = i64, Path)), responses((status = 200, body = CartView)))]
async fn remove_cart_item(
    State(db): State<PgPool>,
    customer: Customer,
    Path(Id(sku_id)): Path<Id>,
) -> Result<axum::Json<CartView>, ApiError> {
    let view = cart::remove(&db, customer.user_id, &customer.market, SkuId(sku_id)).await?;
    Ok(axum::Json(view))
}
