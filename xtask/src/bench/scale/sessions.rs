//! How auth-service fares with a million live sessions in its Redis: the
//! refresh rotation (scenario 6) and the token-status check behind every
//! uncached commerce request (scenario 4, commerce-service with the status
//! cache off) are measured, a million sessions are added, and both are
//! measured again; Redis's own count of the memory they take gives the
//! cost of one.
//!
//! The sessions are copies of a real one (the same fields, of the same
//! lengths), made by a script on the benchmark's Redis, which is a single
//! server (the script names keys it was not given, which Redis Cluster
//! would refuse). Each has a user of its own pair (two sessions per user,
//! each user with its index of sessions, as auth-service keeps it), and
//! they are deleted after the measuring.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context as _;
use redis::AsyncCommands as _;

use super::verdict;
use crate::bench::Measure;
use crate::bench::scenarios::Scenario;
use crate::bench::stack::Bench;

const SESSIONS: u64 = 1_000_000;
const QUICK_SESSIONS: u64 = 20_000;
/// Sessions made per script call (each call holds Redis for some 10 ms).
const BATCH: u64 = 10_000;
/// The made sessions' users' ids start here, far from real ones.
const FIRST_USER: u64 = 800_000_000;
/// Target: at most this many bytes of Redis memory per live session.
const BYTES_PER_SESSION: f64 = 1024.0;
/// Target: with the sessions present, each rate at least the empty case's
/// divided by this.
const ALLOWED_SLOWDOWN: f64 = 1.2;

