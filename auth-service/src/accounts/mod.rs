//! Accounts: the users table (`users.rs`), email addresses and password
//! rules (`email.rs`), Argon2id hashing (`password.rs`), password login
//! with its limits (`login.rs`), admin user management (`admin.rs`), and
//! the caller's own account here: profile, password change, deletion.

pub mod admin;
pub mod email;
pub mod login;
pub mod password;
pub mod users;
pub mod views;

use std::net::IpAddr;
use std::sync::Arc;

use common::Problem;
use common::db::Bounded as _;
use common::error_code::ErrorCode;
use common::events::outbox::Outbox;
use common::events::{AuthEvent, UserRef};
use common::ids::{SessionId, UserId};
use sqlx::PgPool;

use self::password::PasswordHasher;
use self::users::UserRow;
use crate::config::PasswordSettings;
use crate::error::ApiError;
use crate::sessions::Sessions;
use crate::store::RedisStore;

/// The accounts feature: what it needs and nothing else; cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    db: PgPool,
    store: RedisStore,
    passwords: PasswordHasher,
    limits: Arc<PasswordSettings>,
    /// The market of accounts an admin creates.
    default_market: Arc<str>,
    outbox: Outbox,
}

impl Accounts {
    pub fn new(
        db: PgPool,
        store: RedisStore,
        passwords: PasswordHasher,
        limits: PasswordSettings,
        default_market: &str,
        outbox: Outbox,
    ) -> Self {
        Self {
            db,
            store,
            passwords,
            limits: Arc::new(limits),
            default_market: default_market.into(),
            outbox,
        }
    }

    /// A user by id; `404` if there is none.
    pub async fn get(&self, user_id: UserId) -> Result<UserRow, ApiError> {
        users::find(&self.db, user_id)
            .await?
            .ok_or_else(|| Problem::not_found().into())
    }

    /// Deletes an account: deactivated, phone and email erased, every
    /// session ended.
    pub async fn delete(&self, sessions: &Sessions, user_id: UserId) -> Result<(), ApiError> {
        let mut tx = self.db.begin().bounded().await?;
        users::erase(&mut *tx, user_id).await?;
        let revoked = sessions
            .revoke_everything_in(&mut tx, user_id, |_| {
                AuthEvent::UserDeleted(UserRef { user_id })
            })
            .await?;
        tx.commit().bounded().await?;
        sessions.everything_revoked(revoked).await?;
        tracing::info!(user_id = user_id.0, "account deleted");
        Ok(())
    }

    /// Changes a password after checking the current one (under the
    /// login failure limit); every session but `current` ends.
    pub async fn change_password(
        &self,
        sessions: &Sessions,
        user_id: UserId,
        current: SessionId,
        current_password: &str,
        new_password: &str,
        client_ip: IpAddr,
    ) -> Result<(), ApiError> {
        let row = self.get(user_id).await?;
        let Some(email) = row.email.as_deref() else {
            // Phone-only accounts have no password to change.
            return Err(Problem::new(
                ErrorCode::InvalidCredentials,
                "this account has no password",
            )
            .into());
        };
        self.verify_password(email, current_password, client_ip)
            .await?;
        let hash = self.passwords.hash(new_password).await?;
        users::set_password(&self.db, user_id, &hash).await?;
        sessions.end_others(user_id, current).await?;
        tracing::info!(user_id = user_id.0, "password changed");
        Ok(())
    }
}
