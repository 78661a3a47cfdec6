//! auth-service: phone-code and password login, access tokens signed with
//! the keyring, rotating refresh tokens, sessions and revocation in Redis,
//! users in PostgreSQL.
//!
//! One folder per feature: `otp/` (codes, their limits, SMS), `sessions/`
//! (issue, refresh rotation, revocation, token signing), `accounts/`
//! (users, passwords, admin management). `routes/` is the HTTP surface
//! only; `cli.rs` holds the subcommands and `main.rs` is a thin shell.

pub mod accounts;
pub mod caller;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod events;
pub mod otp;
pub mod rate_limit;
pub mod redis_connection;
pub mod routes;
pub mod secrets;
pub mod series;
pub mod sessions;
pub mod state;
pub mod store;

pub use routes::app;
pub use state::AppState;

/// The embedded migrations of the users database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
