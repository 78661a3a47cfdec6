//! The report: medians over runs, each target of the benchmark issue judged
//! met or missed, `bench/REPORT.md` (with the hand-written
//! `bench/FINDINGS.md` appended) and `bench/results.json`.

use std::collections::BTreeMap;
use std::fs;

use serde_json::json;

use super::probes::version_of;
use super::revocation::{CallRate, Latency};
use super::scenarios::Scenario;
use super::stack::{DATABASE_CONNECTIONS, STATUS_CACHE_TTL_MS};
use super::{BenchOptions, Measure};

/// Every run's measures, by scenario.
pub type Results = BTreeMap<Scenario, Vec<Measure>>;

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The median over runs of one figure of one scenario.
fn median_of(results: &Results, scenario: Scenario, figure: impl Fn(&Measure) -> f64) -> f64 {
    let mut values: Vec<f64> = results
        .get(&scenario)
        .map(|measures| measures.iter().map(figure).collect())
        .unwrap_or_default();
    median(&mut values)
}

/// One target of the issue, judged on the medians.
struct Target {
    name: &'static str,
    met: bool,
    seen: String,
}

fn judge_targets(
    options: &BenchOptions,
    results: &Results,
    floors: &BTreeMap<&'static str, f64>,
    sessions: usize,
) -> Vec<Target> {
    let rps = |s: Scenario| median_of(results, s, Measure::rps);
    let p99 = |s: Scenario| median_of(results, s, |m| m.p99_ms);
    let commerce_cpu = median_of(results, Scenario::CartWarmCache, |m| {
        m.cpu_us_per_request
            .get("commerce-service")
            .copied()
            .unwrap_or(0.0)
    });
    // Each session may be asked about once per TTL, plus once at the start.
    let status_bound = sessions as u64
        * ((options.seconds * 1000.0 / STATUS_CACHE_TTL_MS as f64).ceil() as u64 + 1);
    let status_calls = results
        .get(&Scenario::CartWarmCache)
        .and_then(|m| m.iter().filter_map(|m| m.token_status_calls).max())
        .unwrap_or(0);
    let peak_rss = results
        .values()
        .flatten()
        .flat_map(|m| m.peak_rss_mib.values().copied())
        .fold(0.0, f64::max);
    let failures: u64 = results.values().flatten().map(|m| m.non_2xx).sum();
    let ratio = |a: Scenario, b: Scenario| rps(a) / rps(b).max(1.0);
    let floor_cpu = |s: Scenario| {
        median_of(results, s, |m| {
            m.cpu_us_per_request.get("floor").copied().unwrap_or(0.0)
        })
    };
    let at_least = |name: &'static str, scenario: Scenario, floor: f64| Target {
        name,
        met: rps(scenario) >= floor,
        seen: format!("{:.0}/s", rps(scenario)),
    };
    // A write's target, shown beside PostgreSQL's own rate for its
    // statements (`floors[key]`, what pgbench ran described by `ran`).
    let beside_postgres = |name: &'static str, scenario: Scenario, target: f64, key, ran| Target {
        name,
        met: rps(scenario) >= target,
        seen: match floors.get(key) {
            Some(floor) => format!(
                "{:.0}/s; PostgreSQL alone, running {ran} from {DATABASE_CONNECTIONS} pgbench clients: {floor:.0}/s",
                rps(scenario)
            ),
            None => format!("{:.0}/s (pgbench not installed: no floor)", rps(scenario)),
        },
    };
    vec![
        at_least(
            "scenario 3: at least 10,000 req/s",
            Scenario::CartWarmCache,
            10_000.0,
        ),
        Target {
            name: "scenario 3: p99 at most 15 ms",
            met: p99(Scenario::CartWarmCache) <= 15.0,
            seen: format!("{:.2} ms", p99(Scenario::CartWarmCache)),
        },
        Target {
            name: "scenario 3: at most one token-status call per session per cache TTL",
            met: status_calls <= status_bound,
            seen: format!(
                "{status_calls} calls for {sessions} sessions over {} s at TTL {STATUS_CACHE_TTL_MS} ms (bound {status_bound})",
                options.seconds
            ),
        },
        at_least(
            "scenario 5: at least 5,000 req/s",
            Scenario::CartAdd,
            5_000.0,
        ),
        at_least(
            "scenario 6: at least 8,000 req/s",
            Scenario::Refresh,
            8_000.0,
        ),
        at_least(
            "scenario 7: at least 2,000 logins/s",
            Scenario::PhoneLogin,
            2_000.0,
        ),
        // The run fails before the report when stock and orders disagree.
        beside_postgres(
            "scenario 8: at least 1,000 orders/s (stock and orders matched exactly), or PostgreSQL's own floor for its statements shown",
            Scenario::Checkout,
            1_000.0,
            "postgresql_checkout_tps",
            "its statements in one transaction",
        ),
        Target {
            name: "commerce CPU per cart read at most 80 µs",
            met: commerce_cpu <= 80.0,
            seen: format!("{commerce_cpu:.0} µs"),
        },
        Target {
            name: "peak RSS of each service at most 64 MiB",
            met: peak_rss <= 64.0,
            seen: format!("{peak_rss:.1} MiB at most"),
        },
        Target {
            name: "the gateway costs at most 30% of scenario 3's throughput",
            met: rps(Scenario::CartThroughGateway) >= 0.7 * rps(Scenario::CartWarmCache),
            seen: format!(
                "{:.0}% lower",
                (1.0 - rps(Scenario::CartThroughGateway) / rps(Scenario::CartWarmCache).max(1.0))
                    * 100.0
            ),
        },
        Target {
            name: "catalog: the products page through the gateway at least 0.5x the gateway's own /healthz",
            met: ratio(Scenario::ProductsThroughGateway, Scenario::GatewayHealthz) >= 0.5,
            seen: format!(
                "{:.0}/s against {:.0}/s: {:.2}x",
                rps(Scenario::ProductsThroughGateway),
                rps(Scenario::GatewayHealthz),
                ratio(Scenario::ProductsThroughGateway, Scenario::GatewayHealthz)
            ),
        },
        Target {
            name: "cart read (3) at least 0.8x the floor handler (13)",
            met: ratio(Scenario::CartWarmCache, Scenario::Floor) >= 0.8,
            seen: format!(
                "{:.0}/s against {:.0}/s: {:.2}x (against the floor with verified tokens cached, 14: {:.2}x)",
                rps(Scenario::CartWarmCache),
                rps(Scenario::Floor),
                ratio(Scenario::CartWarmCache, Scenario::Floor),
                ratio(Scenario::CartWarmCache, Scenario::FloorTokensCached)
            ),
        },
        Target {
            name: "commerce CPU per cart read at most 1.3x the floor handler's",
            met: commerce_cpu <= 1.3 * floor_cpu(Scenario::Floor),
            seen: format!(
                "{commerce_cpu:.0} µs against {:.0} µs: {:.2}x (against 14: {:.0} µs, {:.2}x)",
                floor_cpu(Scenario::Floor),
                commerce_cpu / floor_cpu(Scenario::Floor).max(1.0),
                floor_cpu(Scenario::FloorTokensCached),
                commerce_cpu / floor_cpu(Scenario::FloorTokensCached).max(1.0)
            ),
        },
        at_least(
            "login of a returning customer at least 2x 1,331/s (2,662 logins/s)",
            Scenario::PhoneLogin,
            2_662.0,
        ),
        at_least(
            "first login (sign-up) at least 2x 1,331/s (2,662 logins/s)",
            Scenario::SignUp,
            2_662.0,
        ),
        beside_postgres(
            "cart add at least 4,000/s (or PostgreSQL's own floor for its statements shown)",
            Scenario::CartAdd,
            4_000.0,
            "postgresql_cart_add_tps",
            "its three statements",
        ),
        Target {
            name: "no failed answers where nothing should fail",
            met: failures == 0,
            seen: format!("{failures} non-2xx"),
        },
    ]
}

