//! The caller's own account: profile, deletion, password and sessions.

use axum::extract::State;
use axum::http::StatusCode;
use common::Problem;
use common::extract::{Json, Path};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::UserView;
use super::login::verify_password_login;
use super::tokens::revoke_everything;
use crate::auth::AuthUser;
use crate::db::users;
use crate::domain::email::password_problem;
use crate::error::ApiError;
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
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<axum::Json<UserView>, ApiError> {
    let row = users::find(&state.db, user.user_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    Ok(axum::Json(row.into()))
}

/// Deletes the caller's account: deactivated, phone and email erased, every session ended.
#[utoipa::path(delete, path = "/api/v1/auth/me", tag = "account", security(("bearer" = [])),
    responses((status = 204, description = "the account is deleted")))]
async fn delete_me(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    users::erase(&state.db, user.user_id).await?;
    revoke_everything(&state, user.user_id).await?;
    tracing::info!(user_id = user.user_id, "account deleted");
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
    responses((status = 204, description = "changed"), (status = 401, description = "`invalid_credentials`")))]
async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    if let Some(message) = password_problem(&body.new_password) {
        return Err(Problem::invalid_field("new_password", message).into());
    }
    let row = users::find(&state.db, user.user_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let Some(email) = row.email.as_deref() else {
        // Phone-only accounts have no password to change.
        return Err(
            Problem::unauthorized("invalid_credentials", "this account has no password").into(),
        );
    };
    verify_password_login(&state, email, &body.current_password).await?;
    let hash = state.passwords.hash(&body.new_password).await?;
    users::set_password(&state.db, user.user_id, &hash).await?;
    state
        .store
        .end_sessions_except(user.user_id, Some(user.session_id))
        .await?;
    tracing::info!(user_id = user.user_id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub device_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: OffsetDateTime,
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

fn timestamp(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The caller's live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = SessionList)))]
async fn list_sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<axum::Json<SessionList>, ApiError> {
    let sessions = state.store.user_sessions(user.user_id).await?;
    let items = sessions
        .into_iter()
        .map(|session| SessionView {
            current: session.id == user.session_id,
            id: session.id,
            device_name: session.device_name,
            created_at: timestamp(session.created_at),
            last_used_at: timestamp(session.last_used_at),
        })
        .collect();
    Ok(axum::Json(SessionList { items }))
}

/// Ends one of the caller's sessions; another user's is `404`.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 204, description = "ended"), (status = 404, description = "not the caller's")))]
async fn delete_session(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    match state.store.session(id).await? {
        Some(session) if session.user_id == user.user_id => {
            state.store.end_session(&session).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(Problem::not_found().into()),
    }
}
