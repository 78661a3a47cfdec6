//! The catalog: markets and the products priced in the request's market.

use axum::extract::State;
use common::Problem;
use common::extract::{Id, Path, Query};
use common::pagination::{PageQuery, Paginated};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::caller::Storefront;
use crate::catalog::markets::Markets;
use crate::catalog::search::search_pattern;
use crate::catalog::views::{MarketList, ProductView};
use crate::catalog::{self};
use crate::error::ApiError;
use crate::ids::ProductId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_markets))
        .routes(routes!(list_products))
        .routes(routes!(get_product))
}

/// Every market.
#[utoipa::path(get, path = "/api/v1/markets", tag = "catalog", responses((status = 200, body = MarketList)))]
async fn list_markets(State(markets): State<Markets>) -> Result<axum::Json<MarketList>, ApiError> {
    Ok(axum::Json(catalog::market_list(&markets).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ProductSearch {
    /// Text the product name contains (case-insensitive), at most 100 characters.
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// From 1.
    #[param(pattern = "^[1-9][0-9]{0,8}$")]
    pub page: Option<String>,
    /// 1 to 100 (larger is clamped to 100).
    #[param(pattern = "^[1-9][0-9]{0,8}$")]
    pub per_page: Option<String>,
}

/// Active products priced in the market, newest first.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalog",
    params(ProductSearch, ("X-Market" = Option<String>, Header, description = "storefront market")),
    responses((status = 200, body = Paginated<ProductView>), (status = 400, description = "`unknown_market`")))]
async fn list_products(
    State(db): State<PgPool>,
    Storefront(market): Storefront,
    Query(search): Query<ProductSearch>,
) -> Result<axum::Json<Paginated<ProductView>>, ApiError> {
    let page = PageQuery {
        page: search.page,
        per_page: search.per_page,
    }
    .validate()?;
    let pattern = search_pattern(search.q.as_deref())
        .map_err(|message| Problem::invalid_field("q", message))?;
    let (items, total) = catalog::storefront_page(
        &db,
        &market,
        pattern.as_deref(),
        page.per_page,
        page.offset(),
    )
    .await?;
    Ok(axum::Json(Paginated::new(items, page, total)))
}

/// One product; `404` if inactive or not priced in the market.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalog",
    params(("id" = i64, Path), ("X-Market" = Option<String>, Header, description = "storefront market")),
    responses((status = 200, body = ProductView), (status = 404, description = "`not_found`")))]
async fn get_product(
    State(db): State<PgPool>,
    Storefront(market): Storefront,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<ProductView>, ApiError> {
    Ok(axum::Json(
        catalog::storefront_product(&db, &market, ProductId(id)).await?,
    ))
}
