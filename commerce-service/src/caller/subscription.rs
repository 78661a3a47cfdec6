//! Following auth-service's stream: every `auth.*` event, in order, into
//! the revocation push (`push.rs`), and the relays' watermarks beside it.
//! An ordered consumer replays what a broken connection missed; anything
//! worse (the consumer failing, the stream gone) marks the push lost and
//! subscribes again, resuming after the last sequence applied.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer};
use common::events::watermark::Watermark;
use common::events::{AUTH_STREAM, AuthEvent, Envelope, Namespace, existing_stream};
use futures::StreamExt as _;

use super::push::{Push, now_ms};

/// How long to wait before subscribing again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// How often the connection is looked at while no message comes.
const CONNECTION_CHECK: Duration = Duration::from_millis(100);

/// Follows the stream for as long as the process lives.
pub async fn follow(push: Push, client: async_nats::Client, namespace: Namespace) {
    tokio::spawn(follow_watermarks(
        push.clone(),
        client.clone(),
        namespace.clone(),
    ));
    let js = jetstream::new(client.clone());
    loop {
        if let Err(error) = follow_stream(&push, &client, &js, &namespace).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "revocation push lost; the short status TTL applies"
            );
        }
        push.lost();
        tokio::time::sleep(RETRY).await;
    }
}

/// One subscription, until it fails.
async fn follow_stream(
    push: &Push,
    client: &async_nats::Client,
    js: &jetstream::Context,
    namespace: &Namespace,
) -> anyhow::Result<()> {
    let stream = existing_stream(js, namespace, AUTH_STREAM).await?;
    let start = match push.applied() {
        // Resume: what was missed while away is replayed.
        Some(applied) => applied + 1,
        // Afresh: only what comes after concerns answers fetched from now.
        None => {
            let last = stream.get_info().await?.state.last_sequence;
            push.start_at(last);
            last + 1
        }
    };
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: namespace.subject(&format!("{}.>", AUTH_STREAM.subject_prefix)),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await
        .context("creating the ordered consumer")?;
    let mut messages = consumer.messages().await.context("pulling messages")?;
    push.subscribed();
    tracing::info!(start, "following auth-service's revocations");
    let mut check = tokio::time::interval(CONNECTION_CHECK);
    loop {
        let message = tokio::select! {
            message = messages.next() => message,
            _ = check.tick() => {
                // A dropped connection loses the consumer with it; waiting
                // for its missed heartbeats would take seconds.
                if client.connection_state() != async_nats::connection::State::Connected {
                    anyhow::bail!("the connection to NATS dropped");
                }
                continue;
            }
        };
        let Some(message) = message else {
            anyhow::bail!("the ordered consumer ended");
        };
        let message = message.context("the ordered consumer failed")?;
        let sequence = message
            .info()
            .map_err(|error| anyhow::anyhow!("a message without metadata: {error}"))?
            .stream_sequence;
        let event = serde_json::from_slice::<Envelope<AuthEvent>>(&message.payload);
        if let Err(error) = &event {
            // Applied as a sequence (not a gap) that resets the trust.
            tracing::warn!(%error, sequence, "an auth event this version cannot read");
        }
        push.apply(
            sequence,
            event.as_ref().ok().map(|envelope| &envelope.event),
        );
    }
}

/// The relays' watermarks, on a plain subscription.
async fn follow_watermarks(push: Push, client: async_nats::Client, namespace: Namespace) {
    let subject = Watermark::subject(&namespace, AUTH_STREAM);
    loop {
        match client.subscribe(subject.clone()).await {
            Ok(mut subscription) => {
                while let Some(message) = subscription.next().await {
                    if let Ok(watermark) = serde_json::from_slice::<Watermark>(&message.payload) {
                        push.watermark(watermark, now_ms());
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "subscribing to watermarks failed"),
        }
        tokio::time::sleep(RETRY).await;
    }
}
