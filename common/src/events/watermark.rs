//! How far a service's stream is complete, announced by its outbox relay
//! after its passes (four to ten times a second) on a plain NATS subject
//! outside the stream, so announcements are never stored.

use serde::{Deserialize, Serialize};

use super::{Namespace, StreamSpec};

/// Every event committed before `through_ms` (unix milliseconds, the
/// database's clock) is on the stream at a sequence no greater than
/// `stream_sequence`. A consumer that has applied the stream up to that
/// sequence has seen every change made before `through_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub v: u8,
    pub through_ms: i64,
    pub stream_sequence: u64,
}

impl Watermark {
    /// `watermark.AUTH` in the namespace.
    pub fn subject(namespace: &Namespace, stream: StreamSpec) -> String {
        namespace.subject(&format!("watermark.{}", stream.name))
    }
}
