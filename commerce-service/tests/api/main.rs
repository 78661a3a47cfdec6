//! Black-box tests of commerce-service over HTTP, with a real auth-service,
//! PostgreSQL and Redis. One binary, one module per area.

mod admin;
mod admin_reads;
mod cart;
mod catalog;
mod checkout;
mod events;
mod guest_cart;
mod hostile;
mod orders;
mod price_guard;
mod push;
mod support;
mod tokens;
