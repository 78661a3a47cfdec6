//! PostgreSQL: users. Functions take an executor so callers can compose them.

pub mod users;

pub use common::db::on_constraint;
