//! The development seed: markets `us` (the default), `in` and `eu`, and a
//! demo catalog of 24 products with SKUs, stock and prices in every market.
//! Running it again changes nothing that exists.

use common::db::Bounded as _;
use serde_json::json;
use sqlx::PgPool;

use super::queries as catalog;
use crate::ids::ProductId;

pub const MARKETS: [(&str, &str, &str); 3] = [
    ("us", "USD", "United States"),
    ("in", "INR", "India"),
    ("eu", "EUR", "Europe"),
];

/// (slug, name, description, price in US cents, variant attribute).
const PRODUCTS: [(&str, &str, &str, i64, &str); 24] = [
    (
        "classic-tee",
        "Classic Tee",
        "Soft cotton t-shirt.",
        1999,
        "size",
    ),
    (
        "oxford-shirt",
        "Oxford Shirt",
        "Button-down oxford cloth shirt.",
        4999,
        "size",
    ),
    (
        "denim-jacket",
        "Denim Jacket",
        "Rigid denim, gets better with wear.",
        8999,
        "size",
    ),
    (
        "wool-sweater",
        "Wool Sweater",
        "Merino crew neck.",
        6999,
        "size",
    ),
    (
        "rain-shell",
        "Rain Shell",
        "Packable waterproof jacket.",
        11999,
        "size",
    ),
    (
        "chino-pants",
        "Chino Pants",
        "Straight-leg twill chinos.",
        5499,
        "size",
    ),
    (
        "running-shorts",
        "Running Shorts",
        "Light shorts with a zip pocket.",
        2999,
        "size",
    ),
    (
        "hoodie",
        "Hoodie",
        "Heavyweight fleece hoodie.",
        5999,
        "size",
    ),
    (
        "canvas-sneakers",
        "Canvas Sneakers",
        "Low-top canvas shoes.",
        4499,
        "size",
    ),
    (
        "trail-runners",
        "Trail Runners",
        "Grippy trail running shoes.",
        12999,
        "size",
    ),
    (
        "wool-socks",
        "Wool Socks",
        "Cushioned hiking socks.",
        1499,
        "size",
    ),
    (
        "baseball-cap",
        "Baseball Cap",
        "Six-panel cotton cap.",
        2499,
        "color",
    ),
    ("beanie", "Beanie", "Ribbed knit beanie.", 1999, "color"),
    (
        "leather-belt",
        "Leather Belt",
        "Full-grain leather belt.",
        3999,
        "color",
    ),
    (
        "canvas-tote",
        "Canvas Tote",
        "Sturdy everyday tote bag.",
        2299,
        "color",
    ),
    (
        "day-backpack",
        "Day Backpack",
        "20 litre backpack.",
        7999,
        "color",
    ),
    (
        "water-bottle",
        "Water Bottle",
        "Insulated steel bottle.",
        2799,
        "color",
    ),
    (
        "coffee-mug",
        "Coffee Mug",
        "Stoneware mug, 350 ml.",
        1599,
        "color",
    ),
    (
        "desk-lamp",
        "Desk Lamp",
        "Dimmable LED desk lamp.",
        4999,
        "color",
    ),
    (
        "notebook",
        "Notebook",
        "Dot-grid A5 notebook.",
        1299,
        "color",
    ),
    (
        "wireless-earbuds",
        "Wireless Earbuds",
        "Earbuds with a charging case.",
        9999,
        "color",
    ),
    (
        "phone-case",
        "Phone Case",
        "Slim protective case.",
        1999,
        "color",
    ),
    (
        "sunglasses",
        "Sunglasses",
        "Polarised sunglasses.",
        6499,
        "color",
    ),
    (
        "umbrella",
        "Umbrella",
        "Compact windproof umbrella.",
        2999,
        "color",
    ),
];

const SIZES: [&str; 3] = ["S", "M", "L"];
const COLORS: [&str; 2] = ["black", "white"];

/// Prices of a product in every market from its US price: rounded to a
/// whole unit minus one minor unit, as shops do.
fn prices(us_cents: i64) -> [(&'static str, i64); 3] {
    let inr = (us_cents * 83 / 100).max(1) * 100 - 1;
    let eur = us_cents * 92 / 100 / 100 * 100 + 99;
    [("us", us_cents), ("in", inr), ("eu", eur)]
}

/// Seeds the markets `us` (the default), `in` and `eu` (idempotent).
pub async fn seed_markets(db: &PgPool) -> sqlx::Result<()> {
    for (code, currency, name) in MARKETS {
        catalog::upsert_market(db, code, currency, name).await?;
    }
    Ok(())
}

/// Seeds markets and the demo catalog; returns how many products were added.
pub async fn seed(db: &PgPool) -> anyhow::Result<usize> {
    seed_markets(db).await?;
    let mut added = 0;
    for (slug, name, description, us_cents, attribute) in PRODUCTS {
        let mut tx = db.begin().bounded().await?;
        let Some(product_id) = sqlx::query_scalar!(
            "insert into products (slug, name, description) values ($1, $2, $3)
             on conflict (slug) do nothing returning id",
            slug,
            name,
            description
        )
        .fetch_optional(&mut *tx)
        .bounded()
        .await?
        else {
            continue;
        };
        let variants: &[&str] = if attribute == "size" { &SIZES } else { &COLORS };
        for variant in variants {
            let code = format!("{slug}-{}", variant.to_lowercase());
            let sku_id = catalog::insert_sku(
                &mut *tx,
                ProductId(product_id),
                &code,
                &json!({ attribute: variant }),
                100,
            )
            .await?;
            for (market, amount) in prices(us_cents) {
                catalog::upsert_price(&mut *tx, sku_id, market, amount).await?;
            }
        }
        tx.commit().bounded().await?;
        added += 1;
    }
    if added > 0 {
        // Fresh statistics, so the first queries are planned for the rows
        // that are there rather than for an empty catalog (autovacuum would
        // get to it only later).
        sqlx::query("analyze markets, products, skus, prices")
            .execute(db)
            .bounded()
            .await?;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::prices;

    #[test]
    fn prices_exist_in_every_market_and_look_like_prices() {
        assert_eq!(prices(1999), [("us", 1999), ("in", 165_899), ("eu", 1899)]);
        assert!(prices(1).iter().all(|(_, amount)| *amount > 0));
    }
}
