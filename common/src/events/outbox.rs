//! The transactional outbox both services publish through. A change and
//! the event that announces it are written in one PostgreSQL transaction
//! ([`enqueue`]), so neither exists without the other; a [`Relay`] in every
//! replica then publishes unsent rows to JetStream, with the event id as
//! `Nats-Msg-Id`, and marks them sent.
//!
//! - Replicas share the work without sending a row twice at once: each
//!   batch is claimed with `FOR UPDATE SKIP LOCKED`.
//! - A relay that dies between publishing and marking leaves its rows
//!   unsent; they are published again, and JetStream drops the second copy
//!   within its duplicate window (minutes, where a retry takes seconds).
//! - Sent rows are pruned after the retention period.
//! - After a pass (at most every 100 ms) the relay announces a
//!   [`watermark`]: every event committed before it is on the stream.
//!   commerce trusts its pushed revocations only while that watermark is
//!   fresh.
//!
//! Both services' migrations create the same `outbox` table; the queries
//! here are the only ones that read it, checked by both services' tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream;
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use tokio::sync::Notify;
use uuid::Uuid;

use super::watermark::Watermark;
use super::{Envelope, Namespace, StreamSpec, Subject};

/// Rows one pass claims at most (several passes follow while rows remain).
const BATCH: i64 = 200;

/// How often at most the watermark is announced (a pass runs at every
/// wake, which under load is far more often).
const ANNOUNCE_EVERY: Duration = Duration::from_millis(100);

/// How often sent rows past the retention period are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The statement that writes one event into the outbox (also replayed by
/// the benchmark's PostgreSQL floor for a checkout).
pub const INSERT: &str = "insert into outbox (event_id, subject, payload) values ($1, $2, $3)";

/// Writes an event into the outbox, inside the caller's transaction.
pub async fn enqueue<E: Serialize + Subject>(
    db: impl PgExecutor<'_>,
    event: &Envelope<E>,
) -> sqlx::Result<()> {
    let payload = serde_json::to_value(event).map_err(|error| sqlx::Error::Encode(error.into()))?;
    sqlx::query(INSERT)
        .bind(event.id)
        .bind(event.subject())
        .bind(payload)
        .execute(db)
        .await?;
    Ok(())
}

/// Tells this replica's relay that rows are waiting, so an event leaves
/// within milliseconds of its commit rather than at the next poll.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// A feature's way into the outbox: off without a bus (no relay would ever
/// send the rows), on with one.
#[derive(Clone, Default)]
pub struct Outbox {
    wake: Option<Wake>,
}

impl Outbox {
    /// An outbox whose rows `wake`'s relay publishes.
    pub fn relayed_by(wake: Wake) -> Self {
        Self { wake: Some(wake) }
    }

    /// No bus: events are not recorded.
    pub fn disabled() -> Self {
        Self { wake: None }
    }

    /// Writes the event in the caller's transaction (nothing without a bus).
    pub async fn add<E: Serialize + Subject>(
        &self,
        db: impl PgExecutor<'_>,
        event: E,
    ) -> sqlx::Result<()> {
        if self.wake.is_none() {
            return Ok(());
        }
        enqueue(db, &Envelope::new(event)).await
    }

    /// After the transaction committed: the relay publishes at once.
    pub fn committed(&self) {
        if let Some(wake) = &self.wake {
            wake.wake();
        }
    }
}

/// How a relay runs.
#[derive(Debug, Clone, Copy)]
pub struct RelaySettings {
    /// How often it looks for rows when not woken (rows another replica
    /// committed, or left behind by a crash), and announces its watermark.
    pub poll: Duration,
    /// How long sent rows are kept.
    pub retention: Duration,
    /// Copies of the stream a JetStream cluster keeps.
    pub stream_replicas: usize,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(250),
            retention: Duration::from_secs(7 * 24 * 3600),
            stream_replicas: 1,
        }
    }
}

/// Publishes one service's outbox to its stream.
pub struct Relay {
    db: PgPool,
    js: jetstream::Context,
    client: async_nats::Client,
    namespace: Namespace,
    stream: StreamSpec,
    wake: Wake,
    settings: RelaySettings,
}

impl Relay {
    pub fn new(
        db: PgPool,
        client: async_nats::Client,
        namespace: Namespace,
        stream: StreamSpec,
        wake: Wake,
        settings: RelaySettings,
    ) -> Self {
        Self {
            db,
            js: jetstream::new(client.clone()),
            client,
            namespace,
            stream,
            wake,
            settings,
        }
    }

    /// The relay of a service's `stream` on `bus`, with the default timing.
    pub fn on_bus(
        bus: &super::BusSettings,
        db: PgPool,
        client: async_nats::Client,
        stream: StreamSpec,
        wake: Wake,
    ) -> Self {
        let settings = RelaySettings {
            stream_replicas: bus.stream_replicas,
            ..RelaySettings::default()
        };
        Self::new(db, client, bus.namespace.clone(), stream, wake, settings)
    }

