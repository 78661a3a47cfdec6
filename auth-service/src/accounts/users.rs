//! The users table.

use common::claims::Role;
use common::db::Bounded as _;
use common::ids::UserId;
use sqlx::PgExecutor;
use time::OffsetDateTime;

/// A row of `users`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub role: Role,
    pub market: String,
    pub is_active: bool,
    pub created_at: OffsetDateTime,
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn find(db: impl PgExecutor<'_>, id: UserId) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        r#"select id, phone, email, password_hash, role as "role: Role", market, is_active, created_at
         from users where id = $1"#,
        id.0
    )
    .fetch_optional(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        r#"select id, phone, email, password_hash, role as "role: Role", market, is_active, created_at
         from users where email = $1"#,
        email
    )
    .fetch_optional(db)
    .bounded()
    .await
}

/// The user of a number, created (with `market` as their market) on first login.
///
/// A returning customer's login only reads: the insert runs only when no
/// row exists, so only a first login writes (and waits for its WAL flush).
/// Two first logins of one number at once: one inserts, the other's insert
/// meets the conflict, does nothing and returns no row, and the second
/// round reads the row the first made.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn find_or_create_by_phone(
    db: &sqlx::PgPool,
    phone: &str,
    market: &str,
) -> sqlx::Result<UserRow> {
    for _ in 0..2 {
        let user = sqlx::query_as!(
            UserRow,
            r#"with existing as (
                 select id, phone, email, password_hash, role, market, is_active, created_at
                 from users where phone = $1
               ), created as (
                 insert into users (phone, market)
                 select $1, $2 where not exists (select from existing)
                 on conflict (phone) do nothing
                 returning id, phone, email, password_hash, role, market, is_active, created_at
               )
               select id as "id!", phone, email, password_hash, role as "role!: Role",
                      market as "market!", is_active as "is_active!", created_at as "created_at!"
               from existing
               union all
               select id, phone, email, password_hash, role, market, is_active, created_at
               from created"#,
            phone,
            market
        )
        .fetch_optional(db)
        .bounded()
        .await?;
        if let Some(user) = user {
            return Ok(user);
        }
    }
    Err(sqlx::Error::RowNotFound)
}

/// A new account with a password (admin API, `create-admin`).
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn create_with_password(
    db: impl PgExecutor<'_>,
    email: &str,
    password_hash: &str,
    role: Role,
    market: &str,
) -> sqlx::Result<UserRow> {
    sqlx::query_as!(
        UserRow,
        r#"insert into users (email, password_hash, role, market) values ($1, $2, $3, $4)
         returning id, phone, email, password_hash, role as "role: Role", market, is_active, created_at"#,
        email,
        password_hash,
        role.as_str(),
        market
    )
    .fetch_one(db)
    .bounded()
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn set_active(
    db: impl PgExecutor<'_>,
    id: UserId,
    active: bool,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as!(
        UserRow,
        r#"update users set is_active = $2, updated_at = now() where id = $1 and deleted_at is null
         returning id, phone, email, password_hash, role as "role: Role", market, is_active, created_at"#,
        id.0,
        active
    )
    .fetch_optional(db)
    .bounded()
    .await
}

/// Account deletion: deactivated, phone and email erased so that the number
/// can sign up afresh; the row stays for the shop's records.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn erase(db: impl PgExecutor<'_>, id: UserId) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set is_active = false, phone = null, email = null, password_hash = null,
                deleted_at = now(), updated_at = now()
         where id = $1",
        id.0
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn set_password(
    db: impl PgExecutor<'_>,
    id: UserId,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set password_hash = $2, updated_at = now() where id = $1",
        id.0,
        password_hash
    )
    .execute(db)
    .bounded()
    .await?;
    Ok(())
}

/// Exact-match search for the admin API, newest first.
#[tracing::instrument(level = "debug", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
pub async fn search(
    db: impl PgExecutor<'_> + Copy,
    phone: Option<&str>,
    email: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<UserRow>, i64)> {
    let rows = sqlx::query_as!(
        UserRow,
        r#"select id, phone, email, password_hash, role as "role: Role", market, is_active, created_at
         from users
         where ($1::text is null or phone = $1) and ($2::text is null or email = $2)
         order by id desc limit $3 offset $4"#,
        phone,
        email,
        limit,
        offset
    )
    .fetch_all(db)
    .bounded()
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "count!" from users
         where ($1::text is null or phone = $1) and ($2::text is null or email = $2)"#,
        phone,
        email
    )
    .fetch_one(db)
    .bounded()
    .await?;
    Ok((rows, total))
}
