//! Who is calling: `AuthUser` (a valid access token of a live session of an
//! active user), `AdminUser`, and `InternalCaller` (the service secret).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use common::Problem;
use common::claims::AccessClaims;
use common::verifier::bearer_token;
use secrecy::ExposeSecret as _;
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::db::users;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::sessions::SessionState;

/// The standing of a token's session, in API.md's order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStanding {
    Active,
    UserInactive,
    TokensRevoked,
    SessionRevoked,
}

impl TokenStanding {
    /// The `reason` of `token-status`.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Self::Active => None,
            Self::UserInactive => Some("user_inactive"),
            Self::TokensRevoked => Some("tokens_revoked"),
            Self::SessionRevoked => Some("session_revoked"),
        }
    }
}

/// Asks PostgreSQL (is the user active?) and Redis (session and "not
/// before") at once. auth-service keeps no cache: it refuses ended
/// sessions immediately.
pub async fn token_standing(
    state: &AppState,
    user_id: i64,
    session_id: Uuid,
    issued_at: i64,
) -> Result<TokenStanding, ApiError> {
    let (active, session) = tokio::join!(
        users::is_active(&state.db, user_id),
        state.store.session_state(user_id, session_id, issued_at)
    );
    if !active? {
        return Ok(TokenStanding::UserInactive);
    }
    Ok(match session? {
        SessionState::Active => TokenStanding::Active,
        SessionState::TokensRevoked => TokenStanding::TokensRevoked,
        SessionState::SessionRevoked => TokenStanding::SessionRevoked,
    })
}

/// A caller with a valid access token of a live session.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i64,
    pub session_id: Uuid,
    pub claims: Arc<AccessClaims>,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?;
        let claims = state.verifier.verify(token).map_err(Problem::from)?;
        let user_id = claims
            .user_id()
            .ok_or_else(|| Problem::unauthorized("invalid_token", "the access token is invalid"))?;
        match token_standing(state, user_id, claims.sid, claims.iat).await? {
            TokenStanding::Active => Ok(AuthUser {
                user_id,
                session_id: claims.sid,
                claims,
            }),
            TokenStanding::UserInactive => Err(user_inactive().into()),
            TokenStanding::TokensRevoked | TokenStanding::SessionRevoked => Err(
                Problem::unauthorized("token_revoked", "this session has ended; log in again")
                    .into(),
            ),
        }
    }
}

pub fn user_inactive() -> Problem {
    Problem::unauthorized("user_inactive", "this account is deactivated")
}

/// An authenticated caller whose token says `role: admin`; others get 403.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.claims.is_admin() {
            Ok(AdminUser(user))
        } else {
            Err(Problem::forbidden().into())
        }
    }
}

/// Another service presenting `INTERNAL_API_TOKEN`; compared in constant time.
#[derive(Debug, Clone, Copy)]
pub struct InternalCaller;

impl FromRequestParts<AppState> for InternalCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = bearer_token(&parts.headers)?;
        let expected = state.settings.internal_api_token.expose_secret();
        if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(InternalCaller)
        } else {
            Err(
                Problem::unauthorized("invalid_token", "this endpoint is for internal callers")
                    .into(),
            )
        }
    }
}
