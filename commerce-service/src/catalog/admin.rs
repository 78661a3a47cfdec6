//! The admin's side of the catalog: products created with their SKUs,
//! stock and prices in one transaction, renamed, hidden, restocked and
//! repriced, each checked against the rules here first.

use common::db::Bounded as _;
use std::collections::{BTreeMap, HashSet};

use common::Problem;
use common::db::OnConstraint as _;
use common::error_code::ErrorCode;
use common::problem::FieldError;
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::markets::Markets;
use super::queries;
use super::search::search_pattern;
use super::views::{AdminProductSummary, AdminProductView, AdminSkuView, admin_skus};
use crate::error::ApiError;
use crate::ids::{ProductId, SkuId};

pub const MAX_STOCK: i64 = 1_000_000_000;
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSku {
    /// 1 to 64 printable characters without spaces, unique.
    #[schema(pattern = "^[!-~]{1,64}$")]
    pub code: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Option<Value>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub stock: i64,
    /// Minor units by market code, e.g. `{"us": 1999}`: 0 to 10^12.
    pub prices: BTreeMap<String, i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateProduct {
    /// Lower-case letters, digits and single dashes, at most 100.
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 100)]
    pub slug: String,
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// At most 5000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    #[schema(min_items = 1, max_items = 100)]
    pub skus: Vec<NewSku>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProduct {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    pub is_active: Option<bool>,
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    let length = name.trim().chars().count();
    if !(1..=200).contains(&length) {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
}

fn check_description(description: &str, errors: &mut Vec<FieldError>) {
    if description.chars().count() > 5000 {
        errors.push(FieldError::new(
            "description",
            "must be at most 5000 characters",
        ));
    }
}

fn is_slug(slug: &str) -> bool {
    (1..=100).contains(&slug.len())
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--")
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_sku_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_graphic())
}

/// Checks one new SKU; its fields are named `{prefix}code`, ...
fn validate_sku(
    sku: &NewSku,
    prefix: &str,
    markets: &HashSet<String>,
    errors: &mut Vec<FieldError>,
) {
    let field = |name: &str| format!("{prefix}{name}");
    if !is_sku_code(sku.code.trim()) {
        errors.push(FieldError::new(
            field("code"),
            "1 to 64 printable characters without spaces",
        ));
    }
    if sku.attributes.as_ref().is_some_and(|a| !a.is_object()) {
        errors.push(FieldError::new(field("attributes"), "must be an object"));
    }
    if !(0..=MAX_STOCK).contains(&sku.stock) {
        errors.push(FieldError::new(field("stock"), "must be 0 to 1000000000"));
    }
    for (market, amount) in &sku.prices {
        if !markets.contains(market) {
            errors.push(FieldError::new(
                field(&format!("prices.{market}")),
                "no such market",
            ));
        } else if !(0..=MAX_AMOUNT_MINOR).contains(amount) {
            errors.push(FieldError::new(
                field(&format!("prices.{market}")),
                "must be 0 to 10^12 minor units",
            ));
        }
    }
}

/// Checks a new product against the rules and the known markets.
pub fn validate_product(body: &CreateProduct, markets: &HashSet<String>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !is_slug(&body.slug) {
        errors.push(FieldError::new(
            "slug",
            "lower-case letters, digits and single dashes, at most 100",
        ));
    }
    check_name(&body.name, &mut errors);
    check_description(&body.description, &mut errors);
    if body.skus.is_empty() || body.skus.len() > 100 {
        errors.push(FieldError::new("skus", "a product has 1 to 100 SKUs"));
    }
    let mut codes = HashSet::new();
    for (index, sku) in body.skus.iter().enumerate() {
        let prefix = format!("skus[{index}].");
        validate_sku(sku, &prefix, markets, &mut errors);
        let code = sku.code.trim();
        if is_sku_code(code) && !codes.insert(code.to_owned()) {
            errors.push(FieldError::new(format!("{prefix}code"), "appears twice"));
        }
    }
    errors
}

