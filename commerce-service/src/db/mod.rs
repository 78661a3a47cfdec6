//! PostgreSQL queries. Functions take an executor (a pool or a
//! transaction's connection) so callers compose them in one transaction.

pub mod carts;
pub mod catalog;
pub mod orders;
pub mod wishlist;

pub use common::db::on_constraint;
