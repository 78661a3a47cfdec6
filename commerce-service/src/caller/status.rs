//! The one question commerce-service asks auth-service — is this token's
//! session still active? (the contract of `common::token_status`) — behind
//! a short-lived cache keyed by session id.
//!
//! Positive answers live `STATUS_CACHE_TTL_MS` (2 s by default), so a
//! logout or deactivation is refused within that bound; with the
//! revocation push healthy (`push.rs`) they may live up to
//! `STATUS_CACHE_PUSHED_TTL_MS` (30 s), and a pushed revocation drops
//! them at once. An ended session
//! never comes back, so that answer lives until the token would expire
//! anyway; "the user is inactive" can change (an admin reactivates), so it
//! lives no longer than a positive answer, and after a reactivation the
//! token is refused for what auth-service then says (its session ended). Concurrent misses for one session make one call. When
//! auth-service cannot answer and nothing fresh is cached, the request is
//! refused with `503 auth_unavailable`: never a silent accept.
//!
//! `AUTH_URL` may list several replicas (comma-separated) where no load
//! balancer stands in front of them: calls go round the list, and a call
//! that fails (not connected, timed out, 5xx) is asked once of each other
//! replica before giving up. Asking again is safe: the question changes
//! nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Problem;
use common::error_code::ErrorCode;
use common::ids::{SessionId, UserId};
use common::token_status::{RevocationReason, TOKEN_STATUS_PATH, TokenStatus, TokenStatusRequest};
use common::verifier::now_unix;
use moka::future::Cache;

use super::breaker::Breaker;
use super::push::{Push, Ticket};
use secrecy::{ExposeSecret, SecretString};

const CACHE_CAPACITY: u64 = 500_000;
const RETRY_AFTER_SECONDS: u64 = 2;

#[derive(Clone)]
struct Cached {
    status: Arc<TokenStatus>,
    lives: Duration,
    /// When the call began, for the push to judge the answer by.
    ticket: Ticket,
}

impl Cached {
    /// Whether the answer can change (an ended session never comes back).
    fn may_change(&self) -> bool {
        self.status.active || self.status.reason == Some(RevocationReason::UserInactive)
    }
}

struct CachedLifetime;

impl moka::Expiry<SessionId, Cached> for CachedLifetime {
    fn expire_after_create(
        &self,
        _key: &SessionId,
        value: &Cached,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.lives)
    }
}

/// Why no answer could be had.
#[derive(Debug, Clone, thiserror::Error)]
#[error("auth-service did not answer: {0}")]
pub struct AuthUnavailable(String);

impl From<AuthUnavailable> for Problem {
    fn from(_: AuthUnavailable) -> Self {
        Problem::new(
            ErrorCode::AuthUnavailable,
            "sign-in checks are unavailable; try again shortly",
        )
        .with_retry_after(RETRY_AFTER_SECONDS)
    }
}

/// The token-status client and its cache; cheap to clone.
#[derive(Clone)]
pub struct StatusClient {
    http: reqwest::Client,
    /// The token-status URL of each auth-service replica.
    urls: Arc<[Arc<str>]>,
    /// Where the next call starts in `urls` (round robin).
    next: Arc<AtomicUsize>,
    token: SecretString,
    positive_ttl: Duration,
    push: Push,
    cache: Cache<SessionId, Cached>,
    calls: Arc<AtomicU64>,
    breaker: Arc<Breaker>,
}

/// How the client reaches auth-service.
#[derive(Debug, Clone, Copy)]
pub struct StatusClientSettings {
    pub timeout: Duration,
    /// How long a positive answer is trusted (0: ask every time).
    pub positive_ttl: Duration,
    /// How long while the revocation push is healthy.
    pub pushed_ttl: Duration,
    pub breaker_failures: u32,
    pub breaker_open: Duration,
}

