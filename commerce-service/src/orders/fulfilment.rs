//! Order status changes: customers cancel, admins move orders along, and a
//! background task cancels pending orders past their deadline. Every path
//! to `cancelled` returns the stock, exactly once: the order row is locked
//! and its status checked in the same transaction.

use common::db::Bounded as _;
use std::time::Duration;

use common::Problem;
use common::error_code::ErrorCode;
use sqlx::{PgConnection, PgPool};

use common::ids::UserId;

use super::queries as orders;
use super::status::OrderStatus;
use crate::error::ApiError;
use crate::ids::OrderId;

/// Who is moving the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A customer: only their own orders; others are `404`.
    Customer(UserId),
    Admin,
}

/// Moves an order to `next` in its own transaction.
#[tracing::instrument(name = "order.transition", skip_all, fields(order_id = order_id.0, to = next.as_str(), db.system = "postgresql"))]
pub async fn move_order(
    db: &PgPool,
    order_id: OrderId,
    next: OrderStatus,
    actor: Actor,
) -> Result<(), ApiError> {
    let mut tx = db.begin().bounded().await?;
    let Some((owner, current)) = orders::lock(&mut tx, order_id).await? else {
        return Err(Problem::not_found().into());
    };
    if matches!(actor, Actor::Customer(user_id) if user_id != owner) {
        return Err(Problem::not_found().into());
    }
    if !current.can_move_to(next) {
        return Err(Problem::new(
            ErrorCode::InvalidTransition,
            format!(
                "an order that is {} cannot become {}",
                current.as_str(),
                next.as_str()
            ),
        )
        .into());
    }
    apply(&mut tx, order_id, next).await?;
    tx.commit().bounded().await?;
    metrics::counter!("order_transitions_total", "to" => next.as_str()).increment(1);
    Ok(())
}

/// Writes a legal move: status, history, and the stock back on cancel.
async fn apply(conn: &mut PgConnection, order_id: OrderId, next: OrderStatus) -> sqlx::Result<()> {
    orders::set_status(conn, order_id, next).await?;
    orders::record_status(conn, order_id, next).await?;
    if next == OrderStatus::Cancelled {
        orders::return_stock(conn, order_id).await?;
    }
    Ok(())
}

/// Cancels up to `batch` overdue pending orders; returns how many.
#[tracing::instrument(name = "orders.expire", skip_all, fields(db.system = "postgresql"))]
pub async fn cancel_overdue(db: &PgPool, batch: i64) -> sqlx::Result<usize> {
    let mut tx = db.begin().bounded().await?;
    let overdue = orders::lock_overdue(&mut tx, batch).await?;
    for order_id in &overdue {
        apply(&mut tx, *order_id, OrderStatus::Cancelled).await?;
    }
    tx.commit().bounded().await?;
    if !overdue.is_empty() {
        metrics::counter!("orders_expired_total").increment(overdue.len() as u64);
        tracing::info!(
            count = overdue.len(),
            "cancelled pending orders past their deadline"
        );
    }
    Ok(overdue.len())
}

/// The background task: sweeps every `interval` until the process ends.
pub async fn run_expiry(db: PgPool, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        loop {
            match cancel_overdue(&db, 100).await {
                Ok(100) => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "expiring pending orders failed; will retry");
                    break;
                }
            }
        }
    }
}
