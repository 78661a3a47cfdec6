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
        // The attempt is counted (reserved) before the hash is checked, in
        // one atomic step: concurrent wrong passwords cannot all slip under
        // the limit, at most `failures_per_account` of them are ever
        // checked per window. A success forgives the count.
        if let Err(wait) = self
            .store
            .hit(
                "login-fail",
                email,
                limits.failures_per_account,
                limits.failure_window_seconds,
            )
            .await?
        {
            return Err(Problem::rate_limited(wait.0).into());
        }
        let user = users::find_by_email(&self.db, email).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let matched = self.passwords.verify(password, stored).await?;
        let Some(user) = user.filter(|_| matched) else {
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