impl StatusClient {
    /// `auth_urls`: one base URL, or several separated by commas.
    pub fn new(
        auth_urls: &str,
        token: SecretString,
        settings: StatusClientSettings,
    ) -> anyhow::Result<Self> {
        let StatusClientSettings {
            timeout,
            positive_ttl,
            ..
        } = settings;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            urls: auth_urls
                .split(',')
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map(|url| format!("{}{TOKEN_STATUS_PATH}", url.trim_end_matches('/')).into())
                .collect(),
            next: Arc::new(AtomicUsize::new(0)),
            token,
            positive_ttl,
            push: Push::new(positive_ttl, settings.pushed_ttl),
            cache: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .expire_after(CachedLifetime)
                .build(),
            calls: Arc::new(AtomicU64::new(0)),
            breaker: Arc::new(Breaker::new(
                settings.breaker_failures,
                settings.breaker_open,
            )),
        })
    }

    /// The revocation push this cache follows.
    pub fn push(&self) -> &Push {
        &self.push
    }

    /// How many calls this client made to auth-service.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The standing of a token's session, cached as the module explains.
    pub async fn status(
        &self,
        user_id: UserId,
        session_id: SessionId,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<Arc<TokenStatus>, AuthUnavailable> {
        if self.positive_ttl.is_zero() {
            metrics::counter!("status_cache_requests_total", "result" => "bypass").increment(1);
            return self
                .fetch(user_id, session_id, issued_at)
                .await
                .map(Arc::new);
        }
        if let Some(hit) = self.cache.get(&session_id).await {
            if !hit.may_change() || self.push.may_serve(user_id, session_id, hit.ticket) {
                metrics::counter!("status_cache_requests_total", "result" => "hit").increment(1);
                return Ok(hit.status);
            }
            // Revoked by a pushed event, or older than the push vouches for.
            self.cache.invalidate(&session_id).await;
        }
        metrics::counter!("status_cache_requests_total", "result" => "miss").increment(1);
        let cached = self
            .cache
            .try_get_with(session_id, async {
                let ticket = self.push.ticket();
                let status = self.fetch(user_id, session_id, issued_at).await?;
                let changes =
                    status.active || status.reason == Some(RevocationReason::UserInactive);
                let lives = if changes {
                    self.push.longest()
                } else {
                    Duration::from_secs(expires_at.saturating_sub(now_unix()).max(1) as u64)
                };
                Ok::<_, AuthUnavailable>(Cached {
                    status: Arc::new(status),
                    lives,
                    ticket,
                })
            })
            .await
            .map_err(|error: Arc<AuthUnavailable>| (*error).clone())?;
        Ok(cached.status)
    }

    #[tracing::instrument(name = "auth.token_status", skip_all, fields(otel.kind = "client", user_id = user_id.0))]
    async fn fetch(
        &self,
        user_id: UserId,
        session_id: SessionId,
        issued_at: i64,
    ) -> Result<TokenStatus, AuthUnavailable> {
        let Ok(permit) = self.breaker.admit() else {
            metrics::counter!("auth_status_calls_total", "outcome" => "breaker_open").increment(1);
            return Err(AuthUnavailable(
                "the token-status breaker is open".to_owned(),
            ));
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut outcome = Err(AuthUnavailable("no auth-service URL".to_owned()));
        for offset in 0..self.urls.len() {
            let url = &self.urls[(start + offset) % self.urls.len()];
            outcome = self.ask(url, user_id, session_id, issued_at).await;
            if outcome.is_ok() {
                break;
            }
        }
        permit.record(outcome.is_ok());
        let label = if outcome.is_ok() { "ok" } else { "error" };
        metrics::counter!("auth_status_calls_total", "outcome" => label).increment(1);
        metrics::histogram!("auth_status_call_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        if let Err(error) = &outcome {
            tracing::warn!(%error, "token-status call failed");
        }
        outcome
    }

    /// One token-status call to one replica.
    async fn ask(
        &self,
        url: &str,
        user_id: UserId,
        session_id: SessionId,
        issued_at: i64,
    ) -> Result<TokenStatus, AuthUnavailable> {
        let response = self
            .http
            .post(url)
            // W3C traceparent: auth-service's span joins this trace.
            .headers(common::telemetry::trace_headers())
            .bearer_auth(self.token.expose_secret())
            .header(
                "x-request-id",
                common::request_id::current().unwrap_or_default(),
            )
            .json(&TokenStatusRequest {
                user_id,
                session_id,
                issued_at,
            })
            .send()
            .await
            .map_err(|error| AuthUnavailable(error.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(AuthUnavailable(format!(
                "token-status answered {}",
                response.status()
            )));
        }
        response
            .json::<TokenStatus>()
            .await
            .map_err(|error| AuthUnavailable(error.without_url().to_string()))
    }

    /// Whether some auth-service replica answers at all (for readiness
    /// reporting).
    pub async fn reachable(&self) -> bool {
        for url in self.urls.iter() {
            let base = url.trim_end_matches(TOKEN_STATUS_PATH);
            let healthy = self
                .http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if healthy {
                return true;
            }
        }
        false
    }
}
