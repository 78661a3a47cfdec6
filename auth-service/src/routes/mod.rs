//! The HTTP surface: each module exports a `router()`; they are merged here.

pub mod account;
pub mod admin;
pub mod internal;
pub mod login;
pub mod system;
pub mod tokens;

use axum::Router;
use axum::http::HeaderMap;
use common::Problem;
use common::claims::Role;
use common::verifier::now_unix;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::db::users::UserRow;
use crate::domain::refresh_token::RefreshToken;
use crate::error::ApiError;
use crate::signing::Subject;
use crate::state::AppState;
use crate::store::sessions::NewSession;

#[derive(OpenApi)]
#[openapi(
    info(title = "auth-service", description = "Login by phone code or password, tokens, sessions and users of the shop."),
    components(schemas(common::problem::ProblemBody<'static>, common::problem::FieldError))
)]
struct ApiDoc;

/// The whole application: public routes (documented in `/openapi.json`),
/// internal routes, health and metrics, with the common layers.
pub fn app(state: AppState) -> Router {
    let (public, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(login::router())
        .merge(tokens::router())
        .merge(account::router())
        .merge(admin::router())
        .split_for_parts();
    let openapi = std::sync::Arc::new(openapi);
    let router = public
        .merge(internal::router())
        .merge(system::router(openapi))
        .merge(common::http::health_route())
        .with_state(state.clone());
    common::http::finish_router(router, state.settings.request_timeout)
}

/// A user as API.md shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub role: String,
    pub market: String,
    pub is_active: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            phone: row.phone,
            email: row.email,
            role: row.role,
            market: row.market,
            is_active: row.is_active,
            created_at: row.created_at,
        }
    }
}

/// A token pair response.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub session_id: Uuid,
    pub user: UserView,
}

/// Headers of every token response (RFC 6749 §5.1).
pub fn no_store() -> [(axum::http::HeaderName, &'static str); 2] {
    [
        (axum::http::header::CACHE_CONTROL, "no-store"),
        (axum::http::header::PRAGMA, "no-cache"),
    ]
}

/// The login's market: `X-Market` when present (and known), else the default.
pub fn login_market(headers: &HeaderMap, state: &AppState) -> Result<String, Problem> {
    match common::market::requested_market(headers)? {
        Some(code) if state.settings.markets.contains(&code) => Ok(code),
        Some(_) => Err(common::market::unknown_market()),
        None => Ok(state.settings.default_market.clone()),
    }
}

pub fn role_of(row: &UserRow) -> Role {
    Role::parse(&row.role).unwrap_or(Role::Customer)
}

/// `device_name`: optional, at most 100 characters, no control characters.
pub fn validate_device_name(name: Option<String>) -> Result<Option<String>, Problem> {
    match name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        Some(name) if name.chars().count() > 100 || name.chars().any(char::is_control) => Err(
            Problem::invalid_field("device_name", "must be at most 100 printable characters"),
        ),
        other => Ok(other),
    }
}

/// Starts a session for `user` and answers with its first token pair.
pub async fn start_session(
    state: &AppState,
    user: UserRow,
    market: &str,
    device_name: Option<&str>,
) -> Result<TokenPair, ApiError> {
    let now = now_unix();
    let session_id = Uuid::new_v4();
    let refresh = RefreshToken::first(user.id, session_id);
    let settings = &state.settings;
    state
        .store
        .create_session(&NewSession {
            id: session_id,
            user_id: user.id,
            market,
            device_name,
            now,
            refresh_digest: &refresh.digest(),
            idle_seconds: settings.refresh_idle_seconds,
            max_seconds: settings.session_max_seconds,
        })
        .await?;
    metrics::counter!("auth_sessions_started_total").increment(1);
    token_pair(
        state,
        user,
        session_id,
        market,
        &refresh,
        settings
            .refresh_idle_seconds
            .min(settings.session_max_seconds),
    )
}

/// A pair of a fresh access token and the given refresh token.
pub fn token_pair(
    state: &AppState,
    user: UserRow,
    session_id: Uuid,
    market: &str,
    refresh: &RefreshToken,
    refresh_expires_in: u64,
) -> Result<TokenPair, ApiError> {
    let subject = Subject {
        user_id: user.id,
        session_id,
        market,
        role: role_of(&user),
    };
    let access_token = state.issuer.issue(subject, now_unix())?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.issuer.ttl_seconds(),
        refresh_token: refresh.encode(&state.keys),
        refresh_expires_in,
        session_id,
        user: user.into(),
    })
}