/// Copies the session `template` (its fields as name, value pairs) as
/// sessions `first` to `first + count - 1` (ids `5ca1e...`), two per user.
const COPY_SESSIONS: &str = r"
local prefix, first, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local first_user, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
for n = first, first + count - 1 do
  local sid = '5ca1e000000000000000' .. string.format('%012x', n)
  local uid = tostring(first_user + math.floor(n / 2))
  local values = {}
  for i = 6, #ARGV, 2 do
    local name, value = ARGV[i], ARGV[i + 1]
    if name == 'uid' then
      value = uid
    elseif name == 'rt' then
      value = string.format('%012x', n) .. string.sub(value, 13)
    end
    values[#values + 1] = name
    values[#values + 1] = value
  end
  local key = prefix .. ':{s:' .. sid .. '}'
  redis.call('HSET', key, unpack(values))
  redis.call('PEXPIRE', key, ttl)
  local index = prefix .. ':{u:' .. uid .. '}:sessions'
  redis.call('SADD', index, sid)
  redis.call('PEXPIRE', index, ttl)
end
return count
";

/// Deletes what `COPY_SESSIONS` made for sessions `first` to
/// `first + count - 1`.
const DELETE_SESSIONS: &str = r"
local prefix, first, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local first_user = tonumber(ARGV[4])
for n = first, first + count - 1 do
  local sid = '5ca1e000000000000000' .. string.format('%012x', n)
  redis.call('DEL', prefix .. ':{s:' .. sid .. '}')
  redis.call('DEL', prefix .. ':{u:' .. tostring(first_user + math.floor(n / 2)) .. '}:sessions')
end
return count
";

pub async fn measure(bench: &Bench, db: &sqlx::PgPool) -> anyhow::Result<String> {
    let config = &bench.stack.config;
    let client = redis::Client::open(config.redis_url.as_str())?;
    let mut redis = client.get_multiplexed_async_connection().await?;
    let prefix = config.redis_key_prefix.clone();
    let before = measure_both(bench, db).await?;
    let template = a_live_session(&mut redis, &prefix).await?;
    let ttl: i64 = redis.pttl(&template.0).await?;
    let count = if bench.options.quick {
        QUICK_SESSIONS
    } else {
        SESSIONS
    };
    let used_before = used_memory(&mut redis).await?;
    let started = Instant::now();
    let copy = redis::Script::new(COPY_SESSIONS);
    for first in (0..count).step_by(BATCH as usize) {
        let mut invocation = copy.prepare_invoke();
        invocation
            .arg(&prefix)
            .arg(first)
            .arg(BATCH.min(count - first))
            .arg(FIRST_USER)
            .arg(ttl.max(600_000));
        for (name, value) in &template.1 {
            invocation.arg(name).arg(value);
        }
        invocation.invoke_async::<u64>(&mut redis).await?;
    }
    let made_in_s = started.elapsed().as_secs_f64();
    let used_after = used_memory(&mut redis).await?;
    eprintln!("bench --scale: {count} more sessions ({made_in_s:.0} s to make)");
    let after = measure_both(bench, db).await;
    let delete = redis::Script::new(DELETE_SESSIONS);
    for first in (0..count).step_by(BATCH as usize) {
        delete
            .prepare_invoke()
            .arg(&prefix)
            .arg(first)
            .arg(BATCH.min(count - first))
            .arg(FIRST_USER)
            .invoke_async::<u64>(&mut redis)
            .await?;
    }
    let bytes_per_session = used_after.saturating_sub(used_before) as f64 / count as f64;
    section(
        &before,
        &after?,
        count,
        bytes_per_session,
        bench.options.runs,
    )
}

/// Refresh (6) and token-status (4), the median run of each.
async fn measure_both(bench: &Bench, db: &sqlx::PgPool) -> anyhow::Result<[Measure; 2]> {
    let mut both = [Vec::new(), Vec::new()];
    for _ in 0..bench.options.runs {
        for (runs, scenario) in both
            .iter_mut()
            .zip([Scenario::Refresh, Scenario::CartCacheOff])
        {
            runs.push(scenario.run(bench, db).await?);
        }
    }
    Ok(both.map(super::orders::median_run))
}

/// A session auth-service made at a login: its key and its fields.
async fn a_live_session(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let pattern = format!("{prefix}:{{s:*");
    let mut keys = redis.scan_match::<_, String>(&pattern).await?;
    let key = futures::StreamExt::next(&mut keys)
        .await
        .context("no session in Redis to copy")??;
    drop(keys);
    let fields: Vec<(String, String)> = redis.hgetall(&key).await?;
    Ok((key, fields))
}

/// Redis's `used_memory`.
async fn used_memory(redis: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(redis).await?;
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .context("no used_memory in INFO memory")
}

fn section(
    before: &[Measure; 2],
    after: &[Measure; 2],
    count: u64,
    bytes_per_session: f64,
    runs: usize,
) -> anyhow::Result<String> {
    let mut md = format!(
        "### Sessions\n\n\
         {count} sessions added to auth-service's Redis (copies of a real one: the same fields, \
         two sessions per user, each user with its index); Redis's `used_memory` grew by \
         {bytes_per_session:.0} bytes per session. Refresh is scenario 6, token-status is \
         scenario 4 (commerce-service with the status cache off asks auth-service on every \
         request). Median of {runs} run(s).\n\n\
         | sessions | refresh req/s, p50 / p99 ms | token-status (cart read, cache off) req/s, p50 / p99 ms |\n\
         |---|---|---|\n"
    );
    let added = format!("+ {count}");
    for (label, both) in [("the benchmark's", before), (added.as_str(), after)] {
        writeln!(
            md,
            "| {label} | {:.0}, {:.2} / {:.2} | {:.0}, {:.2} / {:.2} |",
            both[0].rps(),
            both[0].p50_ms,
            both[0].p99_ms,
            both[1].rps(),
            both[1].p50_ms,
            both[1].p99_ms,
        )?;
    }
    writeln!(
        md,
        "\n- {} Redis memory per live session at most {BYTES_PER_SESSION:.0} bytes: {bytes_per_session:.0}",
        verdict(bytes_per_session <= BYTES_PER_SESSION)
    )?;
    for (index, what) in ["refresh", "token-status"].iter().enumerate() {
        let slowdown = before[index].rps() / after[index].rps().max(0.001);
        writeln!(
            md,
            "- {} {what} with {count} sessions within {ALLOWED_SLOWDOWN}x of without: {slowdown:.2}x",
            verdict(slowdown <= ALLOWED_SLOWDOWN)
        )?;
    }
    Ok(md)
}
