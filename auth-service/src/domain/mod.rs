//! Validated values of the auth domain: no axum, no storage.

pub mod email;
pub mod otp;
pub mod phone;
pub mod refresh_token;
pub mod secrets;
