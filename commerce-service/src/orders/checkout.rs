//! Checkout: one transaction that turns a market's cart into an order.
//!
//! The user's checkouts are serialised (an advisory lock), the key is
//! looked up (a replay returns the bound order), the cart is locked, its
//! SKU rows are locked in id order, every line is checked, stock is taken
//! all-or-nothing, the order is written with name and price snapshots and
//! its first history entry, the cart is emptied, the key is bound and the
//! `commerce.order.created` event written to the outbox — all committed
//! together, or nothing is.

use common::Problem;
use common::db::Bounded as _;
use common::db::violates;
use common::error_code::ErrorCode;
use common::events::outbox::Outbox;
use common::events::{CommerceEvent, OrderCreated, OrderedItem};
use common::ids::UserId;
use serde_json::Value;
use sqlx::PgPool;

use super::idempotency::IdempotencyKey;
use super::queries::{self as orders, CheckoutLineRow, NewOrder, OrderLineRow, OrderRow};
use super::views::{self, OrderView, StatusChange};
use crate::cart::queries::{self as carts, CartKey, CartLineRow};
use crate::cart::version::{Digests, Drift, Seen, StoredVersion, Version};
use crate::cart::{self, CartAnswer};
use crate::catalog::queries::MarketRow;
use crate::error::ApiError;
use crate::ids::{OrderId, SkuId};

/// One checkout request, validated.
#[derive(Debug, Clone)]
pub struct Checkout<'a> {
    pub user_id: UserId,
    pub market: &'a MarketRow,
    pub key: &'a IdempotencyKey,
    pub note: Option<&'a str>,
    pub shipping_address: Option<&'a Value>,
    pub pending_seconds: i64,
    pub max_pending_orders: i64,
    /// Units of one SKU one customer's pending orders may hold together:
    /// unpaid orders hold stock, and accounts are free.
    pub max_held_units_per_sku: i64,
    /// The cart versions the shopper saw (`If-Match`), if sent.
    pub seen: Option<&'a Seen>,
    /// The total the shopper saw, if sent.
    pub expected_total_minor: Option<i64>,
}

/// The order a checkout answers with, whether this request made it or an
/// earlier one with the same key did.
#[derive(Debug)]
pub struct CheckoutOutcome {
    pub order: OrderView,
    /// The key was bound to this order by an earlier checkout.
    pub replayed: bool,
}

#[tracing::instrument(name = "checkout", skip_all, fields(user_id = request.user_id.0, market = %request.market.code))]
pub async fn checkout(
    db: &PgPool,
    outbox: &Outbox,
    request: &Checkout<'_>,
) -> Result<CheckoutOutcome, ApiError> {
    match attempt(db, outbox, request).await {
        // A concurrent request with the same key won the race on the key's
        // unique index: look again, which now replays.
        Err(ApiError::Database(error)) if violates(&error, "idempotency_keys_pkey") => {
            attempt(db, outbox, request).await
        }
        other => other,
    }
}

