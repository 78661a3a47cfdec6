//! The end-to-end harness: the journeys in `tests/journeys.rs` drive a
//! deployment through the real gateway with the client of `app.rs`, on the
//! targets of `stacks.rs`, as trials of `harness.rs`.

pub mod app;
pub mod harness;
pub mod node_suite;
pub mod stacks;
