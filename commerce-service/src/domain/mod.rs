//! Validated values of the commerce domain: no axum, no storage.

pub mod order_status;
pub mod validation;
