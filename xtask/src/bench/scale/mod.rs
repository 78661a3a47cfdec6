//! `cargo xtask bench --scale`: how cost grows as the shop does. On the
//! benchmark's stack, once its customers are prepared:
//!
//! - the catalog grown to a million products (`catalog.rs`);
//! - the order history grown to a million orders over 100,000 customers
//!   (`orders.rs`);
//! - a million live sessions in auth-service's Redis (`sessions.rs`).
//!
//! Each part measures before and after it grows, and says which of issue
//! 19's targets are met. Writes `bench/SCALE.md`, and its section of
//! `bench/REPORT.md`; not part of CI.

mod caches;
mod catalog;
mod orders;
mod sessions;

use std::fs;

use anyhow::Context as _;
use sqlx::PgPool;

use super::Measure;
use super::stack::Bench;

pub async fn run(bench: &Bench, db: &PgPool) -> anyhow::Result<()> {
    let mut md = format!(
        "## How cost grows (`cargo xtask bench --scale`)\n\n\
         Run on {}. Each part grows one thing a thousandfold on the benchmark's stack and measures \
         before and after; figures are comparable within a part only.\n\n",
        super::probes::version_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    );
    md.push_str(&catalog::measure(bench, db).await?);
    md.push('\n');
    md.push_str(&orders::measure(bench, db).await?);
    md.push('\n');
    md.push_str(&sessions::measure(bench, db).await?);
    let dir = crate::workspace_root().join("bench");
    if !bench.options.quick {
        fs::write(dir.join("SCALE.md"), &md)?;
        super::report::splice_scale(&dir)?;
    }
    println!("{md}");
    Ok(())
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of each `(what, statement)`: its plan as
/// text.
async fn explain(
    db: &PgPool,
    statements: &[(&str, String)],
) -> anyhow::Result<Vec<(String, String)>> {
    // Planned as the services' connections plan (common::db's settings),
    // in a transaction that is rolled back.
    let mut tx = db.begin().await?;
    for (name, value) in common::db::SESSION_SETTINGS {
        sqlx::query("select set_config($1, $2, true)")
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
    }
    let mut plans = Vec::new();
    for (what, statement) in statements {
        let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "explain (analyze, buffers) {statement}"
        )))
        .fetch_all(&mut *tx)
        .await
        .with_context(|| format!("explaining the {what}"))?;
        plans.push(((*what).to_owned(), lines.join("\n")));
    }
    tx.rollback().await?;
    Ok(plans)
}

/// Plans as collapsed sections of the report.
fn plans_md(heading: &str, plans: &[(String, String)]) -> String {
    plans
        .iter()
        .map(|(what, plan)| {
            format!(
                "\n<details><summary>{heading}, {what}</summary>\n\n```\n{plan}\n```\n</details>\n"
            )
        })
        .collect()
}

/// The run with the median rate.
fn median_run(mut runs: Vec<Measure>) -> Measure {
    runs.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
    runs.swap_remove(runs.len() / 2)
}

/// `met:` or `MISSED:`.
fn verdict(met: bool) -> &'static str {
    if met { "met:" } else { "MISSED:" }
}
