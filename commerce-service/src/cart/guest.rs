//! Guest carts: a shopper fills a cart before logging in, holding an
//! opaque token (`X-Cart-Token`) instead of a session; logging in merges it
//! into the customer's cart of its market.
//!
//! The token is 256 random bits; only its SHA-256 is stored, so a database
//! dump holds no usable token (a plain hash suffices: the token is random,
//! not guessable from its hash). A guest cart lives for an idle time pushed
//! back on every use, and a sweep in every replica deletes the expired ones
//! (`FOR UPDATE SKIP LOCKED`).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::Problem;
use common::db::{Bounded as _, OnConstraint as _};
use common::error_code::ErrorCode;
use common::ids::UserId;
use rand::RngExt as _;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

use super::guest_queries as queries;
use super::queries::CartKey;
use super::{CartAnswer, MAX_LINE_QUANTITY, answer, line_full, sellable};
use crate::catalog::markets::Markets;
use crate::catalog::queries::MarketRow;
use crate::error::ApiError;
use crate::ids::SkuId;

/// A guest cart's token: 32 random bytes, base64url without padding.
#[derive(Clone, PartialEq, Eq)]
pub struct GuestToken(String);

impl std::fmt::Debug for GuestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuestToken(..)")
    }
}

impl GuestToken {
    const BYTES: usize = 32;
    const CHARS: usize = 43;

    pub fn generate() -> Self {
        let mut bytes = [0u8; Self::BYTES];
        rand::rng().fill(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token in our spelling; anything else is no token of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == Self::CHARS
            && URL_SAFE_NO_PAD
                .decode(text)
                .is_ok_and(|bytes| bytes.len() == Self::BYTES);
        well_formed.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the database keeps.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// The rules of guest carts, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct GuestRules {
    pub ttl: Duration,
    /// Creations per client address and hour; 0: no limit.
    pub per_client_hour: u32,
}

impl GuestRules {
    fn ttl_seconds(&self) -> i64 {
        i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)
    }
}

/// A guest cart the token resolved to.
#[derive(Debug, Clone)]
pub struct GuestCart {
    pub id: i64,
    pub market: MarketRow,
}

/// Creates a guest cart in `market` for `client` (an address, counted
/// against its hourly limit): the token, shown this once, and the cart.
pub async fn create(
    db: &PgPool,
    rules: &GuestRules,
    client: &str,
    market: &MarketRow,
) -> Result<(GuestToken, CartAnswer), ApiError> {
    let token = GuestToken::generate();
    let created = queries::create(
        db,
        client,
        rules.per_client_hour,
        &market.code,
        &token.hash(),
        rules.ttl_seconds(),
    )
    .await?;
    let Some(cart_id) = created.cart_id else {
        metrics::counter!("guest_carts_total", "event" => "refused").increment(1);
        let wait = u64::try_from(created.window_left_seconds.max(1)).unwrap_or(1);
        return Err(Problem::rate_limited(wait).into());
    };
    metrics::counter!("guest_carts_total", "event" => "created").increment(1);
    Ok((token, answer(db, CartKey::Id(cart_id), market).await?))
}

/// The live, unconsumed guest cart of a token (its idle time restarts);
/// a missing, unknown, expired or consumed token is `404 not_found`.
pub async fn resolve(
    db: &PgPool,
    markets: &Markets,
    rules: &GuestRules,
    token: Option<&str>,
) -> Result<GuestCart, ApiError> {
    let token = token
        .and_then(GuestToken::parse)
        .ok_or_else(Problem::not_found)?;
    let row = queries::find_and_touch(db, &token.hash(), rules.ttl_seconds())
        .await?
        .filter(|row| !row.consumed)
        .ok_or_else(Problem::not_found)?;
    let market = markets
        .all()
        .await?
        .get(&row.market)
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "guest cart {} is in market {:?}, which is gone",
                row.id,
                row.market
            )
        })?;
    Ok(GuestCart { id: row.id, market })
}

/// The guest cart as it stands.
pub async fn current(db: &PgPool, cart: &GuestCart) -> Result<CartAnswer, ApiError> {
    answer(db, CartKey::Id(cart.id), &cart.market).await
}

