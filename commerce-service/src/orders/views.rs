//! The JSON shape of an order, built from its row, lines and history.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::queries::{self, HistoryRow, OrderLineRow, OrderRow};
use super::status::OrderStatus;
use crate::ids::{OrderId, ProductId, SkuId};

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemView {
    #[schema(value_type = i64)]
    pub sku_id: SkuId,
    #[schema(value_type = i64)]
    pub product_id: ProductId,
    pub name: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: OrderStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

impl From<HistoryRow> for StatusChange {
    fn from(row: HistoryRow) -> Self {
        Self {
            status: row.status,
            at: row.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    #[schema(value_type = i64)]
    pub id: OrderId,
    pub order_number: String,
    pub status: OrderStatus,
    pub market: String,
    pub currency: String,
    pub items: Vec<OrderItemView>,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub note: Option<String>,
    #[schema(value_type = Option<super::address::ShippingAddress>)]
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
    let ids: Vec<OrderId> = rows.iter().map(|r| r.id).collect();
    let (lines, history) =
        tokio::try_join!(queries::lines_of(db, &ids), queries::history_of(db, &ids))?;
    let mut lines_by: HashMap<OrderId, Vec<OrderLineRow>> = HashMap::new();
    for line in lines {
        lines_by.entry(line.order_id).or_default().push(line);
    }
    let mut history_by: HashMap<OrderId, Vec<StatusChange>> = HashMap::new();
    for change in history {
        history_by
            .entry(change.order_id)
            .or_default()
            .push(change.into());
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

pub async fn order(db: &PgPool, id: OrderId) -> sqlx::Result<Option<OrderView>> {
    let Some(row) = queries::find(db, id).await? else {
        return Ok(None);
    };
    Ok(orders(db, vec![row]).await?.pop())
}
