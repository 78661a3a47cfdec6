//! The cart: one per user and market, kept in PostgreSQL across logouts
//! and logins, or a guest's before login (`guest.rs`). Its SQL is
//! `queries.rs` and `guest_queries.rs`, its JSON shape `views.rs`, its
//! version `version.rs`; the use cases are here and each answers with the
//! cart as it now stands, versioned.

pub mod guest;
pub mod guest_queries;
pub mod queries;
pub mod version;
pub mod views;

use common::Problem;
use common::db::OnConstraint as _;
use sqlx::PgPool;

pub use self::views::CartView;
use common::ids::UserId;

use self::queries::CartKey;
use self::version::{Digests, Version};
use crate::catalog::queries::MarketRow;
use crate::error::ApiError;
use crate::ids::SkuId;

/// The most of one SKU a cart line holds.
pub const MAX_LINE_QUANTITY: i64 = 99;

/// A cart answer and where its version stands, for a checkout's guard.
#[derive(Debug)]
pub struct CartAnswer {
    pub view: CartView,
    pub version: Version,
}

/// A line quantity, 1 to 99 (`allow_zero` for setting a line, where 0
/// removes it); `Err` with the reason otherwise.
pub fn quantity(value: i64, allow_zero: bool) -> Result<i32, String> {
    let low = if allow_zero { 0 } else { 1 };
    if (low..=MAX_LINE_QUANTITY).contains(&value) {
        Ok(value as i32)
    } else {
        Err(format!("must be an integer from {low} to 99"))
    }
}

/// The cart of `key` as it stands now, with the version naming exactly
/// what it shows (an empty, never-made cart is version 0).
pub async fn answer(
    db: &PgPool,
    key: CartKey<'_>,
    market: &MarketRow,
) -> Result<CartAnswer, ApiError> {
    // Another answer may move the version between our read and our write:
    // then read again. Each round is one writer winning, so a few suffice.
    for _ in 0..8 {
        let Some(snapshot) = queries::snapshot(db, key).await? else {
            return Ok(CartAnswer {
                view: views::cart(market, Vec::new(), None, Version::NONE.version),
                version: Version::NONE,
            });
        };
        let digests = Digests::of(snapshot.cart.updated_at, &snapshot.lines);
        if let Some(version) =
            version::settle(db, snapshot.cart.id, &snapshot.cart.stored, &digests).await?
        {
            let view = views::cart(
                market,
                snapshot.lines,
                Some(snapshot.cart.updated_at),
                version.version,
            );
            return Ok(CartAnswer { view, version });
        }
    }
    Err(anyhow::anyhow!("the cart's version kept moving under eight reads").into())
}

/// The cart of (user, market) as it stands now (empty if none yet).
pub async fn current(
    db: &PgPool,
    user_id: UserId,
    market: &MarketRow,
) -> Result<CartAnswer, ApiError> {
    answer(db, CartKey::Customer(user_id, &market.code), market).await
}

/// Adds `quantity` of a SKU; adding one already there adds to its line.
pub async fn add(
    db: &PgPool,
    user_id: UserId,
    market: &MarketRow,
    sku_id: SkuId,
    quantity: i32,
) -> Result<CartAnswer, ApiError> {
    let added = queries::add_if_sellable(db, user_id, &market.code, sku_id, quantity)
        .await
        .on_constraint::<ApiError>("cart_items_quantity_check", line_full)?;
    sellable(added)?;
    current(db, user_id, market).await
}

/// Sets a line's quantity (adds the SKU if missing; 0 removes the line).
pub async fn set(
    db: &PgPool,
    user_id: UserId,
    market: &MarketRow,
    sku_id: SkuId,
    quantity: i32,
) -> Result<CartAnswer, ApiError> {
    let cart_id = queries::ensure(db, user_id, &market.code).await?;
    if quantity == 0 {
        queries::remove(db, cart_id, sku_id).await?;
    } else {
        sellable(queries::sellable_sku_priced(db, sku_id, &market.code).await?)?;
        queries::set(db, cart_id, sku_id, quantity).await?;
    }
    current(db, user_id, market).await
}

/// Removes a line (removing one that is not there changes nothing).
pub async fn remove(
    db: &PgPool,
    user_id: UserId,
    market: &MarketRow,
    sku_id: SkuId,
) -> Result<CartAnswer, ApiError> {
    if let Some(cart_id) = queries::find(db, user_id, &market.code).await? {
        queries::remove(db, cart_id, sku_id).await?;
        queries::ensure(db, user_id, &market.code).await?;
    }
    current(db, user_id, market).await
}

/// Unknown or inactive (`None`) is `404`, not priced in the market `422`.
fn sellable(priced: Option<bool>) -> Result<(), Problem> {
    match priced {
        None => Err(Problem::not_found()),
        Some(false) => Err(Problem::invalid_field(
            "sku_id",
            "this item is not sold in this market",
        )),
        Some(true) => Ok(()),
    }
}

fn line_full() -> Problem {
    Problem::invalid_field("quantity", "a line holds at most 99")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_bounded() {
        assert_eq!(quantity(1, false).unwrap(), 1);
        assert_eq!(quantity(99, false).unwrap(), 99);
        for bad in [0, -1, 100, i64::MAX] {
            assert!(quantity(bad, false).is_err(), "{bad}");
        }
        assert_eq!(quantity(0, true).unwrap(), 0);
    }
}
