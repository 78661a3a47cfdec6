//! The cart of the caller in the request's market.

use axum::extract::State;
use common::Problem;
use common::extract::{Id, Json, Path};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Customer;
use crate::db::{carts, on_constraint};
use crate::domain::validation::quantity;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{self, CartView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(add_cart_item))
        .routes(routes!(set_cart_item, remove_cart_item))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddCartItem {
    pub sku_id: i64,
    /// 1 to 99; added to the line's quantity.
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetCartItem {
    /// 0 to 99; 0 removes the line.
    pub quantity: i64,
}

/// The cart as it stands now.
pub async fn current_cart(state: &AppState, customer: &Customer) -> Result<CartView, ApiError> {
    let market = &customer.market;
    Ok(
        match carts::current(&state.db, customer.user_id, &market.code).await? {
            Some((updated_at, lines)) => views::cart(market, lines, Some(updated_at)),
            None => views::cart(market, Vec::new(), None),
        },
    )
}

/// Checks that a SKU may be put in the cart: unknown or inactive is `404`,
/// not priced in the market `422`.
async fn check_sellable(
    state: &AppState,
    customer: &Customer,
    sku_id: i64,
) -> Result<(), ApiError> {
    sellable(carts::sellable_sku_priced(&state.db, sku_id, &customer.market.code).await?)
}

/// Unknown or inactive (`None`) is `404`, not priced in the market `422`.
fn sellable(priced: Option<bool>) -> Result<(), ApiError> {
    match priced {
        None => Err(Problem::not_found().into()),
        Some(false) => {
            Err(Problem::invalid_field("sku_id", "this item is not sold in this market").into())
        }
        Some(true) => Ok(()),
    }
}

fn quantity_over_limit(error: sqlx::Error) -> ApiError {
    if on_constraint(&error, "cart_items_quantity_check") {
        Problem::invalid_field("quantity", "a line holds at most 99").into()
    } else {
        error.into()
    }
}

/// The caller's cart in this market (empty if none yet).
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart", security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 401, description = "not signed in")))]
async fn get_cart(
    State(state): State<AppState>,
    customer: Customer,
) -> Result<axum::Json<CartView>, ApiError> {
    Ok(axum::Json(current_cart(&state, &customer).await?))
}

/// Adds a SKU; adding one already there adds to its quantity.
#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart", security(("bearer" = [])),
    request_body = AddCartItem, responses((status = 200, body = CartView)))]
async fn add_cart_item(
    State(state): State<AppState>,
    customer: Customer,
    Json(body): Json<AddCartItem>,
) -> Result<axum::Json<CartView>, ApiError> {
    let quantity = quantity(body.quantity, false)?;
    let added = carts::add_if_sellable(
        &state.db,
        customer.user_id,
        &customer.market.code,
        body.sku_id,
        quantity,
    )
    .await
    .map_err(quantity_over_limit)?;
    sellable(added)?;
    Ok(axum::Json(current_cart(&state, &customer).await?))
}

/// Sets a line's quantity (adds the SKU if missing; 0 removes it).
#[utoipa::path(put, path = "/api/v1/cart/items/{sku_id}", tag = "cart", security(("bearer" = [])),
    params(("sku_id" = i64, Path)), request_body = SetCartItem, responses((status = 200, body = CartView)))]
async fn set_cart_item(
    State(state): State<AppState>,
    customer: Customer,
    Path(Id(sku_id)): Path<Id>,
    Json(body): Json<SetCartItem>,
) -> Result<axum::Json<CartView>, ApiError> {
    let quantity = quantity(body.quantity, true)?;
    let cart_id = carts::ensure(&state.db, customer.user_id, &customer.market.code).await?;
    if quantity == 0 {
        carts::remove(&state.db, cart_id, sku_id).await?;
    } else {
        check_sellable(&state, &customer, sku_id).await?;
        carts::set(&state.db, cart_id, sku_id, quantity).await?;
    }
    Ok(axum::Json(current_cart(&state, &customer).await?))
}

/// Removes a line.
#[utoipa::path(delete, path = "/api/v1/cart/items/{sku_id}", tag = "cart", security(("bearer" = [])),
    params(("sku_id" = i64, Path)), responses((status = 200, body = CartView)))]
async fn remove_cart_item(
    State(state): State<AppState>,
    customer: Customer,
    Path(Id(sku_id)): Path<Id>,
) -> Result<axum::Json<CartView>, ApiError> {
    if let Some(cart) = carts::find(&state.db, customer.user_id, &customer.market.code).await? {
        carts::remove(&state.db, cart.id, sku_id).await?;
        carts::ensure(&state.db, customer.user_id, &customer.market.code).await?;
    }
    Ok(axum::Json(current_cart(&state, &customer).await?))
}
