//! commerce-service: catalog, cart, wishlist and orders per market. Tokens
//! are verified locally; auth-service is asked only whether a session still
//! stands.
//!
//! One folder per feature: `catalog/` (markets, products, SKUs, prices,
//! seed), `cart/`, `wishlist/`, `orders/` (checkout, idempotency, state
//! machine, expiry). `caller/` says who is calling. `routes/` is the HTTP
//! surface only; `cli.rs` holds the subcommands and `main.rs` is a thin
//! shell.

pub mod caller;
pub mod cart;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod events;
pub mod ids;
pub mod orders;
pub mod routes;
pub mod series;
pub mod state;
pub mod wishlist;

pub use routes::app;
pub use state::AppState;

/// The embedded migrations of the commerce database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
