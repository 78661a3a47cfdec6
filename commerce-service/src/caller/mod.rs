//! Who is calling: `Customer` (a verified token of a live session, in its
//! market), `Admin`, and `Storefront` (the market of an anonymous catalog
//! request). Tokens are verified locally first; then auth-service is asked
//! whether the session still stands (`status.rs`, through its cache).
//! "auth" in this service means the other service only.

pub mod breaker;
pub mod push;
pub mod status;
pub mod subscription;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use common::Problem;
use common::claims::AccessClaims;
use common::error_code::ErrorCode;
use common::ids::UserId;
use common::token_status::RevocationReason;
use common::verifier::{VerifyError, bearer_token};

use crate::catalog::queries::MarketRow;
use crate::error::ApiError;
use crate::state::AppState;

/// Verifies the bearer token and asks whether its session still stands.
async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<(UserId, Arc<AccessClaims>), ApiError> {
    let token = bearer_token(&parts.headers)?;
    let claims = state.verifier.verify(token).map_err(Problem::from)?;
    let user_id = claims
        .user_id()
        .ok_or_else(|| Problem::from(VerifyError::Invalid))?;
    let status = state
        .token_status
        .status(user_id, claims.session_id(), claims.iat, claims.exp)
        .await
        .map_err(Problem::from)?;
    match status.reason {
        _ if status.active => Ok((user_id, claims)),
        Some(RevocationReason::UserInactive) => Err(Problem::user_inactive().into()),
        Some(RevocationReason::TokensRevoked | RevocationReason::SessionRevoked) | None => {
            Err(Problem::token_revoked().into())
        }
    }
}

/// A customer acting in their token's market.
#[derive(Debug, Clone)]
pub struct Customer {
    pub user_id: UserId,
    pub market: MarketRow,
}

impl FromRequestParts<AppState> for Customer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (user_id, claims) = authenticate(parts, state).await?;
        let market = state
            .markets
            .resolve(&parts.headers, &claims.market)
            .await?;
        if market.code != claims.market {
            return Err(Problem::new(
                ErrorCode::MarketMismatch,
                "X-Market differs from the market this session logged in to",
            )
            .into());
        }
        Ok(Customer { user_id, market })
    }
}

/// A caller whose token says `role: admin`; others get `403 forbidden`.
#[derive(Debug, Clone)]
pub struct Admin {
    pub user_id: UserId,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (user_id, claims) = authenticate(parts, state).await?;
        if claims.is_admin() {
            Ok(Admin { user_id })
        } else {
            Err(Problem::forbidden().into())
        }
    }
}

/// The storefront market of a catalog request (no token involved).
#[derive(Debug, Clone)]
pub struct Storefront(pub MarketRow);

impl FromRequestParts<AppState> for Storefront {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let market = state
            .markets
            .resolve(&parts.headers, &state.settings.default_market)
            .await?;
        Ok(Storefront(market))
    }
}

/// The client's address as the rate limits count it (behind the gateway:
/// its `X-Forwarded-For`, see `common::client_ip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            state.settings.client_addressing.client_of(parts),
        ))
    }
}
