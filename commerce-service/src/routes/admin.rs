//! Admin catalog and order management (`role: admin` tokens only).

use axum::extract::State;
use axum::http::StatusCode;
use common::Problem;
use common::events::outbox::Outbox;
use common::extract::{Id, Json, Path, Query};
use common::pagination::{PageQuery, Paginated};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::caller::Admin;
use crate::catalog::admin::{self as catalog_admin, CreateProduct, NewSku, UpdateProduct};
use crate::catalog::markets::Markets;
use crate::catalog::views::{AdminProductSummary, AdminProductView, AdminSkuView};
use crate::error::ApiError;
use crate::ids::{OrderId, ProductId, SkuId};
use crate::orders::status::OrderStatus;
use crate::orders::{self, OrderView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product))
        .routes(routes!(add_sku))
        .routes(routes!(set_sku_stock))
        .routes(routes!(set_sku_price))
        .routes(routes!(list_all_orders))
        .routes(routes!(get_order))
        .routes(routes!(set_order_status))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetStock {
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub stock: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetPrice {
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub amount_minor: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetOrderStatus {
    /// The next status; the order's state machine decides which are allowed
    /// from where (`409 invalid_transition`).
    #[schema(pattern = "^(pending|confirmed|processing|shipped|delivered|cancelled)$")]
    pub status: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ProductSearch {
    /// Text the name or slug contains (case-insensitive), at most 100 characters.
    pub q: Option<String>,
    /// From 1.
    pub page: Option<String>,
    /// 1 to 100 (larger is clamped to 100).
    pub per_page: Option<String>,
}

/// Every product, sold or not, newest first: the admin's list.
#[utoipa::path(get, path = "/api/v1/admin/products", operation_id = "admin_list_products", tag = "admin", security(("bearer" = [])),
    params(ProductSearch), responses((status = 200, body = Paginated<AdminProductSummary>)))]
async fn list_products(
    State(db): State<PgPool>,
    _admin: Admin,
    Query(search): Query<ProductSearch>,
) -> Result<axum::Json<Paginated<AdminProductSummary>>, ApiError> {
    let page = PageQuery {
        page: search.page,
        per_page: search.per_page,
    }
    .validate()?;
    let (items, total) =
        catalog_admin::product_page(&db, search.q.as_deref(), page.per_page, page.offset()).await?;
    Ok(axum::Json(Paginated::new(items, page, total)))
}

/// Creates a product with its SKUs, stock and prices, in one transaction.
#[utoipa::path(post, path = "/api/v1/admin/products", tag = "admin", security(("bearer" = [])),
    request_body = CreateProduct,
    responses((status = 201, body = AdminProductView), (status = 409, description = "`slug_taken` or `sku_code_taken`")))]
async fn create_product(
    State(db): State<PgPool>,
    State(markets): State<Markets>,
    _admin: Admin,
    Json(body): Json<CreateProduct>,
) -> Result<(StatusCode, axum::Json<AdminProductView>), ApiError> {
    let product = catalog_admin::create_product(&db, &markets, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(product)))
}

/// A product as admins see it: every SKU, hidden or not, with its stock,
/// the units pending orders hold, and its prices.
#[utoipa::path(get, path = "/api/v1/admin/products/{id}", operation_id = "admin_get_product", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = AdminProductView), (status = 404, description = "`not_found`")))]
async fn get_product(
    State(db): State<PgPool>,
    _admin: Admin,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<AdminProductView>, ApiError> {
    Ok(axum::Json(
        catalog_admin::product_view(&db, ProductId(id)).await?,
    ))
}

/// Changes a product's name, description or whether it is sold.
#[utoipa::path(patch, path = "/api/v1/admin/products/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = UpdateProduct, responses((status = 200, body = AdminProductView)))]
async fn update_product(
    State(db): State<PgPool>,
    _admin: Admin,
    Path(Id(id)): Path<Id>,
    Json(body): Json<UpdateProduct>,
) -> Result<axum::Json<AdminProductView>, ApiError> {
    Ok(axum::Json(
        catalog_admin::update_product(&db, ProductId(id), &body).await?,
    ))
}

/// Adds a SKU, with its stock and prices, to a product.
#[utoipa::path(post, path = "/api/v1/admin/products/{id}/skus", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewSku,
    responses((status = 201, body = AdminProductView), (status = 409, description = "`sku_code_taken`")))]