    /// Relays until `shutdown` resolves: a pass when woken or every poll
    /// interval, the watermark after a pass (at most every 100 ms), pruning
    /// once a minute. A
    /// failed pass (NATS or PostgreSQL away) is logged and retried; its
    /// rows stay unsent, so nothing is lost.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut stream = None;
        let mut announced = Instant::now() - ANNOUNCE_EVERY;
        let mut pruned = Instant::now() - PRUNE_EVERY;
        loop {
            if stream.is_none() {
                match super::ensure_stream(
                    &self.js,
                    &self.namespace,
                    self.stream,
                    self.settings.stream_replicas,
                )
                .await
                {
                    Ok(created) => stream = Some(created),
                    Err(error) => tracing::warn!(error = format!("{error:#}"), "outbox relay"),
                }
            }
            if let Some(stream) = &mut stream {
                let mut outcome = self.pass().await.map(drop);
                // Under a stream of wakes, passes follow each other closely;
                // the watermark needs announcing far less often than that.
                if outcome.is_ok() && announced.elapsed() >= ANNOUNCE_EVERY {
                    announced = Instant::now();
                    outcome = self.announce(stream).await;
                }
                if let Err(error) = outcome {
                    metrics::counter!("outbox_relay_failures_total").increment(1);
                    tracing::warn!(
                        error = format!("{error:#}"),
                        stream = self.stream.name,
                        "outbox relay pass failed"
                    );
                }
                if pruned.elapsed() >= PRUNE_EVERY {
                    pruned = Instant::now();
                    if let Err(error) = self.prune().await {
                        tracing::warn!(%error, "pruning the outbox failed");
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.wake.0.notified() => {}
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// Publishes every row unsent when it starts; answers how many.
    pub async fn pass(&self) -> anyhow::Result<usize> {
        let mut published = 0;
        loop {
            let sent = self.batch().await?;
            published += sent;
            if sent < BATCH as usize {
                return Ok(published);
            }
        }
    }

    /// One batch: claim, publish and wait for every acknowledgement, mark.
    async fn batch(&self) -> anyhow::Result<usize> {
        let mut tx = self.db.begin().await?;
        let rows: Vec<(i64, Uuid, String, String)> = sqlx::query_as(
            "select id, event_id, subject, payload::text from outbox
             where sent_at is null order by id limit $1 for update skip locked",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut acks = Vec::with_capacity(rows.len());
        for (_, event_id, subject, payload) in &rows {
            let publish = jetstream::message::PublishMessage::build()
                .message_id(event_id.to_string())
                .payload(payload.clone().into_bytes().into());
            let ack = self
                .js
                .send_publish(self.namespace.subject(subject), publish)
                .await
                .context("publishing an outbox event")?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await
                .context("JetStream did not acknowledge an event")?;
        }
        let ids: Vec<i64> = rows.iter().map(|(id, ..)| *id).collect();
        sqlx::query("update outbox set sent_at = now() where id = any($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        metrics::counter!("outbox_events_published_total", "stream" => self.stream.name)
            .increment(rows.len() as u64);
        Ok(rows.len())
    }

    /// Announces how far the stream is complete: every event committed
    /// before `through_ms` is on the stream at or before `stream_sequence`.
    async fn announce(&self, stream: &mut jetstream::stream::Stream) -> anyhow::Result<()> {
        // Read before the stream's last sequence: a row committed after this
        // statement began is invisible to it and ends tokens only after it,
        // so it is never covered. Unsent rows (another replica's batch in
        // flight) hold the watermark at their creation.
        let through_ms: i64 = sqlx::query_scalar(
            "select (extract(epoch from least(statement_timestamp(),
                 (select min(created_at) from outbox where sent_at is null))) * 1000)::bigint",
        )
        .fetch_one(&self.db)
        .await?;
        let stream_sequence = stream.info().await?.state.last_sequence;
        let watermark = Watermark {
            v: super::EVENT_VERSION,
            through_ms,
            stream_sequence,
        };
        self.client
            .publish(
                Watermark::subject(&self.namespace, self.stream),
                serde_json::to_vec(&watermark)?.into(),
            )
            .await?;
        Ok(())
    }

    /// Deletes sent rows older than the retention period.
    async fn prune(&self) -> sqlx::Result<u64> {
        let seconds = self.settings.retention.as_secs_f64();
        let deleted = sqlx::query(
            "delete from outbox
             where sent_at is not null and sent_at < now() - make_interval(secs => $1)",
        )
        .bind(seconds)
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(deleted)
    }
}
