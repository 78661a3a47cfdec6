//! End-to-end journeys live in `tests/journeys.rs`; this crate has no code
//! of its own.