/// Every product, sold or not, newest first, optionally whose name or slug
/// contains `q`; with the total.
pub async fn product_page(
    db: &PgPool,
    q: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AdminProductSummary>, i64), ApiError> {
    let pattern = search_pattern(q).map_err(|message| Problem::invalid_field("q", message))?;
    let (rows, total) = queries::admin_products(db, pattern.as_deref(), limit, offset).await?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

pub async fn product_view(db: &PgPool, id: ProductId) -> Result<AdminProductView, ApiError> {
    let product = queries::product(db, id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let skus = queries::skus_of(db, id).await?;
    let ids: Vec<SkuId> = skus.iter().map(|s| s.id).collect();
    let prices = queries::prices_of(db, &ids).await?;
    Ok(AdminProductView {
        id: product.id,
        slug: product.slug,
        name: product.name,
        description: product.description,
        is_active: product.is_active,
        skus: admin_skus(skus, prices),
        created_at: product.created_at,
        updated_at: product.updated_at,
    })
}

pub async fn sku_view(db: &PgPool, id: SkuId) -> Result<AdminSkuView, ApiError> {
    let sku = queries::sku(db, id).await?.ok_or_else(Problem::not_found)?;
    let prices = queries::prices_of(db, &[id]).await?;
    admin_skus(vec![sku], prices)
        .pop()
        .ok_or_else(|| Problem::not_found().into())
}

/// Creates a product with its SKUs, stock and prices, in one transaction.
pub async fn create_product(
    db: &PgPool,
    markets: &Markets,
    body: &CreateProduct,
) -> Result<AdminProductView, ApiError> {
    let known: HashSet<String> = markets.all().await?.keys().cloned().collect();
    let errors = validate_product(body, &known);
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    let mut tx = db.begin().bounded().await?;
    let product_id =
        queries::insert_product(&mut *tx, &body.slug, body.name.trim(), &body.description)
            .await
            .on_constraint::<ApiError>("products_slug_key", || {
                Problem::new(ErrorCode::SlugTaken, "a product with this slug exists")
            })?;
    insert_skus(&mut tx, product_id, &body.skus).await?;
    tx.commit().bounded().await?;
    product_view(db, product_id).await
}

/// Adds a SKU, with its stock and prices, to an existing product: `404`
/// for an unknown product, `409 sku_code_taken`, `422` as at creation (a
/// product has at most 100 SKUs).
pub async fn add_sku(
    db: &PgPool,
    markets: &Markets,
    product_id: ProductId,
    body: &NewSku,
) -> Result<AdminProductView, ApiError> {
    let known: HashSet<String> = markets.all().await?.keys().cloned().collect();
    let mut errors = Vec::new();
    validate_sku(body, "", &known, &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    let mut tx = db.begin().bounded().await?;
    // The product's row is locked so that two additions count its SKUs
    // one after the other.
    let sku_count = queries::lock_product_counting_skus(&mut *tx, product_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    if sku_count >= 100 {
        return Err(Problem::invalid_field("code", "a product has at most 100 SKUs").into());
    }
    insert_skus(&mut tx, product_id, std::slice::from_ref(body)).await?;
    tx.commit().bounded().await?;
    product_view(db, product_id).await
}

/// Inserts SKUs with their prices. Two transactions whose SKU codes
/// overlap in another order would each wait for a code the other inserted
/// first: a deadlock. The codes are locked first, in one order, so the
/// second waits for the first and then fails with `sku_code_taken`.
async fn insert_skus(
    tx: &mut sqlx::PgConnection,
    product_id: ProductId,
    skus: &[NewSku],
) -> Result<(), ApiError> {
    let codes: Vec<String> = skus.iter().map(|sku| sku.code.trim().to_owned()).collect();
    queries::lock_sku_codes(&mut *tx, &codes).await?;
    for sku in skus {
        let attributes = sku
            .attributes
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let sku_id = queries::insert_sku(
            &mut *tx,
            product_id,
            sku.code.trim(),
            &attributes,
            sku.stock as i32,
        )
        .await
        .on_constraint::<ApiError>("skus_code_key", || {
            Problem::new(ErrorCode::SkuCodeTaken, "a SKU with this code exists")
        })?;
        for (market, amount) in &sku.prices {
            queries::upsert_price(&mut *tx, sku_id, market, *amount).await?;
        }
    }
    Ok(())
}

/// Changes a product's name, description or whether it is sold.
pub async fn update_product(
    db: &PgPool,
    id: ProductId,
    body: &UpdateProduct,
) -> Result<AdminProductView, ApiError> {
    let mut errors = Vec::new();
    if let Some(name) = &body.name {
        check_name(name, &mut errors);
    }
    if let Some(description) = &body.description {
        check_description(description, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    queries::update_product(
        db,
        id,
        body.name.as_deref().map(str::trim),
        body.description.as_deref(),
        body.is_active,
    )
    .await?
    .ok_or_else(Problem::not_found)?;
    product_view(db, id).await
}

/// Sets a SKU's stock.
pub async fn set_stock(db: &PgPool, id: SkuId, stock: i64) -> Result<AdminSkuView, ApiError> {
    if !(0..=MAX_STOCK).contains(&stock) {
        return Err(Problem::invalid_field("stock", "must be 0 to 1000000000").into());
    }
    queries::set_stock(db, id, stock as i32)
        .await?
        .ok_or_else(Problem::not_found)?;
    sku_view(db, id).await
}

/// Sets a SKU's price in a market; an unknown SKU or market is `404`.
pub async fn set_price(
    db: &PgPool,
    markets: &Markets,
    id: SkuId,
    market: &str,
    amount_minor: i64,
) -> Result<AdminSkuView, ApiError> {
    if !(0..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
        return Err(
            Problem::invalid_field("amount_minor", "must be 0 to 10^12 minor units").into(),
        );
    }
    if !markets.all().await?.contains_key(market) || queries::sku(db, id).await?.is_none() {
        return Err(Problem::not_found().into());
    }
    queries::upsert_price(db, id, market, amount_minor).await?;
    sku_view(db, id).await
}
