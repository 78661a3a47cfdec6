//! Refresh rotation and logging out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use common::Problem;
use common::error_code::ErrorCode;
use common::extract::{Json, has_json_content_type, parse_json};
use common::ids::{SessionId, UserId};
use common::verifier::{Verifier, VerifyError, bearer_token};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::no_store;
use crate::caller::AuthUser;
use crate::error::ApiError;
use crate::sessions::{Sessions, TokenPair};
use crate::state::AppState;

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

/// Rotates a refresh token: a new pair of the same session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "tokens", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair),
              (status = 401, description = "`refresh_invalid`, `refresh_reused` (the session ends) or `user_inactive`")))]
async fn refresh(
    State(sessions): State<Sessions>,
    Json(body): Json<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let pair = sessions.refresh(body.refresh_token.trim()).await?;
    Ok((no_store(), axum::Json(pair)))
}

/// Ends this session. Takes the access token (an expired but correctly
/// signed one too, if it expired within the refresh idle lifetime) or,
/// without one, `{"refresh_token"}` in the body.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "tokens",
    request_body(content = Option<RefreshRequest>, description = "only without an Authorization header"),
    responses((status = 204, description = "the session has ended (or had already)"),
              (status = 401, description = "`missing_token`, `invalid_token`, `token_expired` (expired longer ago than a session may sit idle) or `refresh_invalid`")))]
async fn logout(
    State(sessions): State<Sessions>,
    State(verifier): State<Verifier>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let (user_id, session_id) = session_to_end(&sessions, &verifier, &headers, &body)?;
    sessions.end(user_id, session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The session a logout names: by its access token when there is an
/// `Authorization` header, else by the refresh token in the body.
fn session_to_end(
    sessions: &Sessions,
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(UserId, SessionId), Problem> {
    if headers.contains_key(header::AUTHORIZATION) {
        // A token that expired longer ago than a session can sit idle
        // belongs to a session that has ended by itself.
        let claims = verifier
            .verify_recently_expired(bearer_token(headers)?, sessions.idle_lifetime_seconds())?;
        let user_id = claims.user_id().ok_or(VerifyError::Invalid)?;
        return Ok((user_id, claims.session_id()));
    }
    if body.is_empty() {
        return Err(Problem::new(
            ErrorCode::MissingToken,
            "an access token or a refresh token is required",
        ));
    }
    if !has_json_content_type(headers) {
        return Err(Problem::unsupported_media_type());
    }
    let request: RefreshRequest = parse_json(body)?;
    sessions.refresh_owner(request.refresh_token.trim())
}

/// Ends every session of the caller, on every device.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "tokens",
    security(("bearer" = [])), responses((status = 204, description = "every session has ended")))]
async fn logout_all(
    State(sessions): State<Sessions>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    sessions.revoke_everything(user.user_id).await?;
    tracing::info!(user_id = user.user_id.0, "logout from every session");
    Ok(StatusCode::NO_CONTENT)
}
