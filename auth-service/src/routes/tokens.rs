//! Refresh rotation and logging out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use common::Problem;
use common::extract::{Json, has_json_content_type, parse_json};
use common::verifier::{VerifyError, bearer_token, now_unix};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{TokenPair, no_store, token_pair};
use crate::auth::{AuthUser, user_inactive};
use crate::db::users;
use crate::domain::refresh_token::RefreshToken;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::sessions::{RotateRequest, Rotation};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

fn refresh_invalid() -> Problem {
    Problem::unauthorized(
        "refresh_invalid",
        "the refresh token is not valid; log in again",
    )
}

/// Rotates a refresh token: a new pair of the same session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "tokens", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair),
              (status = 401, description = "`refresh_invalid`, `refresh_reused` (the session ends) or `user_inactive`")))]
async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let token =
        RefreshToken::decode(body.refresh_token.trim(), &state.keys).ok_or_else(refresh_invalid)?;
    let user = users::find(&state.db, token.user_id)
        .await?
        .ok_or_else(refresh_invalid)?;
    if !user.is_active {
        return Err(user_inactive().into());
    }
    let successor = token.successor(&state.keys);
    let rotation = state
        .store
        .rotate(RotateRequest {
            session_id: token.session_id,
            presented_digest: &token.digest(),
            successor_digest: &successor.digest(),
            now: now_unix(),
            grace_seconds: state.settings.refresh_grace_seconds,
            idle_seconds: state.settings.refresh_idle_seconds,
        })
        .await?;
    let (market, ttl) = match rotation {
        Rotation::Rotated { market, ttl } => {
            metrics::counter!("refresh_rotations_total", "outcome" => "rotated").increment(1);
            (market, ttl)
        }
        Rotation::GraceRetry { market, ttl } => {
            metrics::counter!("refresh_rotations_total", "outcome" => "grace_retry").increment(1);
            (market, ttl)
        }
        Rotation::Invalid => {
            metrics::counter!("refresh_rotations_total", "outcome" => "invalid").increment(1);
            return Err(refresh_invalid().into());
        }
        Rotation::Reused => {
            metrics::counter!("refresh_reuse_detected_total").increment(1);
            tracing::warn!(user_id = token.user_id, session_id = %token.session_id, "refresh token reuse: session revoked");
            return Err(Problem::unauthorized(
                "refresh_reused",
                "this refresh token was already used; the session has been ended",
            )
            .into());
        }
    };
    let pair = token_pair(&state, user, token.session_id, &market, &successor, ttl)?;
    Ok((no_store(), axum::Json(pair)))
}

/// Ends this session. Takes the access token (an expired but correctly
/// signed one too) or, without one, `{"refresh_token"}` in the body.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "tokens",
    request_body(content = Option<RefreshRequest>, description = "only without an Authorization header"),
    responses((status = 204, description = "the session has ended (or had already)"),
              (status = 401, description = "`missing_token`, `invalid_token` or `refresh_invalid`")))]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (user_id, session_id) = if headers.contains_key(header::AUTHORIZATION) {
        let token = bearer_token(&headers)?;
        let claims = state
            .verifier
            .verify_ignoring_expiry(token)
            .map_err(Problem::from)?;
        let user_id = claims
            .user_id()
            .ok_or(Problem::from(VerifyError::Invalid))?;
        (user_id, claims.sid)
    } else if body.is_empty() {
        return Err(Problem::unauthorized(
            "missing_token",
            "an access token or a refresh token is required",
        )
        .into());
    } else {
        if !has_json_content_type(&headers) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be application/json",
            )
            .into());
        }
        let request: RefreshRequest = parse_json(&body)?;
        let token = RefreshToken::decode(request.refresh_token.trim(), &state.keys)
            .ok_or_else(refresh_invalid)?;
        (token.user_id, token.session_id)
    };
    if let Some(session) = state.store.session(session_id).await?
        && session.user_id == user_id
    {
        state.store.end_session(&session).await?;
        tracing::info!(user_id, %session_id, "logout");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller, on every device.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "tokens",
    security(("bearer" = [])), responses((status = 204, description = "every session has ended")))]
async fn logout_all(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    revoke_everything(&state, user.user_id).await?;
    tracing::info!(user_id = user.user_id, "logout from every session");
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of a user and refuses every token issued so far.
pub async fn revoke_everything(state: &AppState, user_id: i64) -> Result<(), ApiError> {
    let settings = &state.settings;
    // The marker must outlive every access token issued before it.
    let marker_ttl = settings.access_token_ttl_seconds + settings.jwt_leeway_seconds + 60;
    state
        .store
        .revoke_user(user_id, now_unix(), marker_ttl)
        .await?;
    Ok(())
}
