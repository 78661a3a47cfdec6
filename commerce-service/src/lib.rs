//! commerce-service: catalog, cart, wishlist and orders per market. Tokens
//! are verified locally; auth-service is asked only whether a session still
//! stands. `main.rs` is a thin shell around [`routes::app`].

pub mod auth;
pub mod auth_client;
pub mod checkout;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod fulfilment;
pub mod markets;
pub mod routes;
pub mod seed;
pub mod state;
pub mod views;

pub use routes::app;
pub use state::AppState;

/// The embedded migrations of the commerce database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
