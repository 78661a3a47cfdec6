//! The catalog: markets and the products priced in the request's market.

use axum::extract::State;
use common::Problem;
use common::extract::{Id, Path, Query};
use common::pagination::{PageQuery, Paginated};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Storefront;
use crate::db::catalog::{self, MarketRow};
use crate::domain::validation::search_pattern;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{self, ProductView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_markets))
        .routes(routes!(list_products))
        .routes(routes!(get_product))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarketView {
    pub code: String,
    pub currency: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarketList {
    pub items: Vec<MarketView>,
}

/// Every market.
#[utoipa::path(get, path = "/api/v1/markets", tag = "catalog", responses((status = 200, body = MarketList)))]
async fn list_markets(State(state): State<AppState>) -> Result<axum::Json<MarketList>, ApiError> {
    let all = state.markets.all().await?;
    let mut items: Vec<MarketView> = all
        .values()
        .map(
            |MarketRow {
                 code,
                 currency,
                 name,
             }| MarketView {
                code: code.clone(),
                currency: currency.clone(),
                name: name.clone(),
            },
        )
        .collect();
    items.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(axum::Json(MarketList { items }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ProductSearch {
    /// Text the product name contains (case-insensitive), at most 100 characters.
    pub q: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

/// Active products priced in the market, newest first.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalog",
    params(ProductSearch, ("X-Market" = Option<String>, Header, description = "storefront market")),
    responses((status = 200, body = Paginated<ProductView>), (status = 400, description = "`unknown_market`")))]
async fn list_products(
    State(state): State<AppState>,
    Storefront(market): Storefront,
    Query(search): Query<ProductSearch>,
) -> Result<axum::Json<Paginated<ProductView>>, ApiError> {
    let page = PageQuery {
        page: search.page,
        per_page: search.per_page,
    }
    .validate()?;
    let pattern = search_pattern(search.q.as_deref())?;
    let (rows, total) = catalog::sellable_products(
        &state.db,
        &market.code,
        pattern.as_deref(),
        page.per_page,
        page.offset(),
    )
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let skus = catalog::priced_skus(&state.db, &ids, &market.code).await?;
    Ok(axum::Json(Paginated::new(
        views::products(rows, skus, &market),
        page,
        total,
    )))
}

/// One product; `404` if inactive or not priced in the market.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalog",
    params(("id" = i64, Path), ("X-Market" = Option<String>, Header, description = "storefront market")),
    responses((status = 200, body = ProductView), (status = 404, description = "`not_found`")))]
async fn get_product(
    State(state): State<AppState>,
    Storefront(market): Storefront,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<ProductView>, ApiError> {
    let product = catalog::product(&state.db, id)
        .await?
        .filter(|p| p.is_active)
        .ok_or_else(Problem::not_found)?;
    let skus = catalog::priced_skus(&state.db, &[id], &market.code).await?;
    views::products(vec![product], skus, &market)
        .pop()
        .map(axum::Json)
        .ok_or_else(|| Problem::not_found().into())
}