pub fn write_report(
    options: &BenchOptions,
    results: &Results,
    floors: &BTreeMap<&'static str, f64>,
    micro: &BTreeMap<String, f64>,
    revocation: &(Vec<Latency>, Vec<CallRate>),
    sessions: usize,
) -> anyhow::Result<()> {
    let dir = crate::workspace_root().join("bench");
    fs::create_dir_all(&dir)?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = version_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let versions = [
        version_of("rustc", &["--version"]),
        version_of("wrk", &["--version"]),
        version_of("nginx", &["-v"]),
        version_of("psql", &["--version"]),
        version_of("redis-server", &["--version"]),
    ];
    let healthz = median_of(results, Scenario::Healthz, Measure::rps);
    let pg_floor = floors.get("postgresql_select_tps").copied().unwrap_or(0.0);
    let redis_floor = floors.get("redis_get_rps").copied().unwrap_or(0.0);
    let ratio = |rps: f64, floor: f64| {
        if floor > 0.0 {
            format!("{:.2}", rps / floor)
        } else {
            "-".to_owned()
        }
    };
    let mut json_scenarios = Vec::new();
    let mut md = format!(
        "# Benchmark report\n\n`cargo xtask bench` on {date}: {cores} cores, the load generator on the same \
         machine (loopback). {}.\n\nEach scenario: {} s, {} connections, median of {} run(s){}. \
         Scenarios 1-6, 9 and 11-14 are driven by wrk (`bench/wrk/*.lua`), 7, 8, 10 and 15 by xtask's own client. \
         The services log at `RUST_LOG=info` with {DATABASE_CONNECTIONS} database connections each. \
         CPU is user + system time of each service's process (and of PostgreSQL's server with its backends) from /proc over the scenario, divided by its requests \
         (7 and 15: per login; 8: per order).\n\n\
         | scenario | req/s | × healthz | × pgbench -S | × redis GET | p50 ms | p99 ms | non-2xx | CPU µs/req (auth / commerce or floor / gateway / PostgreSQL) | peak RSS MiB (auth / commerce or floor) | token-status calls |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        versions.join("; "),
        options.seconds,
        options.connections,
        options.runs,
        if options.quick {
            " (quick smoke mode: numbers are not meaningful)"
        } else {
            ""
        }
    );
    for scenario in Scenario::ALL {
        let Some(measures) = results.get(&scenario) else {
            continue;
        };
        let name = scenario.name();
        let rps = median_of(results, scenario, Measure::rps);
        let cpu = |service: &'static str| {
            median_of(results, scenario, |m| {
                m.cpu_us_per_request.get(service).copied().unwrap_or(0.0)
            })
        };
        let rss = |service: &'static str| {
            median_of(results, scenario, |m| {
                m.peak_rss_mib.get(service).copied().unwrap_or(0.0)
            })
        };
        let commerce_key = scenario.commerce_process();
        let calls = measures.iter().filter_map(|m| m.token_status_calls).max();
        let non_2xx: u64 = measures.iter().map(|m| m.non_2xx).sum();
        let p50 = median_of(results, scenario, |m| m.p50_ms);
        let p99 = median_of(results, scenario, |m| m.p99_ms);
        md.push_str(&format!(
            "| {name} | {rps:.0} | {:.2} | {} | {} | {p50:.2} | {p99:.2} | {non_2xx} | {:.0} / {:.0} / {:.0} / {:.0} | {:.1} / {:.1} | {} |\n",
            if healthz > 0.0 { rps / healthz } else { 0.0 },
            ratio(rps, pg_floor),
            ratio(rps, redis_floor),
            cpu("auth-service"),
            cpu(commerce_key),
            cpu("gateway"),
            cpu("postgres"),
            rss("auth-service"),
            rss(commerce_key),
            calls.map_or("-".to_owned(), |c| c.to_string()),
        ));
        json_scenarios.push(json!({
            "scenario": name,
            "requests_per_second": rps,
            "p50_ms": p50,
            "p99_ms": p99,
            "non_2xx": non_2xx,
            "cpu_us_per_request": {"auth": cpu("auth-service"), "commerce": cpu(commerce_key), "gateway": cpu("gateway"), "postgres": cpu("postgres")},
            "peak_rss_mib": {"auth": rss("auth-service"), "commerce": rss(commerce_key)},
            "token_status_calls": calls,
            "runs": measures.iter().map(|m| json!({"rps": m.rps(), "p50_ms": m.p50_ms, "p99_ms": m.p99_ms, "non_2xx": m.non_2xx})).collect::<Vec<_>>(),
        }));
    }
    md.push_str("\nFloors measured in the same run (`pgbench -S -c 16 -j 2 -T 5`; a cart add's three statements and a checkout's transaction from commerce-service's `.sqlx/`, `pgbench -M prepared -c 6 -j 2 -T 10`; `redis-benchmark -t get -c 64`): ");
    md.push_str(
        &floors
            .iter()
            .map(|(k, v)| format!("{k} = {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if floors.is_empty() {
        md.push_str(
            "none (install `postgresql-contrib`'s pgbench and `redis-tools` to measure them)",
        );
    }
    md.push_str(&format!(
        "\n\n{}. Verifier micro-benchmark (criterion, ns per verification): ",
        super::MICRO
    ));
    md.push_str(
        &micro
            .iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let (pushed, pushed_json, pushed_targets) = super::revocation::report(revocation);
    md.push_str(&pushed);
    md.push_str("\n\n## Targets\n\n");
    let mut targets = judge_targets(options, results, floors, sessions);
    targets.extend(
        pushed_targets
            .into_iter()
            .map(|(name, met, seen)| Target { name, met, seen }),
    );
    for target in &targets {
        md.push_str(&format!(
            "- {} {}: {}\n",
            if target.met { "met:" } else { "MISSED:" },
            target.name,
            target.seen
        ));
    }
    md.push_str(&kept_sections(&dir));
    fs::write(dir.join("REPORT.md"), &md)?;
    let json = json!({
        "cores": cores, "date": date, "versions": versions,
        "targets": targets.iter().map(|t| json!({"target": t.name, "met": t.met, "seen": t.seen})).collect::<Vec<_>>(),
        "seconds": options.seconds, "connections": options.connections, "runs": options.runs, "quick": options.quick,
        "floors": floors, "verifier_ns": micro, "scenarios": json_scenarios,
        "pushed_revocation": pushed_json,
    });
    fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    println!("{md}");
    Ok(())
}

/// What REPORT.md carries under the numbers of the last run: the last
/// scale run's section (`bench/SCALE.md`), then the analysis (profiles,
/// changes with before and after, what is left), written by hand.
fn kept_sections(dir: &std::path::Path) -> String {
    let mut kept = String::new();
    for file in ["SCALE.md", "FINDINGS.md"] {
        if let Ok(text) = fs::read_to_string(dir.join(file)) {
            kept.push('\n');
            kept.push_str(&text);
        }
    }
    kept
}

/// Puts a new `bench/SCALE.md` into REPORT.md, keeping the numbers above it.
pub fn splice_scale(dir: &std::path::Path) -> anyhow::Result<()> {
    let report = fs::read_to_string(dir.join("REPORT.md")).unwrap_or_default();
    let numbers_end = ["\n## How cost grows", "\n## Profiles, changes"]
        .iter()
        .filter_map(|heading| report.find(heading))
        .min()
        .unwrap_or(report.len());
    let mut spliced = report[..numbers_end].trim_end().to_owned();
    spliced.push('\n');
    spliced.push_str(&kept_sections(dir));
    fs::write(dir.join("REPORT.md"), spliced)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_is_the_middle_run() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut []), 0.0);
    }
}
