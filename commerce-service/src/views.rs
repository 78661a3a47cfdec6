//! The JSON shapes of API.md, built from rows.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::db::carts::CartLineRow;
use crate::db::catalog::{MarketRow, PriceRow, PricedSkuRow, ProductRow, SkuRow};
use crate::db::orders::{self, OrderLineRow, OrderRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkuView {
    pub id: i64,
    pub code: String,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub price: Money,
    pub in_stock: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub id: i64,
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
    let mut by_product: HashMap<i64, Vec<SkuView>> = HashMap::new();
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
pub struct CartItemView {
    pub sku_id: i64,
    pub product_id: i64,
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
        items,
        item_count,
        subtotal_minor,
        updated_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemView {
    pub sku_id: i64,
    pub product_id: i64,
    pub name: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub order_number: String,
    pub status: String,
    pub market: String,
    pub currency: String,
    pub items: Vec<OrderItemView>,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub note: Option<String>,
    #[schema(value_type = Option<crate::domain::validation::ShippingAddress>)]
    pub shipping_address: Option<Value>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    pub status_history: Vec<StatusChange>,
}

/// Orders with their lines and history, in the order given.
pub async fn orders(db: &PgPool, rows: Vec<OrderRow>) -> sqlx::Result<Vec<OrderView>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let (lines, history) =
        tokio::try_join!(orders::lines_of(db, &ids), orders::history_of(db, &ids))?;
    let mut lines_by: HashMap<i64, Vec<OrderLineRow>> = HashMap::new();
    for line in lines {
        lines_by.entry(line.order_id).or_default().push(line);
    }
    let mut history_by: HashMap<i64, Vec<StatusChange>> = HashMap::new();
    for change in history {
        history_by
            .entry(change.order_id)
            .or_default()
            .push(StatusChange {
                status: change.status,
                at: change.at,
            });
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let lines = lines_by.remove(&row.id).unwrap_or_default();
            let history = history_by.remove(&row.id).unwrap_or_default();
            order_view(row, lines, history)
        })
        .collect())
}

/// An order from its row, its lines and its history (oldest first).
pub fn order_view(
    row: OrderRow,
    lines: Vec<OrderLineRow>,
    status_history: Vec<StatusChange>,
) -> OrderView {
    OrderView {
        items: lines
            .into_iter()
            .map(|line| OrderItemView {
                sku_id: line.sku_id,
                product_id: line.product_id,
                name: line.name,
                quantity: line.quantity,
                unit_price_minor: line.unit_price_minor,
                line_total_minor: line.line_total_minor,
            })
            .collect(),
        status_history,
        id: row.id,
        order_number: row.order_number,
        status: row.status,
        market: row.market,
        currency: row.currency,
        subtotal_minor: row.subtotal_minor,
        total_minor: row.total_minor,
        note: row.note,
        shipping_address: row.shipping_address,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub async fn order(db: &PgPool, id: i64) -> sqlx::Result<Option<OrderView>> {
    let Some(row) = orders::find(db, id).await? else {
        return Ok(None);
    };
    Ok(orders(db, vec![row]).await?.pop())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSkuView {
    pub id: i64,
    pub product_id: i64,
    pub code: String,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub stock: i32,
    pub is_active: bool,
    /// Minor units by market code.
    pub prices: HashMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminProductView {
    pub id: i64,
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
    let mut prices_by: HashMap<i64, HashMap<String, i64>> = HashMap::new();
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
            is_active: sku.is_active,
        })
        .collect()
}
