//! Email and password login, with its limits:
//! - per client address, every attempt on any account (`LOGIN_PER_IP_HOUR`);
//! - per account *and* address, failures (`LOGIN_FAILURES_PER_ACCOUNT_ADDRESS`
//!   per `LOGIN_FAILURE_WINDOW_SECONDS`), forgiven on a success: past it,
//!   that address is refused for that account, nobody else is;
//! - per account, failures from every address together: past
//!   `LOGIN_SLOW_AFTER_FAILURES` every attempt on it waits
//!   `LOGIN_SLOW_DELAY_MS` first. Slowed, never locked: an attacker cannot
//!   keep the owner out.
//!
//! An unknown email verifies a dummy hash and is counted alike, so neither
//! the answer, its cost nor the limits tell whether an account exists.

use std::net::IpAddr;

use common::Problem;
use common::error_code::ErrorCode;

use super::Accounts;
use super::email::MAX_PASSWORD_BYTES;
use super::users::{self, UserRow};
use crate::error::ApiError;
use crate::rate_limit::RetryAfter;
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
    let user = accounts
        .verify_password(login.email, login.password, login.client_ip)
        .await?;
    tracing::info!(user_id = user.id.0, "password login");
    sessions.start(user, login.market, login.device_name).await
}

impl Accounts {
    /// Checks an email and password from `client_ip` under the limits:
    /// per address, per account and address, and the slowing of an account
    /// under attack.
    pub async fn verify_password(
        &self,
        email: &str,
        password: &str,
        client_ip: IpAddr,
    ) -> Result<UserRow, ApiError> {
        // Refused before any hashing: a megabyte password must not cost a hash.
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Problem::invalid_field("password", "must be at most 1024 bytes").into());
        }
        let limits = &self.limits;
        let address = client_ip.to_string();
        refuse_over(
            self.store
                .hit("login-ip", &address, limits.login_per_ip_hour, HOUR)
                .await?,
        )?;
        // The attempt is counted (reserved) before the hash is checked, in
        // one atomic step: concurrent wrong passwords cannot all slip under
        // the limit. Keyed by account *and* address, so an attacker's
        // failures refuse only the attacker: the owner, elsewhere, is not
        // locked out. A success forgives the count.
        let account_address = format!("{email} {address}");
        refuse_over(
            self.store
                .hit(
                    "login-fail",
                    &account_address,
                    limits.failures_per_account_address,
                    limits.failure_window_seconds,
                )
                .await?,
        )?;
        // Failures from every address together slow the account down: each
        // attempt, right or wrong, waits before its check (so the wait
        // reveals nothing), and nobody is refused for it.
        let account_failures = self.store.count("login-fail-account", email).await?;
        if limits.slow_after_failures > 0
            && account_failures >= u64::from(limits.slow_after_failures)
        {
            metrics::counter!("password_logins_slowed_total").increment(1);
            tokio::time::sleep(limits.slow_delay).await;
        }
        let user = users::find_by_email(&self.db, email).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let matched = self.passwords.verify(password, stored).await?;
        let Some(user) = user.filter(|_| matched) else {
            metrics::counter!("password_logins_total", "outcome" => "invalid").increment(1);
            self.store
                .record("login-fail-account", email, limits.failure_window_seconds)
                .await?;
            return Err(Problem::new(
                ErrorCode::InvalidCredentials,
                "the email or password is wrong",
            )
            .into());
        };
        if !user.is_active {
            return Err(Problem::user_inactive().into());
        }
        self.store.clear("login-fail", &account_address).await?;
        metrics::counter!("password_logins_total", "outcome" => "ok").increment(1);
        Ok(user)
    }
}

fn refuse_over(verdict: Result<(), RetryAfter>) -> Result<(), ApiError> {
    verdict.map_err(|RetryAfter(wait)| Problem::rate_limited(wait).into())
}
