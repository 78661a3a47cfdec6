//! Admin user management (`role: admin` tokens only).

use axum::extract::State;
use axum::http::StatusCode;
use common::Problem;
use common::claims::Role;
use common::extract::{Id, Json, Path, Query};
use common::ids::UserId;
use common::pagination::{PageQuery, Paginated};
use common::problem::FieldError;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::phone_field;
use crate::accounts::Accounts;
use crate::accounts::admin::UserSearch as Search;
use crate::accounts::email::{normalize_email, password_problem};
use crate::accounts::views::UserView;
use crate::caller::AdminUser;
use crate::error::ApiError;
use crate::otp::Otp;
use crate::sessions::{SessionList, Sessions};
use crate::state::AppState;
use common::ids::SessionId;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
        .routes(routes!(deactivate_user))
        .routes(routes!(activate_user))
        .routes(routes!(list_user_sessions))
        .routes(routes!(end_user_session))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserSearch {
    /// Exact match after normalisation to E.164 (write `+` as `%2B`).
    pub phone: Option<String>,
    /// Exact match, case-insensitive.
    pub email: Option<String>,
    /// From 1.
    #[param(pattern = "^[1-9][0-9]{0,8}$")]
    pub page: Option<String>,
    /// 1 to 100 (larger is clamped to 100).
    #[param(pattern = "^[1-9][0-9]{0,8}$")]
    pub per_page: Option<String>,
}

/// Users, newest first, optionally matched by phone or email.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    params(UserSearch), responses((status = 200, body = Paginated<UserView>), (status = 403, description = "not an admin")))]
async fn list_users(
    State(accounts): State<Accounts>,
    State(otp): State<Otp>,
    _admin: AdminUser,
    Query(search): Query<UserSearch>,
) -> Result<axum::Json<Paginated<UserView>>, ApiError> {
    let page = PageQuery {
        page: search.page,
        per_page: search.per_page,
    }
    .validate()?;
    let phone = match search.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(raw) => Some(phone_field(&otp, raw, "phone")?.e164().to_owned()),
        None => None,
    };
    let email = search
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| e.trim().to_lowercase());
    let (rows, total) = accounts
        .search(Search {
            phone: phone.as_deref(),
            email: email.as_deref(),
            limit: page.per_page,
            offset: page.offset(),
        })
        .await?;
    Ok(axum::Json(Paginated::new(
        rows.into_iter().map(UserView::from).collect(),
        page,
        total,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUser {
    #[schema(format = Email)]
    pub email: String,
    /// At least 8 characters, at most 1024 bytes.
    #[schema(min_length = 8)]
    pub password: String,
    /// `customer` or `admin`.
    #[schema(pattern = "^(customer|admin)$")]
    pub role: String,
}

/// Creates an account that logs in by email and password.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, description = "`email_taken`")))]
async fn create_user(
    State(accounts): State<Accounts>,
    _admin: AdminUser,
    Json(body): Json<CreateUser>,
) -> Result<(StatusCode, axum::Json<UserView>), ApiError> {
    let mut errors = Vec::new();
    let email = normalize_email(&body.email);
    if email.is_none() {
        errors.push(FieldError::new("email", "must be an email address"));
    }
    if let Some(message) = password_problem(&body.password) {
        errors.push(FieldError::new("password", message));
    }
    let role = Role::parse(&body.role);
    if role.is_none() {
        errors.push(FieldError::new("role", "must be customer or admin"));
    }
    let (Some(email), Some(role)) = (email, role).clone() else {
        return Err(Problem::validation(errors).into());
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    let row = accounts
        .create_with_password(&email, &body.password, role)
        .await?;
    tracing::info!(
        user_id = row.id.0,
        role = row.role.as_str(),
        "account created by an admin"
    );
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

/// Deactivates a user: every session of theirs stops working.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/deactivate", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 404, description = "no such user")))]
async fn deactivate_user(
    State(accounts): State<Accounts>,
    State(sessions): State<Sessions>,
    AdminUser(admin): AdminUser,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<UserView>, ApiError> {
    let row = accounts
        .deactivate(&sessions, UserId(id), admin.user_id)
        .await?;
    Ok(axum::Json(row.into()))
}

/// Activates a user again; old sessions stay ended.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/activate", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 404, description = "no such user")))]
async fn activate_user(
    State(accounts): State<Accounts>,
    AdminUser(admin): AdminUser,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<UserView>, ApiError> {
    let row = accounts.activate(UserId(id), admin.user_id).await?;
    Ok(axum::Json(row.into()))
}

/// One user by id.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 404, description = "no such user")))]
async fn get_user(
    State(accounts): State<Accounts>,
    _admin: AdminUser,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<UserView>, ApiError> {
    Ok(axum::Json(accounts.get(UserId(id)).await?.into()))
}

/// A user's live sessions, newest first (`current` marks the admin's own
/// session, when the admin looks at their own account).
#[utoipa::path(get, path = "/api/v1/admin/users/{id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = SessionList), (status = 404, description = "no such user")))]
async fn list_user_sessions(
    State(accounts): State<Accounts>,
    State(sessions): State<Sessions>,
    AdminUser(admin): AdminUser,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<SessionList>, ApiError> {
    let user = accounts.get(UserId(id)).await?;
    Ok(axum::Json(sessions.list(user.id, admin.session_id).await?))
}

/// Ends one session of a user at once, as the user's own `DELETE
/// /api/v1/auth/sessions/{id}` would; `404` unless the session is the
/// user's and live.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/sessions/{session_id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id"), ("session_id" = Uuid, Path, description = "session id")),
    responses((status = 204, description = "ended"), (status = 404, description = "no such live session of the user")))]
async fn end_user_session(
    State(sessions): State<Sessions>,
    AdminUser(admin): AdminUser,
    Path(path): Path<(Id, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let (Id(id), session_id) = path;
    sessions.end_own(UserId(id), SessionId(session_id)).await?;
    tracing::info!(
        user_id = id,
        admin_id = admin.user_id.0,
        "session ended by an admin"
    );
    Ok(StatusCode::NO_CONTENT)
}
