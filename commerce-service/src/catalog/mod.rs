//! The catalog: markets (cached, `markets.rs`), products and their SKUs
//! priced per market (`queries.rs`, `views.rs`), the storefront's search
//! (`search.rs`), the admin's product, stock and price changes
//! (`admin.rs`) and the development seed (`seed.rs`).

pub mod admin;
pub mod markets;
pub mod queries;
pub mod search;
pub mod seed;
mod storefront_list;
pub mod views;

use common::Problem;
use sqlx::PgPool;

use self::markets::Markets;
use self::queries::MarketRow;
use self::views::{MarketList, MarketView, ProductView};
use crate::error::ApiError;
use crate::ids::ProductId;

/// Every market, by code.
pub async fn market_list(markets: &Markets) -> Result<MarketList, ApiError> {
    let all = markets.all().await?;
    let mut items: Vec<MarketView> = all
        .values()
        .map(|market| MarketView {
            code: market.code.clone(),
            currency: market.currency.clone(),
            name: market.name.clone(),
        })
        .collect();
    items.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(MarketList { items })
}

/// How many of the storefront's matches can be paged through and are
/// counted (the "result window"). Past it, a page is refused and the total
/// says "at least this many": what a page costs then no longer grows with
/// the catalog (bench/REPORT.md, "How cost grows").
pub const RESULT_WINDOW: i64 = 1000;

/// One page of the storefront: active products priced in `market` whose
/// name matches `pattern` (a `LIKE` pattern from `search.rs`), newest
/// first, and how many match, counted up to one past [`RESULT_WINDOW`].
/// The page must lie within the window (the route checks).
pub async fn storefront_page(
    db: &PgPool,
    market: &MarketRow,
    pattern: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ProductView>, i64), ApiError> {
    let (rows, counted) = storefront_list::sellable_products(
        db,
        &market.code,
        pattern,
        limit,
        offset,
        RESULT_WINDOW + 1,
    )
    .await?;
    let ids: Vec<ProductId> = rows.iter().map(|r| r.id).collect();
    let skus = queries::priced_skus(db, &ids, &market.code).await?;
    Ok((views::products(rows, skus, market), counted))
}

/// One product of the storefront; `404` if inactive or not priced in `market`.
pub async fn storefront_product(
    db: &PgPool,
    market: &MarketRow,
    id: ProductId,
) -> Result<ProductView, ApiError> {
    let product = queries::product(db, id)
        .await?
        .filter(|p| p.is_active)
        .ok_or_else(Problem::not_found)?;
    let skus = queries::priced_skus(db, &[id], &market.code).await?;
    views::products(vec![product], skus, market)
        .pop()
        .ok_or_else(|| Problem::not_found().into())
}
