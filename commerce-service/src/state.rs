//! The application state every handler and extractor draws from.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::FromRef;
use common::events::outbox::{Outbox, Wake};
use common::keys::VerifyKeyring;
use common::verifier::{Verifier, VerifierSettings};
use secrecy::ExposeSecret as _;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::caller::status::{StatusClient, StatusClientSettings};
use crate::catalog::markets::Markets;
use crate::config::Settings;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub lifecycle: common::http::Lifecycle,
    pub db: PgPool,
    pub verifier: Verifier,
    pub token_status: StatusClient,
    pub markets: Markets,
    /// Order events go out through it; `outbox_wake` wakes the relay.
    pub outbox: Outbox,
    pub outbox_wake: Wake,
}

impl AppState {
    /// Connects lazily: the service starts while PostgreSQL is down and
    /// recovers when it comes back.
    pub fn connect(settings: Settings) -> anyhow::Result<Self> {
        let options = common::db::connect_options(settings.database_url.expose_secret())
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        let db = PgPoolOptions::new()
            .max_connections(settings.database_max_connections)
            .acquire_timeout(settings.database_acquire_timeout)
            .connect_lazy_with(options);
        Self::with_pool(settings, db)
    }

    pub fn with_pool(settings: Settings, db: PgPool) -> anyhow::Result<Self> {
        let keyring = VerifyKeyring::from_entries(settings.jwt_algorithm, &settings.verify_keys)?;
        let verifier = Verifier::new(
            keyring,
            VerifierSettings {
                issuer: settings.jwt_issuer.clone(),
                audience: settings.jwt_audience.clone(),
                leeway_seconds: settings.jwt_leeway_seconds,
                max_lifetime_seconds: settings.access_token_ttl_seconds,
            },
        );
        let token_status = StatusClient::new(
            &settings.auth_url,
            settings.internal_api_token.clone(),
            StatusClientSettings {
                timeout: settings.auth_timeout,
                positive_ttl: settings.status_cache_ttl,
                // Without a bus nothing can vouch for an older answer.
                pushed_ttl: match settings.bus {
                    Some(_) => settings.status_cache_pushed_ttl,
                    None => settings.status_cache_ttl,
                },
                breaker_failures: settings.auth_breaker_failures,
                breaker_open: settings.auth_breaker_open,
            },
        )?;
        let outbox_wake = Wake::default();
        let outbox = match settings.bus {
            Some(_) => Outbox::relayed_by(outbox_wake.clone()),
            None => Outbox::disabled(),
        };
        Ok(Self {
            outbox,
            outbox_wake,
            lifecycle: common::http::Lifecycle::default(),
            markets: Markets::new(db.clone()),
            settings: Arc::new(settings),
            db,
            verifier,
            token_status,
        })
    }
}
