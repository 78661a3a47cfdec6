//! The markets table, cached briefly: every storefront request names one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use moka::future::Cache;
use sqlx::PgPool;

use super::queries::{self, MarketRow};
use crate::error::{ApiError, is_unavailable};

/// How long a read of the markets table is trusted.
const MARKETS_TTL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Markets {
    db: PgPool,
    cache: Cache<(), Arc<HashMap<String, MarketRow>>>,
}

impl Markets {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            cache: Cache::builder()
                .max_capacity(1)
                .time_to_live(MARKETS_TTL)
                .build(),
        }
    }

    /// Every market by code (one query per TTL however many callers ask).
    pub async fn all(&self) -> Result<Arc<HashMap<String, MarketRow>>, ApiError> {
        let db = self.db.clone();
        self.cache
            .try_get_with((), async move {
                let rows = queries::markets(&db).await?;
                Ok::<_, sqlx::Error>(Arc::new(
                    rows.into_iter().map(|m| (m.code.clone(), m)).collect(),
                ))
            })
            .await
            .map_err(|error: Arc<sqlx::Error>| {
                // moka shares one error among the callers that waited on it.
                if is_unavailable(&error) {
                    tracing::warn!(%error, "database unavailable");
                    ApiError::Http(common::Problem::dependency_unavailable())
                } else {
                    ApiError::Internal(anyhow::anyhow!("reading markets: {error}"))
                }
            })
    }

    /// The market of a request: `X-Market` when present, else `fallback`;
    /// an unknown code is `400 unknown_market`.
    pub async fn resolve(
        &self,
        headers: &HeaderMap,
        fallback: &str,
    ) -> Result<MarketRow, ApiError> {
        let code =
            common::market::requested_market(headers)?.unwrap_or_else(|| fallback.to_owned());
        self.all()
            .await?
            .get(&code)
            .cloned()
            .ok_or_else(|| common::market::unknown_market().into())
    }

    /// Forgets the cached table (after the seed or an admin change).
    pub fn invalidate(&self) {
        self.cache.invalidate_all();
    }
}
