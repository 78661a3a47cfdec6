//! The storefront's list: active products with at least one active SKU
//! priced in a market, newest first; one page of them, and how many match,
//! counted up to one past the result window (so that "more" can be told
//! apart). Counting stops there, so a page costs the same whether the
//! catalog holds a thousand products or a million.
//!
//! Two statements. The plain list's best plan never changes, so it is
//! prepared once per connection. A search's best plan depends on its
//! word: a common one is found soonest by reading the newest products and
//! filtering, a rare one only through the trigram index on names. A
//! prepared statement may settle on one generic plan after a few runs
//! (PostgreSQL's plan cache did, after common searches: a search for a word
//! no name has then read every product, 171 ms at 100,000), so the search
//! is sent unprepared and planned with its pattern every time.

use common::db::{Bounded as _, Unprepared};
use sqlx::{FromRow as _, PgExecutor};
use time::OffsetDateTime;

use super::queries::ProductRow;

/// One row of either statement: a product of the page (none when the page
/// is past the end, so the count still arrives) and the count. The names
/// are the columns' as sent (`query_as!`'s nullability marks included),
/// for the unprepared search's rows.
#[derive(sqlx::FromRow)]
struct WindowRow {
    #[sqlx(rename = "id?")]
    id: Option<i64>,
    #[sqlx(rename = "slug?")]
    slug: Option<String>,
    #[sqlx(rename = "name?")]
    name: Option<String>,
    #[sqlx(rename = "description?")]
    description: Option<String>,
    #[sqlx(rename = "is_active?")]
    is_active: Option<bool>,
    #[sqlx(rename = "created_at?")]
    created_at: Option<OffsetDateTime>,
    #[sqlx(rename = "updated_at?")]
    updated_at: Option<OffsetDateTime>,
    #[sqlx(rename = "total!")]
    total: i64,
}

/// One page (`limit`, `offset`) of the products sellable in `market`,
/// matching `pattern` (an escaped `ILIKE` pattern) when given, and their
/// count up to `counted_up_to`.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn sellable_products(
    db: impl PgExecutor<'_>,
    market: &str,
    pattern: Option<&str>,
    limit: i64,
    offset: i64,
    counted_up_to: i64,
) -> sqlx::Result<(Vec<ProductRow>, i64)> {
    // One round trip each: the matches up to the count's end, once, then
    // the page out of them.
    let rows = match pattern {
        None => {
            sqlx::query_as!(
                WindowRow,
                r#"with listed as materialized (
                       select p.id, p.slug, p.name, p.description, p.is_active, p.created_at, p.updated_at
                       from products p
                       where p.is_active
                         and exists (select 1 from skus s join prices pr on pr.sku_id = s.id and pr.market = $1
                                     where s.product_id = p.id and s.is_active)
                       order by p.id desc
                       limit $4)
                   select m.id as "id?", m.slug as "slug?", m.name as "name?", m.description as "description?",
                          m.is_active as "is_active?", m.created_at as "created_at?", m.updated_at as "updated_at?",
                          counted.total as "total!"
                   from (select count(*) as total from listed) counted
                   left join lateral (select * from listed order by id desc limit $2 offset $3) m on true
                   order by m.id desc"#,
                market,
                limit,
                offset,
                counted_up_to
            )
            .fetch_all(db)
            .bounded()
            .await?
        }
        Some(pattern) => {
            let search = sqlx::query_as!(
                WindowRow,
                r#"with matching as materialized (
                       select p.id, p.slug, p.name, p.description, p.is_active, p.created_at, p.updated_at
                       from products p
                       where p.is_active
                         and p.name ilike $2
                         and exists (select 1 from skus s join prices pr on pr.sku_id = s.id and pr.market = $1
                                     where s.product_id = p.id and s.is_active)
                       order by p.id desc
                       limit $5)
                   select m.id as "id?", m.slug as "slug?", m.name as "name?", m.description as "description?",
                          m.is_active as "is_active?", m.created_at as "created_at?", m.updated_at as "updated_at?",
                          counted.total as "total!"
                   from (select count(*) as total from matching) counted
                   left join lateral (select * from matching order by id desc limit $3 offset $4) m on true
                   order by m.id desc"#,
                market,
                pattern,
                limit,
                offset,
                counted_up_to
            );
            db.fetch_all(Unprepared(search))
                .bounded()
                .await?
                .iter()
                .map(WindowRow::from_row)
                .collect::<sqlx::Result<_>>()?
        }
    };
    let total = rows.first().map_or(0, |row| row.total);
    let rows = rows
        .into_iter()
        .filter_map(|row| {
            Some(ProductRow {
                id: row.id?.into(),
                slug: row.slug?,
                name: row.name?,
                description: row.description?,
                is_active: row.is_active?,
                created_at: row.created_at?,
                updated_at: row.updated_at?,
            })
        })
        .collect();
    Ok((rows, total))
}
