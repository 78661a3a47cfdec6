//! The JSON shapes of the catalog: the storefront's products priced in one
//! market, markets, and the admin's view of products and SKUs.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::queries::{MarketRow, PriceRow, PricedSkuRow, ProductRow, SkuRow};
use crate::ids::{ProductId, SkuId};

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

#[derive(Debug, Serialize, ToSchema)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuView {
    #[schema(value_type = i64)]
    pub id: SkuId,
    pub code: String,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub price: Money,
    pub in_stock: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    #[schema(value_type = i64)]
    pub id: ProductId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub skus: Vec<SkuView>,
}

/// Products of one market with their priced SKUs (products without any are dropped).
pub fn products(
    rows: Vec<ProductRow>,
    skus: Vec<PricedSkuRow>,
    market: &MarketRow,
) -> Vec<ProductView> {
    let mut by_product: HashMap<ProductId, Vec<SkuView>> = HashMap::new();
    for sku in skus {
        by_product.entry(sku.product_id).or_default().push(SkuView {
            id: sku.id,
            code: sku.code,
            attributes: sku.attributes,
            price: Money {
                amount_minor: sku.amount_minor,
                currency: market.currency.clone(),
            },
            in_stock: sku.stock > 0,
        });
    }
    rows.into_iter()
        .filter_map(|row| {
            let skus = by_product.remove(&row.id)?;
            Some(ProductView {
                id: row.id,
                slug: row.slug,
                name: row.name,
                description: row.description,
                skus,
            })
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSkuView {
    #[schema(value_type = i64)]
    pub id: SkuId,
    #[schema(value_type = i64)]
    pub product_id: ProductId,
    pub code: String,
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// Units left to sell.
    pub stock: i32,
    /// Units taken from stock by orders still awaiting confirmation
    /// (unpaid): they return to stock if those orders expire or are
    /// cancelled.
    pub held: i64,
    pub is_active: bool,
    /// Minor units by market code.
    pub prices: HashMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminProductView {
    #[schema(value_type = i64)]
    pub id: ProductId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub is_active: bool,
    pub skus: Vec<AdminSkuView>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

pub fn admin_skus(skus: Vec<SkuRow>, prices: Vec<PriceRow>) -> Vec<AdminSkuView> {
    let mut prices_by: HashMap<SkuId, HashMap<String, i64>> = HashMap::new();
    for price in prices {
        prices_by
            .entry(price.sku_id)
            .or_default()
            .insert(price.market, price.amount_minor);
    }
    skus.into_iter()
        .map(|sku| AdminSkuView {
            prices: prices_by.remove(&sku.id).unwrap_or_default(),
            id: sku.id,
            product_id: sku.product_id,
            code: sku.code,
            attributes: sku.attributes,
            stock: sku.stock,
            held: sku.held,
            is_active: sku.is_active,
        })
        .collect()
}

/// A line of the admin's product list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminProductSummary {
    #[schema(value_type = i64)]
    pub id: ProductId,
    pub slug: String,
    pub name: String,
    pub is_active: bool,
    /// SKUs of the product, sold or not.
    pub sku_count: i64,
    /// Units left to sell, over all its SKUs.
    pub stock: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<super::queries::AdminProductRow> for AdminProductSummary {
    fn from(row: super::queries::AdminProductRow) -> Self {
        Self {
            id: row.id,
            slug: row.slug,
            name: row.name,
            is_active: row.is_active,
            sku_count: row.sku_count,
            stock: row.stock,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
