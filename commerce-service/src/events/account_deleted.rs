//! What commerce does when auth-service deletes an account
//! (`auth.user.deleted`): the account's pending orders are cancelled with
//! their stock returned, its carts and wishlist emptied. A durable
//! JetStream consumer shared by every replica delivers each deletion to one
//! of them and again until it is acknowledged; acting twice changes
//! nothing the second time (no order is pending any more, nothing is left
//! to delete), so a redelivery cancels no order twice.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use common::db::Bounded as _;
use common::events::outbox::Outbox;
use common::events::{AUTH_STREAM, AuthEvent, Envelope, Namespace, UserRef, existing_stream};
use common::ids::UserId;
use futures::StreamExt as _;
use sqlx::PgPool;

use crate::cart::queries as carts;
use crate::orders::fulfilment;
use crate::orders::queries as orders;
use crate::wishlist::queries as wishlists;

/// How long to wait before following again after a failure, and before a
/// deletion that failed is delivered again.
const RETRY: Duration = Duration::from_secs(2);

/// What forgetting an account removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forgotten {
    pub orders_cancelled: usize,
    pub carts_deleted: u64,
    pub wishlists_deleted: u64,
}

/// Cancels the account's pending orders (stock back, an order event each)
/// and deletes its carts and wishlist, in one transaction.
pub async fn forget_account(
    db: &PgPool,
    outbox: &Outbox,
    user_id: UserId,
) -> sqlx::Result<Forgotten> {
    let mut tx = db.begin().bounded().await?;
    // A checkout of this user still under way finishes first, and its
    // order is then found pending and cancelled.
    orders::lock_user_checkouts(&mut tx, user_id).await?;
    let orders_cancelled = fulfilment::cancel_pending_of(&mut tx, outbox, user_id).await?;
    let carts_deleted = carts::delete_all_of(&mut *tx, user_id).await?;
    let wishlists_deleted = wishlists::delete_of(&mut *tx, user_id).await?;
    tx.commit().bounded().await?;
    outbox.committed();
    Ok(Forgotten {
        orders_cancelled,
        carts_deleted,
        wishlists_deleted,
    })
}

/// Follows account deletions for as long as the process lives.
pub async fn follow(db: PgPool, outbox: Outbox, client: async_nats::Client, namespace: Namespace) {
    let js = jetstream::new(client);
    loop {
        if let Err(error) = consume(&db, &outbox, &js, &namespace).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "following account deletions failed; retrying"
            );
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// The durable consumer's name: one per deployment, shared by replicas.
pub fn consumer_name(namespace: &Namespace) -> String {
    namespace.name("commerce_account_deleted")
}

async fn consume(
    db: &PgPool,
    outbox: &Outbox,
    js: &jetstream::Context,
    namespace: &Namespace,
) -> anyhow::Result<()> {
    let stream = existing_stream(js, namespace, AUTH_STREAM).await?;
    let name = consumer_name(namespace);
    let consumer = stream
        .get_or_create_consumer(
            &name,
            consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: namespace.subject("auth.user.deleted"),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|error| anyhow::anyhow!("{error}"))?;
        let user_id = match serde_json::from_slice::<Envelope<AuthEvent>>(&message.payload) {
            Ok(Envelope {
                event: AuthEvent::UserDeleted(UserRef { user_id }),
                ..
            }) => user_id,
            other => {
                // Not a deletion this version can read: redelivering it
                // would not help.
                tracing::error!(error = ?other.err(), "an account deletion that cannot be read");
                message
                    .ack_with(AckKind::Term)
                    .await
                    .map_err(|error| anyhow::anyhow!("{error}"))?;
                continue;
            }
        };
        match forget_account(db, outbox, user_id).await {
            Ok(forgotten) => {
                tracing::info!(
                    user_id = user_id.0,
                    orders_cancelled = forgotten.orders_cancelled,
                    "a deleted account's orders, carts and wishlist forgotten"
                );
                message
                    .ack()
                    .await
                    .map_err(|error| anyhow::anyhow!("{error}"))?;
            }
            Err(error) => {
                tracing::warn!(%error, user_id = user_id.0, "forgetting a deleted account failed; it comes again");
                message
                    .ack_with(AckKind::Nak(Some(RETRY)))
                    .await
                    .map_err(|error| anyhow::anyhow!("{error}"))?;
            }
        }
    }
    anyhow::bail!("the account-deletion consumer ended")
}
