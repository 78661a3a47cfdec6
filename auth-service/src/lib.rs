//! auth-service: phone-code and password login, access tokens signed with
//! the keyring, rotating refresh tokens, sessions and revocation in Redis,
//! users in PostgreSQL. `main.rs` is a thin shell around [`routes::app`].

pub mod auth;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod password;
pub mod routes;
pub mod signing;
pub mod sms;
pub mod state;
pub mod store;

pub use routes::app;
pub use state::AppState;

/// The embedded migrations of the users database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
