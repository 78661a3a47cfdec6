//! What both services do the same way with PostgreSQL: tell an outage from
//! a bug, map constraint violations by name at the call site, and migrate
//! at start.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::problem::Problem;

/// Whether an error means "unreachable or overloaded" (answered 503)
/// rather than a bug (500).
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
    ) || error
        .as_database_error()
        .and_then(|db| db.code())
        // 57P01..03: shutting down or not accepting connections; 53300: too many connections.
        .is_some_and(|code| matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300"))
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
        match migrator.run(pool).await {
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