#[tracing::instrument(name = "checkout.transaction", skip_all, fields(db.system = "postgresql"))]
async fn attempt(
    db: &PgPool,
    outbox: &Outbox,
    request: &Checkout<'_>,
) -> Result<CheckoutOutcome, ApiError> {
    let mut tx = db.begin().bounded().await?;
    orders::lock_user_checkouts(&mut tx, request.user_id).await?;

    let market = &request.market.code;
    let (bound_order, pending) =
        orders::key_and_pending(&mut tx, request.user_id, request.key.as_str()).await?;
    if let Some(order_id) = bound_order {
        return replay(&mut tx, request, order_id).await;
    }
    let lines = orders::lock_checkout_lines(&mut tx, request.user_id, market).await?;
    let Some(first) = lines.first() else {
        return Err(cart_empty().into());
    };
    let cart_id = first.cart_id;
    if let Some(seen) = request.seen
        && !is_the_cart_seen(seen, &lines)
    {
        drop(tx);
        return Err(cart_moved(db, request, |now| drift_code(seen, now)).await);
    }
    if pending >= request.max_pending_orders {
        return Err(Problem::new(
            ErrorCode::TooManyPendingOrders,
            "too many orders await confirmation; wait for them or cancel one",
        )
        .into());
    }
    let unavailable: Vec<i64> = lines
        .iter()
        .filter(|l| !l.sku_active || !l.product_active || l.unit_price_minor.is_none())
        .map(|l| l.sku_id.0)
        .collect();
    if !unavailable.is_empty() {
        return Err(
            Problem::new(ErrorCode::Unavailable, "some items can no longer be sold")
                .with_skus(unavailable)
                .into(),
        );
    }
    let over_held: Vec<i64> = lines
        .iter()
        .filter(|l| l.held + i64::from(l.quantity) > request.max_held_units_per_sku)
        .map(|l| l.sku_id.0)
        .collect();
    if !over_held.is_empty() {
        return Err(Problem::new(
            ErrorCode::HeldUnitsLimit,
            "your orders awaiting confirmation already hold as many of these items as one customer may",
        )
        .with_skus(over_held)
        .into());
    }
    let short: Vec<i64> = lines
        .iter()
        .filter(|l| l.stock < l.quantity)
        .map(|l| l.sku_id.0)
        .collect();
    if !short.is_empty() {
        return Err(
            Problem::new(ErrorCode::OutOfStock, "some items are out of stock")
                .with_skus(short)
                .into(),
        );
    }

    let mut order_lines = Vec::with_capacity(lines.len());
    let mut subtotal: i64 = 0;
    for line in &lines {
        let unit = line.unit_price_minor.unwrap_or_default();
        let total = unit
            .checked_mul(i64::from(line.quantity))
            .ok_or_else(overflow)?;
        subtotal = subtotal.checked_add(total).ok_or_else(overflow)?;
        order_lines.push(OrderLineRow {
            order_id: OrderId(0),
            sku_id: line.sku_id,
            product_id: line.product_id,
            name: line.name.clone(),
            quantity: line.quantity,
            unit_price_minor: unit,
            line_total_minor: total,
        });
    }
    if request
        .expected_total_minor
        .is_some_and(|expected| expected != subtotal)
    {
        drop(tx);
        return Err(cart_moved(db, request, |_| ErrorCode::PriceChanged).await);
    }
    let (row, pending_at) = orders::place(
        &mut tx,
        &NewOrder {
            user_id: request.user_id,
            market,
            currency: &request.market.currency,
            subtotal_minor: subtotal,
            note: request.note,
            shipping_address: request.shipping_address,
            pending_seconds: request.pending_seconds,
        },
        &order_lines,
        cart_id,
        request.key.as_str(),
    )
    .await?;
    outbox
        .add(&mut *tx, order_created(&row, &order_lines))
        .bounded()
        .await?;
    tx.commit().bounded().await?;
    outbox.committed();
    let history = vec![StatusChange {
        status: row.status,
        at: pending_at,
    }];
    Ok(CheckoutOutcome {
        order: views::order_view(row, order_lines, history),
        replayed: false,
    })
}

