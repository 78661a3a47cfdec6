//! Admin user management: search, accounts with a password (also the
//! `create-admin` command's), deactivation and activation.

use common::Problem;
use common::claims::Role;
use common::db::Bounded as _;
use common::db::OnConstraint as _;
use common::error_code::ErrorCode;
use common::events::{AuthEvent, UserRef};
use common::ids::UserId;

use super::Accounts;
use super::users::{self, UserRow};
use crate::error::ApiError;
use crate::sessions::Sessions;

/// An exact-match search, newest first.
#[derive(Debug, Clone, Copy)]
pub struct UserSearch<'a> {
    /// E.164.
    pub phone: Option<&'a str>,
    /// Lower-case.
    pub email: Option<&'a str>,
    pub limit: i64,
    pub offset: i64,
}

impl Accounts {
    /// A page of users and the total that match.
    pub async fn search(&self, search: UserSearch<'_>) -> Result<(Vec<UserRow>, i64), ApiError> {
        Ok(users::search(
            &self.db,
            search.phone,
            search.email,
            search.limit,
            search.offset,
        )
        .await?)
    }

    /// Hashes the password and inserts the account; `409 email_taken` if
    /// the email exists. `email` is normalised and the password checked by
    /// the caller.
    pub async fn create_with_password(
        &self,
        email: &str,
        password: &str,
        role: Role,
    ) -> Result<UserRow, ApiError> {
        let hash = self.passwords.hash(password).await?;
        users::create_with_password(&self.db, email, &hash, role, &self.default_market)
            .await
            .on_constraint("users_email_key", || {
                Problem::new(ErrorCode::EmailTaken, "an account with this email exists")
            })
    }

    /// Deactivates a user: every session of theirs stops working.
    pub async fn deactivate(
        &self,
        sessions: &Sessions,
        user_id: UserId,
        admin_id: UserId,
    ) -> Result<UserRow, ApiError> {
        let mut tx = self.db.begin().bounded().await?;
        let row = users::set_active(&mut *tx, user_id, false)
            .await?
            .ok_or_else(Problem::not_found)?;
        let revoked = sessions
            .revoke_everything_in(&mut tx, user_id, |_| {
                AuthEvent::UserDeactivated(UserRef { user_id })
            })
            .await?;
        tx.commit().bounded().await?;
        sessions.everything_revoked(revoked).await?;
        tracing::info!(
            user_id = user_id.0,
            admin_id = admin_id.0,
            "user deactivated"
        );
        Ok(row)
    }

    /// Activates a user again; old sessions stay ended.
    pub async fn activate(&self, user_id: UserId, admin_id: UserId) -> Result<UserRow, ApiError> {
        let mut tx = self.db.begin().bounded().await?;
        let row = users::set_active(&mut *tx, user_id, true)
            .await?
            .ok_or_else(Problem::not_found)?;
        self.outbox
            .add(&mut *tx, AuthEvent::UserActivated(UserRef { user_id }))
            .bounded()
            .await?;
        tx.commit().bounded().await?;
        self.outbox.committed();
        tracing::info!(user_id = user_id.0, admin_id = admin_id.0, "user activated");
        Ok(row)
    }
}
