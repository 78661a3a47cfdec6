//! PostgreSQL: users. Functions take an executor so callers can compose them.

pub mod users;

/// Whether an error is a violation of the named constraint.
pub fn on_constraint(error: &sqlx::Error, name: &str) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.constraint())
        .is_some_and(|constraint| constraint == name)
}
