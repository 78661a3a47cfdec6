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

use super::caches::CacheMemory;
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

/// Session `n`'s id: `5ca1e`, zeros, and `n` in hex (as the scripts spell
/// it).
pub fn session_id(n: u64) -> uuid::Uuid {
    uuid::Uuid::from_u128((0x5ca1e_u128 << 108) | u128::from(n))
}

/// Session `n`'s user: two sessions each.
pub fn user_of(n: u64) -> u64 {
    FIRST_USER + n / 2
}

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
    // Their users exist and are active, as a session's user is.
    let auth_db =
        sqlx::PgPool::connect(&format!("{}/{}", config.postgres_url, config.auth_database)).await?;
    sqlx::query(
        "insert into users (id, phone, market) overriding system value
         select $1 + k, '+4479' || lpad(k::text, 8, '0'), 'us' from generate_series(0, $2 - 1) k",
    )
    .bind(i64::try_from(FIRST_USER)?)
    .bind(i64::try_from(count.div_ceil(2))?)
    .execute(&auth_db)
    .await
    .context("making the sessions' users")?;
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
    let caches = super::caches::measure(bench, count).await;
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
    sqlx::query("delete from users where id >= $1")
        .bind(i64::try_from(FIRST_USER)?)
        .execute(&auth_db)
        .await?;
    let bytes_per_session = used_after.saturating_sub(used_before) as f64 / count as f64;
    let mut md = section(
        &before,
        &after?,
        count,
        bytes_per_session,
        bench.options.runs,
    )?;
    md.push_str(&caches_section(&caches?));
    Ok(md)
}

/// Past half the sessions (the verified-token cache full), the second half
/// may add at most this share of what the first half added.
const SECOND_HALF_GROWTH: f64 = 0.1;

fn caches_section(seen: &CacheMemory) -> String {
    let rate = seen.driven.requests as f64 / seen.driven.elapsed.max(0.001);
    let first_half = seen.rss_at_half_mib - seen.rss_before_mib;
    let second_half = seen.rss_peak_mib - seen.rss_at_half_mib;
    format!(
        "\n#### commerce-service's caches under {} distinct sessions\n\n\
         Each session presented a token of its own (minted with the development key) for one cart \
         read: {} requests at {rate:.0}/s, {} not 2xx, p50 {:.2} ms, p99 {:.2} ms. The \
         verified-token cache holds at most {} entries, the token-status cache at most {} (and each \
         answer lives seconds). commerce-service's resident memory: {:.1} MiB before, {:.1} MiB \
         when half the sessions had asked, {:.1} MiB at its peak, {:.1} MiB after.\n\n\
         - {} commerce-service's memory bounded by its caches' caps under {} distinct sessions \
         (the second half adds at most {:.0}% of what the first added): first half {first_half:.1} MiB, \
         second half {second_half:.1} MiB\n",
        seen.sessions,
        seen.driven.requests,
        seen.driven.failed,
        seen.driven.p50_ms,
        seen.driven.p99_ms,
        super::caches::VERIFIED_TOKENS_CAP,
        super::caches::STATUS_ANSWERS_CAP,
        seen.rss_before_mib,
        seen.rss_at_half_mib,
        seen.rss_peak_mib,
        seen.rss_after_mib,
        verdict(second_half <= SECOND_HALF_GROWTH * first_half.max(1.0)),
        seen.sessions,
        SECOND_HALF_GROWTH * 100.0,
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
    Ok(both.map(super::median_run))
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

#[cfg(test)]
mod tests {
    use super::{session_id, user_of};

    #[test]
    fn a_made_session_is_named_as_the_script_names_it() {
        // '5ca1e000000000000000' .. string.format('%012x', n)
        assert_eq!(
            session_id(0x2a).simple().to_string(),
            format!("5ca1e000000000000000{:012x}", 0x2a)
        );
        assert_eq!(user_of(0), user_of(1));
        assert_ne!(user_of(1), user_of(2));
    }
}
