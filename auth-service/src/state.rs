//! The application state every handler and extractor draws from: the
//! three features (each holding only what it needs) and what the HTTP
//! surface itself uses.

use std::sync::Arc;

use crate::redis_connection::RedisConnection;
use anyhow::Context as _;
use axum::extract::FromRef;
use common::events::outbox::{Outbox, Wake};
use common::verifier::Verifier;
use secrecy::ExposeSecret as _;
use sqlx::PgPool;

use crate::accounts::Accounts;
use crate::accounts::password::PasswordHasher;
use crate::config::Settings;
use crate::otp::{Otp, sms};
use crate::secrets::ServerKeys;
use crate::sessions::signing::TokenIssuer;
use crate::sessions::{SessionPolicy, Sessions};
use crate::store::RedisStore;

/// Cloned for every request (axum hands each handler its own copy), so a
/// clone is one reference count; the fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

#[derive(Clone)]
pub struct Shared {
    pub settings: Arc<Settings>,
    pub lifecycle: common::http::Lifecycle,
    pub db: PgPool,
    pub store: RedisStore,
    pub verifier: Verifier,
    pub jwks: Arc<serde_json::Value>,
    pub otp: Otp,
    pub sessions: Sessions,
    pub accounts: Accounts,
    /// Wakes this replica's outbox relay (`run_background`).
    pub outbox_wake: Wake,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for Accounts {
    fn from_ref(state: &AppState) -> Self {
        state.accounts.clone()
    }
}

impl FromRef<AppState> for Otp {
    fn from_ref(state: &AppState) -> Self {
        state.otp.clone()
    }
}

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

impl FromRef<AppState> for Arc<Settings> {
    fn from_ref(state: &AppState) -> Self {
        state.settings.clone()
    }
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

impl AppState {
    /// Connects lazily: the service starts (and reports not ready) while
    /// PostgreSQL or Redis is down, and recovers when they come back.
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

    /// With an existing pool (tests bring a fresh database each).
    pub fn with_pool(settings: Settings, db: PgPool) -> anyhow::Result<Self> {
        let conn =
            RedisConnection::open(settings.redis_url.expose_secret(), settings.redis_timeout)?;
        let store = RedisStore::new(conn, &settings.redis_key_prefix, settings.redis_timeout);
        let (issuer, verifier) = TokenIssuer::from_settings(&settings)?;
        let keys = ServerKeys::derive(&settings.auth_secret_key);
        let otp = Otp::new(
            store.clone(),
            sms::from_settings(&settings.sms, settings.sms_text.clone(), store.clone())?,
            keys.clone(),
            settings.otp.clone(),
            &settings.phone_countries,
            settings.sms_destinations.clone(),
        );
        let outbox_wake = Wake::default();
        let outbox = match settings.bus {
            Some(_) => Outbox::relayed_by(outbox_wake.clone()),
            None => Outbox::disabled(),
        };
        let accounts = Accounts::new(
            db.clone(),
            store.clone(),
            PasswordHasher::new(&settings.password)?,
            settings.password.clone(),
            &settings.default_market,
            outbox.clone(),
        );
        let jwks = Arc::new(issuer.jwks().clone());
        let sessions = Sessions::new(
            db.clone(),
            store.clone(),
            issuer,
            keys,
            SessionPolicy::from(&settings),
            outbox,
        );
        Ok(Self(Arc::new(Shared {
            lifecycle: common::http::Lifecycle::default(),
            settings: Arc::new(settings),
            db,
            store,
            verifier,
            jwks,
            otp,
            sessions,
            accounts,
            outbox_wake,
        })))
    }

    /// The same state with the phone-code feature reading another clock
    /// (tests cross day boundaries).
    pub fn with_otp_clock(self, clock: crate::otp::firewall::Clock) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.0);
        shared.otp = shared.otp.with_clock(clock);
        Self(Arc::new(shared))
    }
}
