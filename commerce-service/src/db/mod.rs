//! PostgreSQL queries. Functions take an executor (a pool or a
//! transaction's connection) so callers compose them in one transaction.

pub mod carts;
pub mod catalog;
pub mod orders;
pub mod wishlist;

/// Whether an error is a violation of the named constraint.
pub fn on_constraint(error: &sqlx::Error, name: &str) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.constraint())
        .is_some_and(|constraint| constraint == name)
}
