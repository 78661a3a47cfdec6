//! Order status changes: customers cancel, admins move orders along, and a
//! background task cancels pending orders past their deadline. Every path
//! to `cancelled` returns the stock, exactly once: the order row is locked
//! and its status checked in the same transaction. Every move writes its
//! event (`commerce.order.status_changed` or `commerce.order.cancelled`)
//! to the outbox in that transaction too.

use common::db::Bounded as _;
use std::time::Duration;

use common::Problem;
use common::error_code::ErrorCode;
use sqlx::{PgConnection, PgPool};

use common::events::outbox::Outbox;
use common::events::{CancelledBy, CommerceEvent, OrderCancelled, OrderStatusChanged};
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
    outbox: &Outbox,
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
    let by = match actor {
        Actor::Customer(_) => CancelledBy::Customer,
        Actor::Admin => CancelledBy::Admin,
    };
    let step = Move {
        order_id,
        user_id: owner,
        from: current,
        to: next,
        by,
    };
    apply(&mut tx, outbox, step).await?;
    tx.commit().bounded().await?;
    outbox.committed();
    metrics::counter!("order_transitions_total", "to" => next.as_str()).increment(1);
    Ok(())
}

/// One legal move of one locked order.
struct Move {
    order_id: OrderId,
    user_id: UserId,
    from: OrderStatus,
    to: OrderStatus,
    /// Who, should it be a cancellation.
    by: CancelledBy,
}

/// Writes a legal move: status, history, the stock back on cancel, and
/// the event.
async fn apply(conn: &mut PgConnection, outbox: &Outbox, step: Move) -> sqlx::Result<()> {
    let Move {
        order_id,
        user_id,
        from,
        to,
        by,
    } = step;
    orders::set_status(conn, order_id, to).await?;
    orders::record_status(conn, order_id, to).await?;
    let event = if to == OrderStatus::Cancelled {
        orders::return_stock(conn, order_id).await?;
        CommerceEvent::OrderCancelled(OrderCancelled {
            order_id: order_id.0,
            user_id,
            from: from.as_str().to_owned(),
            by,
        })
    } else {
        CommerceEvent::OrderStatusChanged(OrderStatusChanged {
            order_id: order_id.0,
            user_id,
            from: from.as_str().to_owned(),
            to: to.as_str().to_owned(),
        })
    };
    outbox.add(&mut *conn, event).bounded().await
}

/// Cancels every pending order of a deleted account and returns its stock;
/// answers how many (none when they already were: safe to repeat).
pub async fn cancel_pending_of(
    conn: &mut PgConnection,
    outbox: &Outbox,
    user_id: UserId,
) -> sqlx::Result<usize> {
    let pending = orders::lock_pending_of(&mut *conn, user_id).await?;
    for order_id in &pending {
        let step = Move {
            order_id: *order_id,
            user_id,
            from: OrderStatus::Pending,
            to: OrderStatus::Cancelled,
            by: CancelledBy::AccountDeleted,
        };
        apply(&mut *conn, outbox, step).await?;
    }
    Ok(pending.len())
}

/// Cancels up to `batch` overdue pending orders; returns how many.
#[tracing::instrument(name = "orders.expire", skip_all, fields(db.system = "postgresql"))]
pub async fn cancel_overdue(db: &PgPool, outbox: &Outbox, batch: i64) -> sqlx::Result<usize> {
    let mut tx = db.begin().bounded().await?;
    let overdue = orders::lock_overdue(&mut tx, batch).await?;
    for (order_id, user_id) in &overdue {
        let step = Move {
            order_id: *order_id,
            user_id: *user_id,
            from: OrderStatus::Pending,
            to: OrderStatus::Cancelled,
            by: CancelledBy::Expiry,
        };
        apply(&mut tx, outbox, step).await?;
    }
    tx.commit().bounded().await?;
    outbox.committed();
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
pub async fn run_expiry(db: PgPool, outbox: Outbox, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        loop {
            match cancel_overdue(&db, &outbox, 100).await {
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
