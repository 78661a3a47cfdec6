//! The development SMS outbox: the `log` provider keeps each message here
//! (never in the logs), readable only through the dev-only internal route.

use serde::{Deserialize, Serialize};

use crate::store::{RedisStore, StoreError};

const KEEP_MESSAGES: isize = 20;
const KEEP_SECONDS: i64 = 3600;

/// One message as the outbox endpoint shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    pub to: String,
    pub code: String,
    /// The whole text as a provider would have sent it.
    #[serde(default)]
    pub message: String,
    /// RFC 3339.
    pub sent_at: String,
}

impl RedisStore {
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn push_outbox(&self, message: &OutboxMessage) -> Result<(), StoreError> {
        let key = self.keys().outbox(&message.to);
        let json =
            serde_json::to_string(message).map_err(|e| StoreError::Protocol(e.to_string()))?;
        self.run(|mut conn| async move {
            redis::pipe()
                .atomic()
                .lpush(&key, json)
                .ltrim(&key, 0, KEEP_MESSAGES - 1)
                .expire(&key, KEEP_SECONDS)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    /// Newest first.
    #[tracing::instrument(level = "debug", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    pub async fn read_outbox(&self, e164: &str) -> Result<Vec<OutboxMessage>, StoreError> {
        let key = self.keys().outbox(e164);
        let raw: Vec<String> = self
            .run(|mut conn| async move {
                redis::cmd("LRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(KEEP_MESSAGES - 1)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(raw
            .iter()
            .filter_map(|item| serde_json::from_str(item).ok())
            .collect())
    }
}
