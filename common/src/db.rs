//! What both services do the same way with PostgreSQL: bound every call,
//! tell an outage from a bug, map constraint violations by name at the call
//! site, and migrate at start.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::Map;
use tokio::time::Timeout;
use tokio::time::error::Elapsed;

use anyhow::Context as _;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::problem::Problem;

/// How long one database call may take before it counts as an outage
/// (`503 dependency_unavailable`). sqlx offers no TCP keepalive or user
/// timeout, so without this a query already sent when the network to
/// PostgreSQL breaks would wait for the request timeout, holding its
/// connection; a call given up on closes its connection instead of going
/// back to the pool.
pub const CALL_LIMIT: Duration = Duration::from_secs(5);

/// PostgreSQL's own cap on one statement (`statement_timeout`), below
/// [`CALL_LIMIT`]: a merely slow statement is cancelled by the server,
/// which answers, before the client gives up on the connection.
pub const STATEMENT_TIMEOUT: &str = "4s";

/// A database call bounded by [`CALL_LIMIT`].
pub type BoundedCall<F, T> =
    Map<Timeout<F>, fn(Result<sqlx::Result<T>, Elapsed>) -> sqlx::Result<T>>;

/// `.bounded()` on any database call: past [`CALL_LIMIT`] it fails as an
/// I/O timeout, which [`is_unavailable`] answers with 503.
pub trait Bounded<T>: Future<Output = sqlx::Result<T>> + Sized {
    fn bounded(self) -> BoundedCall<Self, T> {
        tokio::time::timeout(CALL_LIMIT, self).map(give_up::<T> as fn(_) -> _)
    }
}

impl<T, F: Future<Output = sqlx::Result<T>>> Bounded<T> for F {}

fn give_up<T>(outcome: Result<sqlx::Result<T>, Elapsed>) -> sqlx::Result<T> {
    outcome.unwrap_or_else(|_| {
        Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the database did not answer within {CALL_LIMIT:?}"),
        )))
    })
}

/// A pooled connection used within this long is handed out without a
/// liveness ping (HikariCP's "alive bypass window", 500 ms there).
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The services' pool. sqlx pings every idle connection before handing it
/// out (and again when it comes back): under load that is a round trip to
/// PostgreSQL per query for a connection that answered a moment ago. Here
/// only a connection idle for [`PING_AFTER_IDLE`] or more is pinged (a
/// failed ping closes it and another is taken), which is where a dead one
/// hides: after a restart or a failover, or one cut by a firewall's idle
/// timer. One that dies within the window fails its next query, which is
/// answered 503 like any outage, and is then closed by sqlx.
pub fn pool_options(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
}

/// The server-side settings of every service connection: the statement
/// cap, and no parallel plans.
///
/// The services' statements are short and many run at once: a parallel
/// plan's workers take cores from the other requests' backends, and its
/// start-up costs more than it saves. Measured on the storefront search
/// at 1,000,000 products, 8 clients on 2 cores: 100 -> 158 searches/s,
/// 80 -> 51 ms on average (bench/FINDINGS.md, session 28).
pub const SESSION_SETTINGS: [(&str, &str); 2] = [
    ("statement_timeout", STATEMENT_TIMEOUT),
    ("max_parallel_workers_per_gather", "0"),
];

/// Connection options from a `postgres://` URL, with
/// [`SESSION_SETTINGS`] on every connection.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(url.parse::<PgConnectOptions>()?.options(SESSION_SETTINGS))
}

/// A compile-checked query (`query!`, `query_as!`) sent unprepared: parsed
/// and planned with its parameters on every run. PostgreSQL's plan cache
/// may settle a prepared statement on one generic plan after a few runs;
/// a statement whose best plan depends on its parameters (a search whose
/// word may be common or rare) needs its own plan each time. sqlx's mapped
/// queries cannot be made unprepared, so the rows come back unmapped:
/// decode them with `FromRow` into the struct the macro checked.
pub struct Unprepared<Q>(pub Q);

impl<'q, Q: sqlx::Execute<'q, sqlx::Postgres>> sqlx::Execute<'q, sqlx::Postgres> for Unprepared<Q> {
    fn sql(self) -> sqlx::SqlStr {
        self.0.sql()
    }

    fn statement(&self) -> Option<&sqlx::postgres::PgStatement> {
        None
    }

    fn take_arguments(
        &mut self,
    ) -> Result<Option<sqlx::postgres::PgArguments>, sqlx::error::BoxDynError> {
        self.0.take_arguments()
    }

    fn persistent(&self) -> bool {
        false
    }
}

/// Whether an error means "unreachable or overloaded" (answered 503)
/// rather than a bug (500).
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    // A broken wire conversation is an outage too: a server killed in the
    // middle of accepting a connection answers its SSL request with
    // garbage (seen in the fault suite), which sqlx reports as a protocol
    // error; retrying later is the right advice, not a 500.
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
    ) || error
        .as_database_error()
        .and_then(|db| db.code())
        // 57P01..03: shutting down or not accepting connections; 53300: too
        // many connections; 57014: a statement cancelled by `statement_timeout`.
        .is_some_and(|code| {
            matches!(
                code.as_ref(),
                "57P01" | "57P02" | "57P03" | "53300" | "57014"
            )
        })
}

