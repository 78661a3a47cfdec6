//! PostgreSQL's own floor for a checkout: `pgbench` running, in one
//! transaction, the statements commerce-service sends for one order, taken
//! from its `.sqlx/` query data: the user's advisory lock, the key and
//! pending-order read, the locked cart lines, the one-statement write
//! (stock, order, lines, history, key, emptied cart) and the outbox row,
//! then the commit. Each order is a new buyer's two-line cart over two
//! neighbouring SKUs of the benchmark's list, quantities 2 and 1, as
//! scenario 8's are; the carts are filled before the run, as scenario 8's
//! are (filling a cart inside the order's transaction would hold its SKUs'
//! key-share locks, which the checkout's `for update` waits for).
//!
//! Left out, as not PostgreSQL's part of the write: the token-status call
//! to auth-service and the relay publishing the outbox row (it runs, as in
//! the service, on its own schedule).

use anyhow::ensure;
use common::events::outbox;
use common::events::{CommerceEvent, Envelope, OrderCreated, OrderedItem};
use common::ids::UserId;
use sqlx::PgPool;

use super::{bind, one_line, run, service_query};

/// A SKU of the benchmark's list as a checkout snapshots it.
#[derive(Debug, Clone)]
pub struct SkuLine {
    pub sku_id: i64,
    pub product_id: i64,
    pub name: String,
    pub price_minor: i64,
}

/// The first buyer id the floor uses: far above any customer's, so its
/// buyers never meet the benchmark's.
const FIRST_BUYER: i64 = 2_000_000_000;
/// Buyer ids each pgbench client owns.
const BUYERS_PER_CLIENT: i64 = 10_000_000;
/// Carts filled per client before the run: more than a client checks out
/// in a run (at 2,000 orders/s over 6 clients for 10 s, about 3,300).
const CARTS_PER_CLIENT: i64 = 10_000;

/// Fills every floor buyer's cart (the SKUs the script's `:a` and `:b`
/// pick for that buyer) before the run.
pub async fn fill_carts(db: &PgPool, skus: &[SkuLine], clients: usize) -> anyhow::Result<()> {
    let ids: Vec<i64> = skus.iter().map(|s| s.sku_id).collect();
    sqlx::query(
        "with buyers as (
             select $1 + c * $2 + k as user_id
             from generate_series(0, $3 - 1) c, generate_series(1, $4) k),
         carts_made as (
             insert into carts (user_id, market) select user_id, 'us' from buyers
             on conflict (user_id, market) do update set updated_at = now()
             returning id, user_id)
         insert into cart_items (cart_id, sku_id, quantity)
         select c.id, $5[1 + (c.user_id + line.shift) % cardinality($5)], line.quantity
         from carts_made c, (values (0, 2), (1, 1)) as line (shift, quantity)
         on conflict (cart_id, sku_id) do update set quantity = excluded.quantity",
    )
    .bind(FIRST_BUYER)
    .bind(BUYERS_PER_CLIENT)
    .bind(i64::try_from(clients)?)
    .bind(CARTS_PER_CLIENT)
    .bind(&ids)
    .execute(db)
    .await?;
    Ok(())
}

/// Empties the carts the run left full.
pub async fn empty_carts(db: &PgPool) -> anyhow::Result<()> {
    sqlx::query(
        "delete from cart_items where cart_id in
           (select id from carts where user_id >= $1 and market = 'us')",
    )
    .bind(FIRST_BUYER)
    .execute(db)
    .await?;
    Ok(())
}

/// Orders per second PostgreSQL commits for `clients` connections over
/// `seconds`, in the `us` market priced in `currency`, over `skus`.
pub fn checkout_tps(
    pgbench: &str,
    database_url: &str,
    currency: &str,
    skus: &[SkuLine],
    clients: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    ensure!(skus.len() >= 2, "a checkout floor needs two SKUs");
    run(
        pgbench,
        database_url,
        "checkout",
        &script(currency, skus)?,
        // Each client's order count, which makes its buyers' ids.
        &[("k", "0")],
        clients,
        seconds,
    )
}