/// The key is bound: replay when the cart is empty (the first checkout
/// emptied it) or holds exactly the order's lines; else it is a conflict.
async fn replay(
    tx: &mut sqlx::PgConnection,
    request: &Checkout<'_>,
    order_id: OrderId,
) -> Result<CheckoutOutcome, ApiError> {
    let lines = orders::lines_of(&mut *tx, &[order_id]).await?;
    let mut ordered: Vec<(SkuId, i32)> = lines.iter().map(|l| (l.sku_id, l.quantity)).collect();
    let mut in_cart: Vec<(SkuId, i32)> = match carts::snapshot(
        &mut *tx,
        CartKey::Customer(request.user_id, &request.market.code),
    )
    .await?
    {
        Some(snapshot) => snapshot
            .lines
            .iter()
            .map(|l| (l.sku_id, l.quantity))
            .collect(),
        None => Vec::new(),
    };
    ordered.sort_unstable();
    in_cart.sort_unstable();
    if in_cart.is_empty() || in_cart == ordered {
        // The replay answers from the same transaction's reads: the order
        // as committed, with the lines already read.
        let row = orders::find(&mut *tx, order_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("order {order_id} bound to a key is gone"))?;
        let history = orders::history_of(&mut *tx, &[order_id])
            .await?
            .into_iter()
            .map(StatusChange::from)
            .collect();
        Ok(CheckoutOutcome {
            order: views::order_view(row, lines, history),
            replayed: true,
        })
    } else {
        Err(Problem::new(
            ErrorCode::IdempotencyConflict,
            "this Idempotency-Key was used for a different cart",
        )
        .into())
    }
}

/// Whether the locked lines are the very cart the shopper saw: the
/// version they name is the cart's, and it names these lines and prices.
fn is_the_cart_seen(seen: &Seen, lines: &[CheckoutLineRow]) -> bool {
    let Some(first) = lines.first() else {
        return false;
    };
    let stored = StoredVersion {
        version: first.version,
        lines_version: first.lines_version,
        lines_digest: first.lines_digest.clone(),
        money_digest: first.money_digest.clone(),
    };
    let shown: Vec<CartLineRow> = lines.iter().map(CheckoutLineRow::as_cart_line).collect();
    let digests = Digests::of(first.cart_updated_at, &shown);
    seen == &Seen::Any || (stored.names(&digests) && seen.drift(stored.version()) == Drift::None)
}

/// The `409` of a checkout refused because the cart moved: `code` says
/// which, given where the cart's version now stands.
async fn cart_moved(
    db: &PgPool,
    request: &Checkout<'_>,
    code: impl FnOnce(Version) -> ErrorCode,
) -> ApiError {
    match cart::current(db, request.user_id, request.market).await {
        Ok(answer) => conflict_with_cart(code(answer.version), answer),
        Err(error) => error,
    }
}

/// `price_changed` when only money moved since what was seen, else
/// `cart_changed`.
fn drift_code(seen: &Seen, now: Version) -> ErrorCode {
    match seen.drift(now) {
        Drift::Price => ErrorCode::PriceChanged,
        Drift::Cart | Drift::None => ErrorCode::CartChanged,
    }
}

/// A `409` carrying the cart as it now stands, so the app can show it and
/// ask again (with its version in `If-Match`).
fn conflict_with_cart(code: ErrorCode, answer: CartAnswer) -> ApiError {
    let detail = match code {
        ErrorCode::PriceChanged => "prices in the cart changed; nothing was ordered",
        _ => "the cart changed since it was shown; nothing was ordered",
    };
    let cart = serde_json::to_value(&answer.view).unwrap_or_default();
    Problem::new(code, detail).with_member("cart", cart).into()
}

/// The event of a new order.
fn order_created(row: &OrderRow, lines: &[OrderLineRow]) -> CommerceEvent {
    CommerceEvent::OrderCreated(OrderCreated {
        order_id: row.id.0,
        order_number: row.order_number.clone(),
        user_id: row.user_id,
        market: row.market.clone(),
        currency: row.currency.clone(),
        total_minor: row.total_minor,
        items: lines
            .iter()
            .map(|line| OrderedItem {
                sku_id: line.sku_id.0,
                product_id: line.product_id.0,
                quantity: line.quantity,
                unit_price_minor: line.unit_price_minor,
            })
            .collect(),
    })
}

fn cart_empty() -> Problem {
    Problem::new(ErrorCode::CartEmpty, "the cart of this market is empty")
}

fn overflow() -> ApiError {
    Problem::invalid_field("items", "the order total is too large").into()
}
