//! PostgreSQL's own floor for a write: `pgbench` running the very
//! statements commerce-service sends for it (a cart add here, a checkout in
//! `checkout.rs`).
//!
//! A cart add's floor: `pgbench` running the very
//! statements commerce-service sends for one, taken from its `.sqlx/`
//! query data (so they cannot drift from the service's), each committed on
//! its own as the service's are, bound to what a request binds: an adder's
//! user id, the `us` market, a SKU of the benchmark's list, quantity 1,
//! then the cart read, then the version's compare-and-set with fresh
//! digests. With the service's pool size as clients and nothing else on
//! the wire, it is what PostgreSQL alone does on this machine.

pub mod checkout;

use std::fs;

use anyhow::{Context as _, ensure};

/// The statements of one cart add, in order, each found by a phrase only
/// it has, with its `$n` parameters replaced by pgbench variables or SQL.
const CART_ADD: [(&str, &[&str]); 3] = [
    // carts::add_if_sellable: user, market, SKU, quantity.
    (
        "select $1, $2 from sellable where priced",
        &[":uid", "'us'", SKU, "1"],
    ),
    // carts::snapshot (the answer's read): no id, user, market.
    (CART_READ, &["null::bigint", ":uid", "'us'"]),
    // carts::advance_version: the cart's id and version (found by key here,
    // where the service has them from the read: two index probes more than
    // it makes, so the floor errs low), two new digests.
    (
        "set version = version + 1,",
        &[
            "(select id from carts where user_id = :uid and market = 'us')",
            "(select version from carts where user_id = :uid and market = 'us')",
            DIGEST,
            DIGEST,
        ],
    ),
];

/// The phrase only commerce-service's cart read (`carts::snapshot`) has.
pub const CART_READ: &str = "where id = $1 or (user_id = $2 and market = $3)";

/// One SKU of the benchmark's list, drawn by the script's `:pick`.
const SKU: &str = "(:skus)[1 + :pick]";
/// A fresh 32-byte digest, as a changed cart's.
const DIGEST: &str = "sha256(random()::text::bytea)";

/// Cart adds per second PostgreSQL sustains for `clients` connections over
/// `seconds`, for users in `users` (first, last) and SKUs `skus`.
pub fn cart_add_tps(
    pgbench: &str,
    database_url: &str,
    users: (i64, i64),
    skus: &[i64],
    clients: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    ensure!(!skus.is_empty(), "no SKUs to add");
    let mut script = format!(
        "\\set uid random({}, {})\n\\set pick random(0, {})\n",
        users.0,
        users.1,
        skus.len() - 1
    );
    let sku_array = format!(
        "array[{}]::bigint[]",
        skus.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    for (phrase, parameters) in CART_ADD {
        let statement = bind(&service_query(phrase)?, parameters).replace(":skus", &sku_array);
        script.push_str(&one_line(&statement));
        script.push_str(";\n");
    }
    run(
        pgbench,
        database_url,
        "cart_add",
        &script,
        &[],
        clients,
        seconds,
    )
}

/// Transactions per second of pgbench running `script` (named `name` in
/// its temporary file) from `clients` connections for `seconds`, with
/// prepared statements, as the services use, and each client's variables
/// starting at `defines`.
pub fn run(
    pgbench: &str,
    database_url: &str,
    name: &str,
    script: &str,
    defines: &[(&str, &str)],
    clients: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    let file = std::env::temp_dir().join(format!("{name}_floor_{}.sql", std::process::id()));
    fs::write(&file, script)?;
    let output = std::process::Command::new(pgbench)
        .args(["-n", "-M", "prepared", "-j", "2"])
        .arg(format!("-c{clients}"))
        .arg(format!("-T{seconds}"))
        .args(
            defines
                .iter()
                .map(|(name, value)| format!("-D{name}={value}")),
        )
        .arg("-f")
        .arg(&file)
        .arg(database_url)
        .output()
        .context("running pgbench")?;
    let _ = fs::remove_file(&file);
    let text = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    tps_of(&text).with_context(|| format!("no tps in pgbench's output: {text}"))
}

/// The one query of commerce-service's `.sqlx/` data that has `phrase`.
pub fn service_query(phrase: &str) -> anyhow::Result<String> {
    service_query_with(&[phrase])
}

/// The one query of commerce-service's `.sqlx/` data that has every one of
/// `phrases`.
pub fn service_query_with(phrases: &[&str]) -> anyhow::Result<String> {
    let dir = crate::workspace_root().join("commerce-service/.sqlx");
    let mut found = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let text = fs::read_to_string(entry?.path())?;
        let data: serde_json::Value = serde_json::from_str(&text)?;
        let has_all = |query: &&str| phrases.iter().all(|phrase| query.contains(phrase));
        if let Some(query) = data["query"].as_str().filter(has_all) {
            found.push(query.to_owned());
        }
    }
    ensure!(
        found.len() == 1,
        "{} queries of commerce-service's .sqlx/ have {phrases:?}, not one",
        found.len()
    );
    Ok(found.remove(0))
}

/// `query` with `$1`, `$2`, ... replaced by `parameters` (the highest
/// first, so that `$1` never eats the start of `$10`).
pub fn bind(query: &str, parameters: &[&str]) -> String {
    let mut bound = query.to_owned();
    for (index, value) in parameters.iter().enumerate().rev() {
        bound = bound.replace(&format!("${}", index + 1), value);
    }
    bound
}

/// A statement on one line (as pgbench reads them), its `--` comments
/// dropped (the statements have no `--` inside a string).
pub fn one_line(statement: &str) -> String {
    statement
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `tps = 1234.5 (without initial connection time)` in pgbench's report.
pub fn tps_of(report: &str) -> Option<f64> {
    report
        .lines()
        .find(|line| line.starts_with("tps"))
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|value| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::{bind, one_line, tps_of};

    #[test]
    fn parameters_are_bound_highest_first() {
        let query = "select $1, $10, $2";
        let values: Vec<String> = (1..=10).map(|n| format!("v{n}")).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(bind(query, &values), "select v1, v10, v2");
    }

    #[test]
    fn a_statement_is_put_on_one_line_without_its_comments() {
        let statement = "with a as (\n  select 1 -- why\n), b as (select 2)\nselect * from a";
        assert_eq!(
            one_line(statement),
            "with a as ( select 1 ), b as (select 2) select * from a"
        );
    }

    #[test]
    fn the_rate_is_read_from_pgbenchs_report() {
        let report = "number of failed transactions: 0 (0.000%)\n\
            latency average = 1.2 ms\n\
            tps = 4321.5 (without initial connection time)\n";
        assert_eq!(tps_of(report), Some(4321.5));
        assert_eq!(tps_of("nothing"), None);
    }
}
