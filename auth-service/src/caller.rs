//! Who is calling: `AuthUser` (a valid access token of a live session of an
//! active user, asked of the sessions feature), `AdminUser`, and
//! `InternalCaller` (the service secret).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use common::Problem;
use common::claims::AccessClaims;
use common::error_code::ErrorCode;
use common::ids::{SessionId, UserId};
use common::token_status::RevocationReason;
use common::verifier::{VerifyError, bearer_token, now_unix};
use secrecy::ExposeSecret as _;
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::state::AppState;

/// A caller with a valid access token of a live session.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub claims: Arc<AccessClaims>,
}

impl AuthUser {
    /// Whether the login that started this session happened within the
    /// last `seconds` (a refresh is not a login: it keeps the time).
    pub fn logged_in_within(&self, seconds: u64) -> bool {
        self.claims
            .auth_time
            .is_some_and(|at| now_unix().saturating_sub(at) <= seconds as i64)
    }
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
            .ok_or_else(|| Problem::from(VerifyError::Invalid))?;
        match state
            .sessions
            .revocation(user_id, claims.session_id(), claims.iat)
            .await?
        {
            None => Ok(AuthUser {
                user_id,
                session_id: claims.session_id(),
                claims,
            }),
            Some(RevocationReason::UserInactive) => Err(Problem::user_inactive().into()),
            Some(RevocationReason::TokensRevoked | RevocationReason::SessionRevoked) => {
                Err(Problem::token_revoked().into())
            }
        }
    }
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
            Err(Problem::new(
                ErrorCode::InvalidToken,
                "this endpoint is for internal callers",
            )
            .into())
        }
    }
}