/// Adds `quantity` of a SKU, as the customer's cart does.
pub async fn add(
    db: &PgPool,
    cart: &GuestCart,
    sku_id: SkuId,
    quantity: i32,
) -> Result<CartAnswer, ApiError> {
    let added = queries::add_if_sellable(db, cart.id, &cart.market.code, sku_id, quantity)
        .await
        .on_constraint::<ApiError>("cart_items_quantity_check", line_full)?;
    sellable(added)?;
    current(db, cart).await
}

/// Sets a line's quantity (0 removes it), as the customer's cart does.
pub async fn set(
    db: &PgPool,
    cart: &GuestCart,
    sku_id: SkuId,
    quantity: i32,
) -> Result<CartAnswer, ApiError> {
    if quantity == 0 {
        return remove(db, cart, sku_id).await;
    }
    sellable(super::queries::sellable_sku_priced(db, sku_id, &cart.market.code).await?)?;
    super::queries::set(db, cart.id, sku_id, quantity).await?;
    queries::touch(db, cart.id).await?;
    current(db, cart).await
}

/// Removes a line (removing one that is not there changes nothing).
pub async fn remove(db: &PgPool, cart: &GuestCart, sku_id: SkuId) -> Result<CartAnswer, ApiError> {
    super::queries::remove(db, cart.id, sku_id).await?;
    queries::touch(db, cart.id).await?;
    current(db, cart).await
}

/// Moves a guest cart's lines into `user_id`'s cart of the guest cart's
/// market, which must be the session's (`market`), and consumes it. Once
/// consumed (by anyone), the same token changes nothing and answers the
/// caller's cart: a retried or concurrent merge adds its lines once.
pub async fn merge(
    db: &PgPool,
    user_id: UserId,
    market: &MarketRow,
    token: &str,
) -> Result<CartAnswer, ApiError> {
    let token = GuestToken::parse(token).ok_or_else(Problem::not_found)?;
    let mut tx = db.begin().bounded().await?;
    let guest = queries::lock(&mut tx, &token.hash())
        .await?
        .ok_or_else(Problem::not_found)?;
    if guest.market != market.code {
        return Err(Problem::new(
            ErrorCode::MarketMismatch,
            "this guest cart belongs to another market than this session",
        )
        .into());
    }
    if !guest.consumed {
        let cap = i32::try_from(MAX_LINE_QUANTITY).unwrap_or(i32::MAX);
        queries::merge_into(&mut tx, guest.id, user_id, &market.code, cap).await?;
        metrics::counter!("guest_carts_total", "event" => "merged").increment(1);
    }
    tx.commit().bounded().await?;
    answer(db, CartKey::Customer(user_id, &market.code), market).await
}

/// Deletes expired guest carts in batches; returns how many.
pub async fn sweep_expired(db: &PgPool) -> sqlx::Result<i64> {
    let mut total = 0;
    loop {
        let gone = queries::sweep(db, 500).await?;
        total += gone;
        if gone < 500 {
            return Ok(total);
        }
    }
}

/// The background task: sweeps every `interval` until the process ends.
pub async fn run_sweeper(db: PgPool, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match sweep_expired(&db).await {
            Ok(0) => {}
            Ok(count) => {
                metrics::counter!("guest_carts_total", "event" => "expired")
                    .increment(count as u64);
                tracing::info!(count, "deleted expired guest carts");
            }
            Err(error) => tracing::warn!(%error, "sweeping guest carts failed; will retry"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_random_bits_in_one_spelling() {
        let token = GuestToken::generate();
        assert_eq!(token.as_str().len(), 43);
        assert_ne!(token, GuestToken::generate());
        assert_eq!(GuestToken::parse(token.as_str()), Some(token.clone()));
        assert_eq!(format!("{token:?}"), "GuestToken(..)", "never logged");
        for bad in [
            "",
            "short",
            &format!("{}=", token.as_str()),
            &"+".repeat(43),
        ] {
            assert!(GuestToken::parse(bad).is_none(), "{bad:?}");
        }
        assert_ne!(token.hash(), GuestToken::generate().hash());
    }
}