/// Whether an error is a violation of the named constraint.
pub fn violates(error: &sqlx::Error, name: &str) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.constraint())
        .is_some_and(|constraint| constraint == name)
}

/// Maps the violation of one named constraint to a problem at the call
/// site, so a query reads `insert(..).await.on_constraint("users_email_key",
/// || Problem::new(ErrorCode::EmailTaken, ..))?`; any other database error
/// passes through unchanged into the service's own error type.
pub trait OnConstraint<T> {
    fn on_constraint<E>(self, name: &str, problem: impl FnOnce() -> Problem) -> Result<T, E>
    where
        E: From<sqlx::Error> + From<Problem>;
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint<E>(self, name: &str, problem: impl FnOnce() -> Problem) -> Result<T, E>
    where
        E: From<sqlx::Error> + From<Problem>,
    {
        self.map_err(|error| {
            if violates(&error, name) {
                E::from(problem())
            } else {
                E::from(error)
            }
        })
    }
}

/// Applies `migrator`, waiting up to half a minute for a database that is
/// still starting (containers start in any order).
pub async fn migrate(migrator: &Migrator, pool: &PgPool) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        match migrate_once(migrator, pool).await {
            Ok(()) => {
                tracing::info!("database migrations applied");
                return Ok(());
            }
            Err(error) if attempt < 15 => {
                attempt += 1;
                tracing::warn!(%error, attempt, "database not ready for migrations; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(error) => return Err(error).context("running database migrations"),
        }
    }
}

/// The `migrate` step of a service: only `DATABASE_URL` (or
/// `DATABASE_URL_FILE`) is read, so the step needs none of the service's
/// other secrets (a Kubernetes init container, a compose one-shot).
pub async fn migrate_database_from_env(
    migrator: &Migrator,
    default_url: &str,
) -> anyhow::Result<()> {
    use secrecy::ExposeSecret as _;
    let (url, _) = crate::config::Env::system().secret("DATABASE_URL", default_url)?;
    let options = connect_options(url.expose_secret()).context("DATABASE_URL is not valid")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options);
    let outcome = migrate(migrator, &pool).await;
    pool.close().await;
    outcome
}

/// One migration run on a connection of its own without the statement cap
/// (a migration may rebuild an index of a big table); the connection is
/// closed afterwards rather than returned to the pool without its cap.
async fn migrate_once(migrator: &Migrator, pool: &PgPool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    conn.close_on_drop();
    sqlx::query("set statement_timeout = 0")
        .execute(&mut *conn)
        .await?;
    tolerating_newer(migrator).run(&mut *conn).await?;
    Ok(())
}

/// The same migrations, but content that the database already holds newer
/// ones: during a rollout an old replica that restarts meets the new
/// replicas' migrations (written expand-then-contract, so the old code
/// still works on them) and must not refuse to start.
fn tolerating_newer(migrator: &Migrator) -> Migrator {
    // sqlx marks these fields semver-exempt; the version is pinned in
    // Cargo.lock and this is covered by a test of each service.
    Migrator {
        migrations: migrator.migrations.clone(),
        ignore_missing: true,
        locking: migrator.locking,
        no_tx: migrator.no_tx,
        table_name: migrator.table_name.clone(),
        create_schemas: migrator.create_schemas.clone(),
    }
}

/// Checks, without changing anything, that every migration `migrator`
/// knows is applied: for a service whose migrations run as their own step
/// (`MIGRATE_ON_START=false`). Waits for a database that is starting, like
/// [`migrate`].
pub async fn ensure_migrated(migrator: &Migrator, pool: &PgPool) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        let applied: Result<Vec<i64>, sqlx::Error> = sqlx::query_scalar(
            "select version from _sqlx_migrations where success order by version",
        )
        .fetch_all(pool)
        .await;
        match applied {
            Ok(applied) => {
                let missing: Vec<i64> = migrator
                    .iter()
                    .filter(|m| m.migration_type.is_up_migration())
                    .map(|m| m.version)
                    .filter(|version| !applied.contains(version))
                    .collect();
                anyhow::ensure!(
                    missing.is_empty(),
                    "the database lacks migrations {missing:?}: run this service's `migrate` step first"
                );
                return Ok(());
            }
            // No migrations table at all: nothing was ever applied.
            Err(error)
                if error
                    .as_database_error()
                    .and_then(|db| db.code())
                    .is_some_and(|code| code == "42P01") =>
            {
                anyhow::bail!(
                    "the database has no migrations applied: run this service's `migrate` step first"
                )
            }
            Err(error) if attempt < 15 => {
                attempt += 1;
                tracing::warn!(%error, attempt, "database not ready; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(error) => return Err(error).context("reading the applied migrations"),
        }
    }
}