/// The pgbench script of one order.
fn script(currency: &str, skus: &[SkuLine]) -> anyhow::Result<String> {
    let array =
        |values: Vec<String>, kind: &str| format!("(array[{}]::{kind}[])", values.join(","));
    let ids = array(
        skus.iter().map(|s| s.sku_id.to_string()).collect(),
        "bigint",
    );
    let products = array(
        skus.iter().map(|s| s.product_id.to_string()).collect(),
        "bigint",
    );
    let names = array(skus.iter().map(|s| literal(&s.name)).collect(), "text");
    let prices = array(
        skus.iter().map(|s| s.price_minor.to_string()).collect(),
        "bigint",
    );
    let pick = |list: &str| format!("array[{list}[1 + :a], {list}[1 + :b]]");
    // A run of its own: keys never seen before, whichever buyers repeat.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let key = format!("'floor-{run_id}-' || :uid");
    let subtotal = format!("({prices}[1 + :a] * 2 + {prices}[1 + :b])");
    let totals = format!("array[{prices}[1 + :a] * 2, {prices}[1 + :b]]");
    let mut script = format!(
        "\\set k :k + 1\n\
         \\set uid {FIRST_BUYER} + :client_id * {BUYERS_PER_CLIENT} + :k\n\
         \\set a :uid % {count}\n\
         \\set b (:a + 1) % {count}\n\
         begin;\n",
        count = skus.len(),
    );
    let statements: [(&str, Vec<String>); 4] = [
        // orders::lock_user_checkouts: the user.
        ("select pg_advisory_xact_lock($1)", vec![":uid".into()]),
        // orders::key_and_pending: the user, the key.
        ("as bound_order", vec![":uid".into(), key.clone()]),
        // orders::lock_checkout_lines: the user, the market.
        ("for update of c, s", vec![":uid".into(), "'us'".into()]),
        // orders::place: the order, its lines, the key, the cart (found by
        // key here, where the service has its id from the locked lines: an
        // index probe more than it makes, so the floor errs low).
        (
            "new_order as (",
            vec![
                ":uid".into(),
                "'us'".into(),
                literal(currency),
                subtotal,
                "null::text".into(),
                "null::jsonb".into(),
                "86400::float8".into(),
                pick(&ids),
                pick(&products),
                pick(&names),
                "array[2, 1]".into(),
                pick(&prices),
                totals,
                key,
                "(select id from carts where user_id = :uid and market = 'us')".into(),
            ],
        ),
    ];
    for (phrase, parameters) in &statements {
        let parameters: Vec<&str> = parameters.iter().map(String::as_str).collect();
        script.push_str(&one_line(&bind(&service_query(phrase)?, &parameters)));
        script.push_str(";\n");
    }
    // The outbox row (common::events::outbox), its payload an order of
    // this shape.
    let event = Envelope::new(sample_order(currency, skus));
    script.push_str(&bind(
        outbox::INSERT,
        &[
            "gen_random_uuid()",
            &literal(event.subject()),
            &format!("{}::jsonb", literal(&serde_json::to_string(&event)?)),
        ],
    ));
    script.push_str(";\ncommit;\n");
    Ok(script)
}

/// An order-created event the size of a floor order's.
fn sample_order(currency: &str, skus: &[SkuLine]) -> CommerceEvent {
    CommerceEvent::OrderCreated(OrderCreated {
        order_id: 1_000_000,
        order_number: "SO-261130-000001".to_owned(),
        user_id: UserId(FIRST_BUYER),
        market: "us".to_owned(),
        currency: currency.to_owned(),
        total_minor: skus[0].price_minor * 2 + skus[1].price_minor,
        items: skus[..2]
            .iter()
            .zip([2, 1])
            .map(|(sku, quantity)| OrderedItem {
                sku_id: sku.sku_id,
                product_id: sku.product_id,
                quantity,
                unit_price_minor: sku.price_minor,
            })
            .collect(),
    })
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::{SkuLine, literal, script};

    #[test]
    fn a_quote_in_a_name_is_doubled() {
        assert_eq!(literal("Bob's kettle"), "'Bob''s kettle'");
    }

    #[test]
    fn the_script_runs_the_services_statements_in_one_transaction() {
        let skus: Vec<SkuLine> = (1..=3)
            .map(|n| SkuLine {
                sku_id: n,
                product_id: 10 + n,
                name: format!("Kettle {n}"),
                price_minor: 1000 * n,
            })
            .collect();
        let script = script("USD", &skus).expect("the statements are in .sqlx/");
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines[4], "begin;");
        assert!(lines[5].contains("pg_advisory_xact_lock(:uid)"));
        assert!(lines[7].contains("for update of c, s"));
        assert!(lines[8].contains("'floor-"));
        assert!(lines[9].starts_with("insert into outbox"));
        assert_eq!(lines.last(), Some(&"commit;"));
        assert!(!script.contains('$'), "every parameter is bound");
    }
}
