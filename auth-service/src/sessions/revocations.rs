//! Durable revocation in PostgreSQL: what ended a session or a user's
//! tokens is written here before the answer, and read back by every token
//! check and refresh in the query they already make, so Redis losing its
//! last writes can never revive an ended session. Redis stays the fast
//! path; these rows are the truth when the two disagree.

use common::claims::Role;
use common::db::Bounded as _;
use common::ids::{SessionId, UserId};
use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::accounts::users::UserRow;

/// What PostgreSQL says about a user and one of their sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurableStanding {
    /// The user exists and is active.
    pub user_active: bool,
    /// Tokens issued before this (unix seconds) are refused.
    pub tokens_not_before: Option<i64>,
    /// The session was ended.
    pub session_revoked: bool,
}

/// The user and session standing a refresh needs, in one round trip.
#[derive(Debug, Clone)]
pub struct RefreshSubject {
    pub user: UserRow,
    pub tokens_not_before: Option<i64>,
    pub session_revoked: bool,
}

/// Records that sessions ended; a session already recorded keeps its row.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn record_ended(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    sessions: &[SessionId],
    kept_until: OffsetDateTime,
) -> sqlx::Result<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = sessions.iter().map(|id| id.0).collect();
    sqlx::query!(
        "insert into revoked_sessions (session_id, user_id, expires_at)
         select unnest($1::uuid[]), $2, $3
         on conflict (session_id) do nothing",
        &ids,
        user_id.0,
        kept_until
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

/// Refuses every token of the user issued before `not_before` (unix seconds).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn revoke_tokens_before(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    not_before: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set tokens_not_before = greatest(coalesce(tokens_not_before, 0), $2),
                updated_at = now()
         where id = $1",
        user_id.0,
        not_before
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

/// The user's state and whether the session was ended, in one query (the
/// one a token check already made to ask whether the user is active).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn standing(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    session_id: SessionId,
) -> sqlx::Result<DurableStanding> {
    let row = sqlx::query!(
        r#"select u.is_active, u.tokens_not_before,
                  exists (select 1 from revoked_sessions r where r.session_id = $2) as "revoked!"
           from users u where u.id = $1"#,
        user_id.0,
        session_id.0
    )
    .fetch_optional(db)
    .bounded()
    .await?;
    Ok(match row {
        Some(row) => DurableStanding {
            user_active: row.is_active,
            tokens_not_before: row.tokens_not_before,
            session_revoked: row.revoked,
        },
        None => DurableStanding {
            user_active: false,
            tokens_not_before: None,
            session_revoked: true,
        },
    })
}

/// The user of a refresh token with the durable standing of its session,
/// in one query (the one refresh already made to read the user).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn refresh_subject(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    session_id: SessionId,
) -> sqlx::Result<Option<RefreshSubject>> {
    let row = sqlx::query!(
        r#"select u.id, u.phone, u.email, u.password_hash, u.role as "role: Role", u.market,
                  u.is_active, u.created_at, u.tokens_not_before,
                  exists (select 1 from revoked_sessions r where r.session_id = $2) as "revoked!"
           from users u where u.id = $1"#,
        user_id.0,
        session_id.0
    )
    .fetch_optional(db)
    .bounded()
    .await?;
    Ok(row.map(|row| RefreshSubject {
        user: UserRow {
            id: UserId(row.id),
            phone: row.phone,
            email: row.email,
            password_hash: row.password_hash,
            role: row.role,
            market: row.market,
            is_active: row.is_active,
            created_at: row.created_at,
        },
        tokens_not_before: row.tokens_not_before,
        session_revoked: row.revoked,
    }))
}

/// The background task: prunes expired records every `interval` until the
/// process ends.
pub async fn run_pruning(db: sqlx::PgPool, interval: std::time::Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        loop {
            match prune(&db, 1000).await {
                Ok(1000) => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "pruning revoked sessions failed; will retry");
                    break;
                }
            }
        }
    }
}

/// Deletes up to `batch` records no token could still be presented for;
/// returns how many. Any replica may run it: deleting twice is harmless.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn prune(db: impl PgExecutor<'_>, batch: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from revoked_sessions where session_id in (
             select session_id from revoked_sessions where expires_at < now()
             order by expires_at limit $1 for update skip locked)",
        batch
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(done.rows_affected())
}
