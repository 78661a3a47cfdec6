//! The caller's own account: profile, deletion, password and sessions.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use common::Problem;
use common::error_code::ErrorCode;
use common::extract::{Json, Path};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use common::ids::SessionId;

use crate::accounts::Accounts;
use crate::accounts::email::password_problem;
use crate::accounts::views::UserView;
use crate::caller::AuthUser;
use crate::client_ip::ClientIp;
use crate::config::Settings;
use crate::error::ApiError;
use crate::sessions::{SessionList, Sessions};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions))
        .routes(routes!(delete_session))
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = UserView)))]
async fn get_me(
    State(accounts): State<Accounts>,
    user: AuthUser,
) -> Result<axum::Json<UserView>, ApiError> {
    Ok(axum::Json(accounts.get(user.user_id).await?.into()))
}

/// Deletes the caller's account: deactivated, phone and email erased, every
/// session ended. Only with a token of a session whose login was recent
/// (`REAUTH_MAX_AGE_SECONDS`, 5 minutes): a token stolen earlier, or minted
/// from a stolen refresh token, cannot delete the account.
#[utoipa::path(delete, path = "/api/v1/auth/me", tag = "account", security(("bearer" = [])),
    responses((status = 204, description = "the account is deleted"),
              (status = 401, description = "`reauthentication_required`: log in again (a new code), then delete with that session's token; `WWW-Authenticate` carries `insufficient_user_authentication` and `max_age` (RFC 9470)")))]
async fn delete_me(
    State(accounts): State<Accounts>,
    State(sessions): State<Sessions>,
    State(settings): State<Arc<Settings>>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let max_age = settings.reauth_max_age_seconds;
    if !user.logged_in_within(max_age) {
        return Ok(reauthentication_required(max_age));
    }
    accounts.delete(&sessions, user.user_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `401 reauthentication_required`, with the step-up challenge of RFC 9470
/// so that a client knows how recent the login must be.
fn reauthentication_required(max_age: u64) -> Response {
    let mut response = Problem::new(
        ErrorCode::ReauthenticationRequired,
        "deleting the account needs a recent login: log in again, then delete",
    )
    .into_response();
    let challenge = format!(
        r#"Bearer error="insufficient_user_authentication", error_description="a more recent login is required", max_age={max_age}"#
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePassword {
    pub current_password: String,
    /// At least 8 characters, at most 1024 bytes.
    #[schema(min_length = 8)]
    pub new_password: String,
}

/// Changes the caller's password; every other session ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "account", security(("bearer" = [])),
    request_body = ChangePassword,
    responses((status = 204, description = "changed"), (status = 401, description = "`invalid_credentials`"),
              (status = 429, description = "`rate_limited` with Retry-After")))]
async fn change_password(
    State(accounts): State<Accounts>,
    State(sessions): State<Sessions>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    Json(body): Json<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    if let Some(message) = password_problem(&body.new_password) {
        return Err(Problem::invalid_field("new_password", message).into());
    }
    accounts
        .change_password(
            &sessions,
            user.user_id,
            user.session_id,
            &body.current_password,
            &body.new_password,
            ip,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = SessionList)))]
async fn list_sessions(
    State(sessions): State<Sessions>,
    user: AuthUser,
) -> Result<axum::Json<SessionList>, ApiError> {
    Ok(axum::Json(
        sessions.list(user.user_id, user.session_id).await?,
    ))
}

/// Ends one of the caller's sessions; another user's is `404`.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 204, description = "ended"), (status = 404, description = "not the caller's")))]
async fn delete_session(
    State(sessions): State<Sessions>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    sessions.end_own(user.user_id, SessionId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
