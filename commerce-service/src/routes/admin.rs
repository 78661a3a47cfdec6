//! Admin catalog and order management (`role: admin` tokens only).

use std::collections::{BTreeMap, HashSet};

use axum::extract::State;
use axum::http::StatusCode;
use common::Problem;
use common::extract::{Id, Json, Path, Query};
use common::pagination::{PageQuery, Paginated};
use common::problem::FieldError;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::db::{catalog, on_constraint, orders};
use crate::domain::order_status::OrderStatus;
use crate::error::ApiError;
use crate::fulfilment::{Actor, move_order};
use crate::state::AppState;
use crate::views::{self, AdminProductView, AdminSkuView, OrderView};

const MAX_STOCK: i64 = 1_000_000_000;
const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product))
        .routes(routes!(update_product))
        .routes(routes!(set_sku_stock))
        .routes(routes!(set_sku_price))
        .routes(routes!(list_all_orders))
        .routes(routes!(set_order_status))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSku {
    pub code: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Option<Value>,
    pub stock: i64,
    /// Minor units by market code, e.g. `{"us": 1999}`.
    pub prices: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateProduct {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub skus: Vec<NewSku>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProduct {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetStock {
    pub stock: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetPrice {
    pub amount_minor: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetOrderStatus {
    pub status: String,
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let length = name.trim().chars().count();
    if !(1..=200).contains(&length) {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
}

fn check_description(description: &str, errors: &mut Vec<FieldError>) {
    if description.chars().count() > 5000 {
        errors.push(FieldError::new(
            "description",
            "must be at most 5000 characters",
        ));
    }
}

fn is_slug(slug: &str) -> bool {
    (1..=100).contains(&slug.len())
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--")
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks a new product against the rules and the known markets.
fn validate_product(body: &CreateProduct, markets: &HashSet<String>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !is_slug(&body.slug) {
        errors.push(FieldError::new(
            "slug",
            "lower-case letters, digits and single dashes, at most 100",
        ));
    }
    check_name(&body.name, &mut errors);
    check_description(&body.description, &mut errors);
    if body.skus.is_empty() || body.skus.len() > 100 {
        errors.push(FieldError::new("skus", "a product has 1 to 100 SKUs"));
    }
    let mut codes = HashSet::new();
    for (index, sku) in body.skus.iter().enumerate() {
        let field = |name: &str| format!("skus[{index}].{name}");
        let code = sku.code.trim();
        if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_graphic()) {
            errors.push(FieldError::new(
                field("code"),
                "1 to 64 printable characters without spaces",
            ));
        } else if !codes.insert(code.to_owned()) {
            errors.push(FieldError::new(field("code"), "appears twice"));
        }
        if sku.attributes.as_ref().is_some_and(|a| !a.is_object()) {
            errors.push(FieldError::new(field("attributes"), "must be an object"));
        }
        if !(0..=MAX_STOCK).contains(&sku.stock) {
            errors.push(FieldError::new(field("stock"), "must be 0 to 1000000000"));
        }
        for (market, amount) in &sku.prices {
            if !markets.contains(market) {
                errors.push(FieldError::new(
                    field(&format!("prices.{market}")),
                    "no such market",
                ));
            } else if !(0..=MAX_AMOUNT_MINOR).contains(amount) {
                errors.push(FieldError::new(
                    field(&format!("prices.{market}")),
                    "must be 0 to 10^12 minor units",
                ));
            }
        }
    }
    errors
}

async fn product_view(state: &AppState, id: i64) -> Result<AdminProductView, ApiError> {
    let product = catalog::product(&state.db, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let skus = catalog::skus_of(&state.db, id).await?;
    let ids: Vec<i64> = skus.iter().map(|s| s.id).collect();
    let prices = catalog::prices_of(&state.db, &ids).await?;
    Ok(AdminProductView {
        id: product.id,
        slug: product.slug,
        name: product.name,
        description: product.description,
        is_active: product.is_active,
        skus: views::admin_skus(skus, prices),
        created_at: product.created_at,
        updated_at: product.updated_at,
    })
}

async fn sku_view(state: &AppState, id: i64) -> Result<AdminSkuView, ApiError> {
    let sku = catalog::sku(&state.db, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let prices = catalog::prices_of(&state.db, &[id]).await?;
    views::admin_skus(vec![sku], prices)
        .pop()
        .ok_or_else(|| Problem::not_found().into())
}

/// Creates a product with its SKUs, stock and prices, in one transaction.
#[utoipa::path(post, path = "/api/v1/admin/products", tag = "admin", security(("bearer" = [])),
    request_body = CreateProduct,
    responses((status = 201, body = AdminProductView), (status = 409, description = "`slug_taken` or `sku_code_taken`")))]
async fn create_product(
    State(state): State<AppState>,
    _admin: Admin,
    Json(body): Json<CreateProduct>,
) -> Result<(StatusCode, axum::Json<AdminProductView>), ApiError> {
    let markets: HashSet<String> = state.markets.all().await?.keys().cloned().collect();
    let errors = validate_product(&body, &markets);
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    let mut tx = state.db.begin().await?;
    let product_id =
        catalog::insert_product(&mut *tx, &body.slug, body.name.trim(), &body.description)
            .await
            .map_err(|e| {
                conflict_on(
                    e,
                    "products_slug_key",
                    "slug_taken",
                    "a product with this slug exists",
                )
            })?;
    for sku in &body.skus {
        let attributes = sku
            .attributes
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let sku_id = catalog::insert_sku(
            &mut *tx,
            product_id,
            sku.code.trim(),
            &attributes,
            sku.stock as i32,
        )
        .await
        .map_err(|e| {
            conflict_on(
                e,
                "skus_code_key",
                "sku_code_taken",
                "a SKU with this code exists",
            )
        })?;
        for (market, amount) in &sku.prices {
            catalog::upsert_price(&mut *tx, sku_id, market, *amount).await?;
        }
    }
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(product_view(&state, product_id).await?),
    ))
}

fn conflict_on(
    error: sqlx::Error,
    constraint: &str,
    code: &'static str,
    detail: &'static str,
) -> ApiError {
    if on_constraint(&error, constraint) {
        Problem::conflict(code, detail).into()
    } else {
        error.into()
    }
}

/// Changes a product's name, description or whether it is sold.
#[utoipa::path(patch, path = "/api/v1/admin/products/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = UpdateProduct, responses((status = 200, body = AdminProductView)))]
async fn update_product(
    State(state): State<AppState>,
    _admin: Admin,
    Path(Id(id)): Path<Id>,
    Json(body): Json<UpdateProduct>,
) -> Result<axum::Json<AdminProductView>, ApiError> {
    let mut errors = Vec::new();
    if let Some(name) = &body.name {
        check_name(name, &mut errors);
    }
    if let Some(description) = &body.description {
        check_description(description, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    catalog::update_product(
        &state.db,
        id,
        body.name.as_deref().map(str::trim),
        body.description.as_deref(),
        body.is_active,
    )
    .await?
    .ok_or_else(Problem::not_found)?;
    Ok(axum::Json(product_view(&state, id).await?))
}

/// Sets a SKU's stock.
#[utoipa::path(put, path = "/api/v1/admin/skus/{id}/stock", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SetStock, responses((status = 200, body = AdminSkuView)))]
async fn set_sku_stock(
    State(state): State<AppState>,
    _admin: Admin,
    Path(Id(id)): Path<Id>,
    Json(body): Json<SetStock>,
) -> Result<axum::Json<AdminSkuView>, ApiError> {
    if !(0..=MAX_STOCK).contains(&body.stock) {
        return Err(Problem::invalid_field("stock", "must be 0 to 1000000000").into());
    }
    catalog::set_stock(&state.db, id, body.stock as i32)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(axum::Json(sku_view(&state, id).await?))
}

/// Sets a SKU's price in a market.
#[utoipa::path(put, path = "/api/v1/admin/skus/{id}/prices/{market}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path), ("market" = String, Path)), request_body = SetPrice, responses((status = 200, body = AdminSkuView)))]
async fn set_sku_price(
    State(state): State<AppState>,
    _admin: Admin,
    Path(path): Path<(Id, String)>,
    Json(body): Json<SetPrice>,
) -> Result<axum::Json<AdminSkuView>, ApiError> {
    let (Id(id), market) = path;
    if !(0..=MAX_AMOUNT_MINOR).contains(&body.amount_minor) {
        return Err(
            Problem::invalid_field("amount_minor", "must be 0 to 10^12 minor units").into(),
        );
    }
    if !state.markets.all().await?.contains_key(&market)
        || catalog::sku(&state.db, id).await?.is_none()
    {
        return Err(Problem::not_found().into());
    }
    catalog::upsert_price(&state.db, id, &market, body.amount_minor).await?;
    Ok(axum::Json(sku_view(&state, id).await?))
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
    State(state): State<AppState>,
    _admin: Admin,
    Query(search): Query<OrderSearch>,
) -> Result<axum::Json<Paginated<OrderView>>, ApiError> {
    let page = PageQuery {
        page: search.page,
        per_page: search.per_page,
    }
    .validate()?;
    let status = match search.status.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(
            OrderStatus::parse(text)
                .ok_or_else(|| Problem::invalid_field("status", "not an order status"))?,
        ),
        None => None,
    };
    let (rows, total) = orders::page(
        &state.db,
        None,
        status.map(OrderStatus::as_str),
        page.per_page,
        page.offset(),
    )
    .await?;
    Ok(axum::Json(Paginated::new(
        views::orders(&state.db, rows).await?,
        page,
        total,
    )))
}

/// Moves an order along its state machine.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/status", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SetOrderStatus,
    responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`")))]
async fn set_order_status(
    State(state): State<AppState>,
    admin: Admin,
    Path(Id(id)): Path<Id>,
    Json(body): Json<SetOrderStatus>,
) -> Result<axum::Json<OrderView>, ApiError> {
    let next = OrderStatus::parse(&body.status)
        .ok_or_else(|| Problem::invalid_field("status", "not an order status"))?;
    move_order(&state.db, id, next, Actor::Admin).await?;
    tracing::info!(
        order_id = id,
        admin_id = admin.user_id,
        status = next.as_str(),
        "order moved by an admin"
    );
    views::order(&state.db, id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| Problem::not_found().into())
}
