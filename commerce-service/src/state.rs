//! The application state every handler and extractor draws from.

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::FromRef;
use common::events::outbox::{Outbox, Wake};
use common::keys::VerifyKeyring;
use common::verifier::{Verifier, VerifierSettings};
use secrecy::ExposeSecret as _;
use sqlx::PgPool;

use crate::caller::status::{StatusClient, StatusClientSettings};
use crate::catalog::markets::Markets;
use crate::config::Settings;

/// Cloned for every request (axum hands each handler its own copy), so a
/// clone is one reference count; the fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
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

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl FromRef<AppState> for Markets {
    fn from_ref(state: &AppState) -> Self {
        state.markets.clone()
    }
}

impl FromRef<AppState> for Outbox {
    fn from_ref(state: &AppState) -> Self {
        state.outbox.clone()
    }
}

impl AppState {
    /// Connects lazily: the service starts while PostgreSQL is down and
    /// recovers when it comes back.
    pub fn connect(settings: Settings) -> anyhow::Result<Self> {
        let options = common::db::connect_options(settings.database_url.expose_secret())
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        let db = common::db::pool_options(
            settings.database_max_connections,
            settings.database_acquire_timeout,
        )
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
        Ok(Self(Arc::new(Shared {
            outbox,
            outbox_wake,
            lifecycle: common::http::Lifecycle::default(),
            markets: Markets::new(db.clone()),
            settings: Arc::new(settings),
            db,
            verifier,
            token_status,
        })))
    }
}
