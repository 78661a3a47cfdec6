//! What is measured besides the answers: each process's CPU time and peak
//! memory from `/proc`, counters from `/metrics`, PostgreSQL's and Redis's
//! own floors, the verifier micro-benchmark, and tool versions.

use std::collections::BTreeMap;
use std::fs;

use crate::stack::StackConfig;

/// User + system CPU seconds of a process and its direct children so far
/// (nginx's work is done by the worker processes of its master).
pub fn cpu_seconds(pid: u32) -> f64 {
    let children: f64 = fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
                .filter(|child| parent_of(*child) == Some(pid))
                .map(own_cpu_seconds)
                .sum()
        })
        .unwrap_or(0.0);
    own_cpu_seconds(pid) + children
}

fn stat_fields(pid: u32) -> Vec<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    rest.split_whitespace().map(str::to_owned).collect()
}

/// The PostgreSQL server process behind `pool` (the parent of one of its
/// backends), when it runs on this machine.
pub async fn postgres_server_pid(pool: &sqlx::PgPool) -> Option<u32> {
    let backend: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(pool)
        .await
        .ok()?;
    parent_of(u32::try_from(backend).ok()?)
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid).get(1)?.parse().ok()
}

fn own_cpu_seconds(pid: u32) -> f64 {
    let fields = stat_fields(pid);
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory (VmHWM) in MiB, then reset so the next scenario has its own peak.
pub fn take_peak_rss(pid: u32) -> f64 {
    let peak = memory_mib(pid, "VmHWM:");
    let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
    peak
}

/// Resident memory now (VmRSS) in MiB.
pub fn resident_mib(pid: u32) -> f64 {
    memory_mib(pid, "VmRSS:")
}

/// One memory line of `/proc/<pid>/status` (given in KiB), in MiB.
fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A counter's total over all its label sets in Prometheus text.
pub fn counter_total(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter(|line| line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// PostgreSQL's `pgbench`, when installed.
pub fn pgbench() -> Option<&'static str> {
    [
        "pgbench",
        "/usr/lib/postgresql/15/bin/pgbench",
        "/usr/lib/postgresql/16/bin/pgbench",
    ]
    .into_iter()
    .find(|p| {
        std::process::Command::new(p)
            .arg("--version")
            .output()
            .is_ok()
    })
}

/// PostgreSQL's and Redis's own floors on this machine, when their
/// benchmark tools are installed.
pub async fn floors(config: &StackConfig) -> BTreeMap<&'static str, f64> {
    let mut floors = BTreeMap::new();
    if let Some(pgbench) = pgbench() {
        let url = format!("{}/bench_commerce", config.postgres_url);
        let _ = std::process::Command::new(pgbench)
            .args(["-i", "-q", "-s", "1", &url])
            .output();
        if let Ok(out) = std::process::Command::new(pgbench)
            .args(["-S", "-c", "16", "-j", "2", "-T", "5", &url])
            .output()
            && let Some(tps) = super::pg_floor::tps_of(&String::from_utf8_lossy(&out.stdout))
        {
            floors.insert("postgresql_select_tps", tps);
        }
    }
    if let Ok(out) = std::process::Command::new("redis-benchmark")
        .args(["-q", "-t", "get", "-n", "200000", "-c", "64"])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(rps) = text
            .split(['\r', '\n'])
            .filter(|l| l.starts_with("GET:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .next_back()
        {
            floors.insert("redis_get_rps", rps);
        }
    }
    floors
}

/// Scenario 11: `common`'s verifier, first sight and cached, both
/// algorithms (criterion), as nanoseconds per verification.
pub fn verifier_micro_benchmark(quick: bool) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut args = vec!["bench", "-p", "common", "--bench", "verifier", "--"];
    if quick {
        args.extend(["--warm-up-time", "0.2", "--measurement-time", "0.5"]);
    }
    let Ok(output) =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(crate::workspace_root())
            .args(&args)
            .output()
    else {
        return out;
    };
    // Criterion prints `verifier/eddsa_cached   time:   [61.2 ns 61.5 ns 61.9 ns]`.
    let text = String::from_utf8_lossy(&output.stdout);
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line
            .split_whitespace()
            .next()
            .filter(|n| n.starts_with("verifier/"))
        {
            current = Some(name.trim_start_matches("verifier/").to_owned());
        }
        if let (Some(name), Some(times)) = (&current, line.split_once("time:").map(|(_, t)| t)) {
            let parts: Vec<&str> = times
                .trim()
                .trim_matches(['[', ']'])
                .split_whitespace()
                .collect();
            if let (Some(value), Some(unit)) = (
                parts.get(2).and_then(|v| v.parse::<f64>().ok()),
                parts.get(3),
            ) {
                let scale = match *unit {
                    "ps" => 0.001,
                    "ns" => 1.0,
                    "µs" | "us" => 1_000.0,
                    "ms" => 1_000_000.0,
                    _ => 1.0,
                };
                out.insert(name.clone(), value * scale);
                current = None;
            }
        }
    }
    out
}

/// The first line a tool prints about its version (stdout or stderr).
pub fn version_of(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|out| {
            let text = [out.stdout, out.stderr].concat();
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|_| format!("{program}: not found"))
}

#[cfg(test)]
mod tests {
    use super::counter_total;

    #[test]
    fn a_counter_is_summed_over_its_label_sets_only() {
        let metrics = "# TYPE token_status_requests_total counter\n\
            token_status_requests_total{outcome=\"active\"} 40\n\
            token_status_requests_total{outcome=\"revoked\"} 2\n\
            token_status_requests_total_created 99\n\
            other_total 7\n";
        assert_eq!(counter_total(metrics, "token_status_requests_total"), 42);
        assert_eq!(counter_total(metrics, "missing_total"), 0);
    }
}
