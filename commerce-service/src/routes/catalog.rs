//! The catalog: markets and the products priced in the request's market.
//! Product answers are the same for every caller of a market, so they are
//! cacheable by anyone: each carries a strong `ETag` (a digest of its
//! body, the same on every replica), `Cache-Control: public` with a short
//! freshness, and `Vary: X-Market`; `If-None-Match` is answered `304`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use common::Problem;
use common::extract::{Id, Path, Query};
use common::pagination::{PageQuery, Paginated};
use serde::{Deserialize, Serialize};
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
    /// From 1; `page` × `per_page` at most 1000 (the result window:
    /// `422` past it).
    #[param(pattern = "^[1-9][0-9]{0,8}$")]
    pub page: Option<String>,
    /// 1 to 100 (larger is clamped to 100).
    #[param(pattern = "^[1-9][0-9]{0,8}$")]
    pub per_page: Option<String>,
}

/// How long a catalog answer is fresh, and how long after that a cache may
/// still serve it while it asks again: an admin's change reaches every
/// shopper within `max-age` plus the revalidation (checkout never charges a
/// stale price: the cart reads prices afresh, and the price guard tells).
const CATALOG_CACHE_CONTROL: &str = "public, max-age=1, stale-while-revalidate=5";

/// A catalog answer: `304` without a body when `If-None-Match` names it.
fn cacheable(request: &HeaderMap, value: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(|error| {
        tracing::error!(%error, "a catalog answer did not serialize");
        Problem::internal()
    })?;
    let tag = common::etag::of_body(&body);
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| common::etag::none_match(value, tag.trim_matches('"')));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CATALOG_CACHE_CONTROL),
    );
    headers.insert(header::VARY, HeaderValue::from_static("X-Market"));
    Ok(response)
}

/// Active products priced in the market, newest first.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalog",
    params(ProductSearch, ("X-Market" = Option<String>, Header, description = "storefront market"),
           ("If-None-Match" = Option<String>, Header, description = "an ETag of this answer: `304` while it is unchanged")),
    responses((status = 200, body = Paginated<ProductView>), (status = 304, description = "unchanged since the ETag in `If-None-Match`"),
              (status = 400, description = "`unknown_market`")))]
async fn list_products(
    State(db): State<PgPool>,
    Storefront(market): Storefront,
    request: HeaderMap,
    Query(search): Query<ProductSearch>,
) -> Result<Response, ApiError> {
    let page = PageQuery {
        page: search.page,
        per_page: search.per_page,
    }
    .validate()?;
    if page.offset() + page.per_page > catalog::RESULT_WINDOW {
        let message = format!(
            "only the first {} products can be paged through; narrow the search with q",
            catalog::RESULT_WINDOW
        );
        return Err(Problem::invalid_field("page", &message).into());
    }
    let pattern = search_pattern(search.q.as_deref())
        .map_err(|message| Problem::invalid_field("q", message))?;
    let (items, counted) = catalog::storefront_page(
        &db,
        &market,
        pattern.as_deref(),
        page.per_page,
        page.offset(),
    )
    .await?;
    cacheable(
        &request,
        &Paginated::counted_up_to(items, page, counted, catalog::RESULT_WINDOW),
    )
}

/// One product; `404` if inactive or not priced in the market.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalog",
    params(("id" = i64, Path), ("X-Market" = Option<String>, Header, description = "storefront market"),
           ("If-None-Match" = Option<String>, Header, description = "an ETag of this answer: `304` while it is unchanged")),
    responses((status = 200, body = ProductView), (status = 304, description = "unchanged since the ETag in `If-None-Match`"),
              (status = 404, description = "`not_found`")))]
async fn get_product(
    State(db): State<PgPool>,
    Storefront(market): Storefront,
    request: HeaderMap,
    Path(Id(id)): Path<Id>,
) -> Result<Response, ApiError> {
    let product = catalog::storefront_product(&db, &market, ProductId(id)).await?;
    cacheable(&request, &product)
}
