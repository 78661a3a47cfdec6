//! The event bus both services share (NATS with JetStream), typed once:
//! where it is ([`BusSettings`], `NATS_URL`), what its subjects and streams
//! are called ([`Namespace`]), the versioned envelope every event travels
//! in ([`Envelope`]) and the events themselves ([`AuthEvent`],
//! [`CommerceEvent`]). Events leave a service only through its
//! transactional outbox ([`outbox`]); the README's "Events" section is their
//! public description.
//!
//! Without `NATS_URL` there is no bus: both services work as before, and
//! commerce trusts a positive token status only for its short TTL.

pub mod outbox;
mod payloads;
pub mod watermark;

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use self::payloads::*;
use crate::config::Env;

/// The schema version of every envelope this build writes.
pub const EVENT_VERSION: u8 = 1;

/// Where the bus is and how its names are prefixed.
#[derive(Debug, Clone)]
pub struct BusSettings {
    /// `NATS_URL`: one server or a comma-separated list of a cluster's.
    pub url: String,
    pub namespace: Namespace,
    /// `NATS_STREAM_REPLICAS`: copies of each stream a JetStream cluster
    /// keeps (1 on a single server; 3 on a three-node cluster).
    pub stream_replicas: usize,
}

impl BusSettings {
    /// `NATS_URL` (unset or empty: no bus) and `NATS_NAMESPACE`.
    pub fn from_env(env: &Env) -> anyhow::Result<Option<Self>> {
        let Some(url) = env
            .optional("NATS_URL")
            .filter(|url| !url.trim().is_empty())
        else {
            return Ok(None);
        };
        let namespace = Namespace::parse(&env.string("NATS_NAMESPACE", ""))
            .map_err(|reason| anyhow::anyhow!("NATS_NAMESPACE: {reason}"))?;
        let stream_replicas = env.parse("NATS_STREAM_REPLICAS", 1)?;
        anyhow::ensure!(
            (1..=5).contains(&stream_replicas),
            "NATS_STREAM_REPLICAS must be between 1 and 5"
        );
        Ok(Some(Self {
            url,
            namespace,
            stream_replicas,
        }))
    }

    /// Connects; the client reconnects by itself for as long as it lives.
    pub async fn connect(&self, name: &str) -> anyhow::Result<async_nats::Client> {
        async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(3))
            .retry_on_initial_connect()
            .connect(self.url.as_str())
            .await
            .with_context(|| format!("connecting to NATS at {}", self.url))
    }
}

/// A prefix for every subject, stream and durable consumer name, so that
/// several deployments (or tests) share one NATS server without meeting.
/// Empty by default: subjects read `auth.session.ended`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespace(String);

impl Namespace {
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        if text.len() > 64
            || !text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("letters, digits, '-' or '_', at most 64");
        }
        Ok(Self(text.to_owned()))
    }

    /// `auth.session.ended` in this namespace.
    pub fn subject(&self, subject: &str) -> String {
        if self.0.is_empty() {
            subject.to_owned()
        } else {
            format!("{}.{subject}", self.0)
        }
    }

    /// A stream or consumer name (no dots allowed there) in this namespace.
    pub fn name(&self, name: &str) -> String {
        if self.0.is_empty() {
            name.to_owned()
        } else {
            format!("{}_{name}", self.0)
        }
    }
}

/// A JetStream stream one service's outbox publishes to.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    /// `AUTH`, `COMMERCE` (before the namespace).
    pub name: &'static str,
    /// `auth`, `commerce`: the stream holds `<prefix>.>`.
    pub subject_prefix: &'static str,
    /// How long events stay (consumers that are away longer miss them).
    pub max_age: Duration,
}

/// auth-service's events: token-ending changes and account deletion.
pub const AUTH_STREAM: StreamSpec = StreamSpec {
    name: "AUTH",
    subject_prefix: "auth",
    max_age: Duration::from_secs(7 * 24 * 3600),
};

/// commerce-service's events: orders.
pub const COMMERCE_STREAM: StreamSpec = StreamSpec {
    name: "COMMERCE",
    subject_prefix: "commerce",
    max_age: Duration::from_secs(7 * 24 * 3600),
};

/// How long JetStream remembers a `Nats-Msg-Id` to drop a second publish
/// of the same event (a relay that crashed between publishing and marking
/// the row sent publishes it again within this window).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Creates the stream if it is missing (every replica of the service that
/// owns it may, at start: the first one wins, the others find it) and
/// answers it. Only its owner's relay creates it; consumers wait for it.
pub async fn ensure_stream(
    js: &jetstream::Context,
    namespace: &Namespace,
    spec: StreamSpec,
    replicas: usize,
) -> anyhow::Result<jetstream::stream::Stream> {
    js.get_or_create_stream(jetstream::stream::Config {
        name: namespace.name(spec.name),
        subjects: vec![namespace.subject(&format!("{}.>", spec.subject_prefix))],
        max_age: spec.max_age,
        duplicate_window: DUPLICATE_WINDOW,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .with_context(|| format!("creating the JetStream stream {}", spec.name))
}

/// Every event as it travels: a version, a unique id (JetStream's
/// `Nats-Msg-Id`, and a consumer's key for doing it once), the time, and
/// the event's `type` and `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<E> {
    pub v: u8,
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(flatten)]
    pub event: E,
}

impl<E: Subject> Envelope<E> {
    /// A new event, now, with a new id.
    pub fn new(event: E) -> Self {
        Self {
            v: EVENT_VERSION,
            id: Uuid::new_v4(),
            occurred_at: OffsetDateTime::now_utc(),
            event,
        }
    }

    /// The subject it is published on, before the namespace.
    pub fn subject(&self) -> &'static str {
        self.event.subject()
    }
}

/// Another service's stream, once its owner has created it.
pub async fn existing_stream(
    js: &jetstream::Context,
    namespace: &Namespace,
    spec: StreamSpec,
) -> anyhow::Result<jetstream::stream::Stream> {
    js.get_stream(namespace.name(spec.name))
        .await
        .with_context(|| {
            format!(
                "the JetStream stream {} (its service creates it)",
                spec.name
            )
        })
}

/// An event's subject (its `type`) before the namespace.
pub trait Subject {
    fn subject(&self) -> &'static str;
}
