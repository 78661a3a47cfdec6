//! Orders: checkout (`checkout.rs`: one transaction that turns a market's
//! cart into an order, exactly once per `Idempotency-Key` of
//! `idempotency.rs`), the shipping address and note (`address.rs`), the
//! state machine (`status.rs`), status moves and the expiry of unconfirmed
//! orders (`fulfilment.rs`), their SQL (`queries.rs`) and JSON shape
//! (`views.rs`). The reads and moves of the routes are here.

pub mod address;
pub mod checkout;
pub mod fulfilment;
pub mod idempotency;
pub mod queries;
pub mod status;
pub mod views;

use common::Problem;
use common::events::outbox::Outbox;
use common::ids::UserId;
use sqlx::PgPool;

use self::fulfilment::{Actor, move_order};
use self::status::OrderStatus;
pub use self::views::OrderView;
use crate::error::ApiError;
use crate::ids::OrderId;

/// One page of orders, newest first: a customer's own (`user_id`) or, for
/// admins, everyone's, optionally of one status; and how many there are.
pub async fn page(
    db: &PgPool,
    user_id: Option<UserId>,
    status: Option<OrderStatus>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<OrderView>, i64), ApiError> {
    let (rows, total) = queries::page(db, user_id, status, limit, offset).await?;
    Ok((views::orders(db, rows).await?, total))
}

/// One of the customer's orders; anyone else's is `404`.
pub async fn own(db: &PgPool, user_id: UserId, id: OrderId) -> Result<OrderView, ApiError> {
    let owner = queries::find(db, id).await?.map(|o| o.user_id);
    if owner != Some(user_id) {
        return Err(Problem::not_found().into());
    }
    any(db, id).await
}

/// Any order (admins); `404` if there is none.
pub async fn any(db: &PgPool, id: OrderId) -> Result<OrderView, ApiError> {
    views::order(db, id)
        .await?
        .ok_or_else(|| Problem::not_found().into())
}

/// A customer cancels a `pending` or `confirmed` order; its stock comes back.
pub async fn cancel(
    db: &PgPool,
    outbox: &Outbox,
    user_id: UserId,
    id: OrderId,
) -> Result<OrderView, ApiError> {
    let actor = Actor::Customer(user_id);
    move_order(db, outbox, id, OrderStatus::Cancelled, actor).await?;
    own(db, user_id, id).await
}

/// An admin moves an order along its state machine.
pub async fn move_by_admin(
    db: &PgPool,
    outbox: &Outbox,
    admin_id: UserId,
    id: OrderId,
    next: OrderStatus,
) -> Result<OrderView, ApiError> {
    move_order(db, outbox, id, next, Actor::Admin).await?;
    tracing::info!(
        order_id = id.0,
        admin_id = admin_id.0,
        status = next.as_str(),
        "order moved by an admin"
    );
    any(db, id).await
}