async fn add_sku(
    State(db): State<PgPool>,
    State(markets): State<Markets>,
    _admin: Admin,
    Path(Id(id)): Path<Id>,
    Json(body): Json<NewSku>,
) -> Result<(StatusCode, axum::Json<AdminProductView>), ApiError> {
    let product = catalog_admin::add_sku(&db, &markets, ProductId(id), &body).await?;
    Ok((StatusCode::CREATED, axum::Json(product)))
}

/// Sets a SKU's stock.
#[utoipa::path(put, path = "/api/v1/admin/skus/{id}/stock", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SetStock, responses((status = 200, body = AdminSkuView)))]
async fn set_sku_stock(
    State(db): State<PgPool>,
    _admin: Admin,
    Path(Id(id)): Path<Id>,
    Json(body): Json<SetStock>,
) -> Result<axum::Json<AdminSkuView>, ApiError> {
    Ok(axum::Json(
        catalog_admin::set_stock(&db, SkuId(id), body.stock).await?,
    ))
}

/// Sets a SKU's price in a market.
#[utoipa::path(put, path = "/api/v1/admin/skus/{id}/prices/{market}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path), ("market" = String, Path)), request_body = SetPrice, responses((status = 200, body = AdminSkuView)))]
async fn set_sku_price(
    State(db): State<PgPool>,
    State(markets): State<Markets>,
    _admin: Admin,
    Path(path): Path<(Id, String)>,
    Json(body): Json<SetPrice>,
) -> Result<axum::Json<AdminSkuView>, ApiError> {
    let (Id(id), market) = path;
    let sku =
        catalog_admin::set_price(&db, &markets, SkuId(id), &market, body.amount_minor).await?;
    Ok(axum::Json(sku))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OrderSearch {
    /// Only orders of this status.
    pub status: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

/// Orders of every user, newest first.
#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "admin", security(("bearer" = [])),
    params(OrderSearch), responses((status = 200, body = Paginated<OrderView>)))]
async fn list_all_orders(
    State(db): State<PgPool>,
    _admin: Admin,
    Query(search): Query<OrderSearch>,
) -> Result<axum::Json<Paginated<OrderView>>, ApiError> {
    let page = PageQuery {
        page: search.page,
        per_page: search.per_page,
    }
    .validate()?;
    let status = match search.status.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(status_field(text)?),
        None => None,
    };
    let (items, total) = orders::page(&db, None, status, page.per_page, page.offset()).await?;
    Ok(axum::Json(Paginated::new(items, page, total)))
}

/// Any user's order, with its lines, address and history.
#[utoipa::path(get, path = "/api/v1/admin/orders/{id}", operation_id = "admin_get_order", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = OrderView), (status = 404, description = "`not_found`")))]
async fn get_order(
    State(db): State<PgPool>,
    _admin: Admin,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<OrderView>, ApiError> {
    let order = orders::views::order(&db, OrderId(id))
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(axum::Json(order))
}

/// Moves an order along its state machine.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/status", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SetOrderStatus,
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`")))]
async fn set_order_status(
    State(db): State<PgPool>,
    State(outbox): State<Outbox>,
    admin: Admin,
    Path(Id(id)): Path<Id>,
    Json(body): Json<SetOrderStatus>,
) -> Result<axum::Json<OrderView>, ApiError> {
    let next = status_field(&body.status)?;
    Ok(axum::Json(
        orders::move_by_admin(&db, &outbox, admin.user_id, OrderId(id), next).await?,
    ))
}

fn status_field(text: &str) -> Result<OrderStatus, Problem> {
    OrderStatus::parse(text).ok_or_else(|| Problem::invalid_field("status", "not an order status"))
}
