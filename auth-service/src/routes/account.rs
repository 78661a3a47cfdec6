//! The caller's own account: profile, deletion, password and sessions.

use axum::extract::State;
use axum::http::StatusCode;
use common::Problem;
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

/// Deletes the caller's account: deactivated, phone and email erased, every session ended.
#[utoipa::path(delete, path = "/api/v1/auth/me", tag = "account", security(("bearer" = [])),
    responses((status = 204, description = "the account is deleted")))]
async fn delete_me(
    State(accounts): State<Accounts>,
    State(sessions): State<Sessions>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    accounts.delete(&sessions, user.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePassword {
    pub current_password: String,
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
