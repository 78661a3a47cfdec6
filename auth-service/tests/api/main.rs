//! Black-box tests of auth-service over HTTP, against real PostgreSQL and
//! Redis. One binary, one module per area.

mod admin;
mod errors;
mod events;
mod jwt;
mod otp;
mod password;
mod refresh;
mod revocation;
mod schema;
mod sessions;
mod sms_firewall;
mod support;
