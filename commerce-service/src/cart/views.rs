//! The JSON shape of a cart.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::queries::CartLineRow;
use crate::catalog::queries::MarketRow;
use crate::ids::{ProductId, SkuId};

#[derive(Debug, Serialize, ToSchema)]
pub struct CartItemView {
    #[schema(value_type = i64)]
    pub sku_id: SkuId,
    #[schema(value_type = i64)]
    pub product_id: ProductId,
    pub name: String,
    pub quantity: i32,
    /// `null` when the SKU is no longer priced in this market.
    pub unit_price_minor: Option<i64>,
    pub line_total_minor: Option<i64>,
    pub available: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartView {
    pub market: String,
    pub currency: String,
    /// Moves whenever anything this answer shows moves (lines, quantities,
    /// prices, names, availability); compare for equality. The `ETag` is
    /// this number in quotes; checkout takes it in `If-Match`.
    pub version: i64,
    pub items: Vec<CartItemView>,
    pub item_count: i64,
    /// The sum of the lines that can be bought now.
    pub subtotal_minor: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<OffsetDateTime>,
}

pub fn cart(
    market: &MarketRow,
    lines: Vec<CartLineRow>,
    updated_at: Option<OffsetDateTime>,
    version: i64,
) -> CartView {
    let item_count = lines.iter().map(|l| i64::from(l.quantity)).sum();
    let items: Vec<CartItemView> = lines
        .into_iter()
        .map(|line| CartItemView {
            available: line.available(),
            line_total_minor: line
                .unit_price_minor
                .map(|price| price.saturating_mul(i64::from(line.quantity))),
            sku_id: line.sku_id,
            product_id: line.product_id,
            name: line.name,
            quantity: line.quantity,
            unit_price_minor: line.unit_price_minor,
        })
        .collect();
    let subtotal_minor = items
        .iter()
        .filter(|item| item.available)
        .filter_map(|item| item.line_total_minor)
        .fold(0i64, i64::saturating_add);
    CartView {
        market: market.code.clone(),
        currency: market.currency.clone(),
        version,
        items,
        item_count,
        subtotal_minor,
        updated_at,
    }
}
