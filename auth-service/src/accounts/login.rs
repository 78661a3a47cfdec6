//! Email and password login, with its limits: per client IP, and per
//! account after repeated failures (the failure count is forgiven on a
//! success). An unknown email verifies a dummy hash, so both failures cost
//! the same.

use std::net::IpAddr;

use common::Problem;
use common::error_code::ErrorCode;

use super::Accounts;
use super::email::MAX_PASSWORD_BYTES;
use super::users::{self, UserRow};
use crate::error::ApiError;
use crate::sessions::{Sessions, TokenPair};

const HOUR: u64 = 3600;

/// A password login attempt, its email already normalised.
#[derive(Debug)]
pub struct PasswordAttempt<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub client_ip: IpAddr,
    pub market: &'a str,
    pub device_name: Option<&'a str>,
}

/// Logs in by email and password: a new session.
pub async fn log_in(
    accounts: &Accounts,
    sessions: &Sessions,
    login: PasswordAttempt<'_>,
) -> Result<TokenPair, ApiError> {
    if let Err(wait) = accounts
        .store
        .hit(
            "login-ip",
            &login.client_ip.to_string(),
            accounts.limits.login_per_ip_hour,
            HOUR,
        )
        .await?
    {
        return Err(Problem::rate_limited(wait.0).into());
    }
    let user = accounts
        .verify_password(login.email, login.password)
        .await?;
    tracing::info!(user_id = user.id.0, "password login");
    sessions.start(user, login.market, login.device_name).await
}

impl Accounts {
    /// Checks an email and password under the per-account failure limit.
    pub async fn verify_password(&self, email: &str, password: &str) -> Result<UserRow, ApiError> {
        // Refused before any hashing: a megabyte password must not cost a hash.
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Problem::invalid_field("password", "must be at most 1024 bytes").into());
        }
        let limits = &self.limits;
        let (failures, window_left) = self.store.peek("login-fail", email).await?;
        if failures >= u64::from(limits.failures_per_account) {
            return Err(Problem::rate_limited(window_left).into());
        }
        let user = users::find_by_email(&self.db, email).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let matched = self.passwords.verify(password, stored).await?;
        let Some(user) = user.filter(|_| matched) else {
            // The hit only counts; the refusal comes from `peek` on the next try.
            let _ = self
                .store
                .hit(
                    "login-fail",
                    email,
                    limits.failures_per_account,
                    limits.failure_window_seconds,
                )
                .await?;
            metrics::counter!("password_logins_total", "outcome" => "invalid").increment(1);
            return Err(Problem::new(
                ErrorCode::InvalidCredentials,
                "the email or password is wrong",
            )
            .into());
        };
        if !user.is_active {
            return Err(Problem::user_inactive().into());
        }
        self.store.clear("login-fail", email).await?;
        metrics::counter!("password_logins_total", "outcome" => "ok").increment(1);
        Ok(user)
    }
}
