//! Admin user management (`role: admin` tokens only).

use axum::extract::State;
use axum::http::StatusCode;
use common::Problem;
use common::extract::{Id, Json, Path, Query};
use common::pagination::{PageQuery, Paginated};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::UserView;
use super::login::parse_phone;
use super::tokens::revoke_everything;
use crate::auth::AdminUser;
use crate::db::{on_constraint, users};
use crate::domain::email::{normalize_email, password_problem};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(deactivate_user))
        .routes(routes!(activate_user))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserSearch {
    /// Exact match after normalisation to E.164 (write `+` as `%2B`).
    pub phone: Option<String>,
    /// Exact match, case-insensitive.
    pub email: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

/// Users, newest first, optionally matched by phone or email.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    params(UserSearch), responses((status = 200, body = Paginated<UserView>), (status = 403, description = "not an admin")))]
async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(search): Query<UserSearch>,
) -> Result<axum::Json<Paginated<UserView>>, ApiError> {
    let page = PageQuery {
        page: search.page,
        per_page: search.per_page,
    }
    .validate()?;
    let phone = match search.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(raw) => Some(parse_phone(raw, &state, "phone")?.e164().to_owned()),
        None => None,
    };
    let email = search
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| e.trim().to_lowercase());
    let (rows, total) = users::search(
        &state.db,
        phone.as_deref(),
        email.as_deref(),
        page.per_page,
        page.offset(),
    )
    .await?;
    Ok(axum::Json(Paginated::new(
        rows.into_iter().map(UserView::from).collect(),
        page,
        total,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    /// `customer` or `admin`.
    pub role: String,
}

/// Creates an account that logs in by email and password.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, description = "`email_taken`")))]
async fn create_user(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(body): Json<CreateUser>,
) -> Result<(StatusCode, axum::Json<UserView>), ApiError> {
    let mut errors = Vec::new();
    let email = normalize_email(&body.email);
    if email.is_none() {
        errors.push(common::problem::FieldError::new(
            "email",
            "must be an email address",
        ));
    }
    if let Some(message) = password_problem(&body.password) {
        errors.push(common::problem::FieldError::new("password", message));
    }
    if common::claims::Role::parse(&body.role).is_none() {
        errors.push(common::problem::FieldError::new(
            "role",
            "must be customer or admin",
        ));
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Err(Problem::validation(errors).into());
    };
    let row = create_password_account(&state, &email, &body.password, &body.role).await?;
    tracing::info!(user_id = row.id, role = %row.role, "account created by an admin");
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

/// Hashes the password and inserts the account; `409 email_taken` if the
/// email exists. Shared with the `create-admin` command.
pub async fn create_password_account(
    state: &AppState,
    email: &str,
    password: &str,
    role: &str,
) -> Result<users::UserRow, ApiError> {
    let hash = state.passwords.hash(password).await?;
    users::create_with_password(
        &state.db,
        email,
        &hash,
        role,
        &state.settings.default_market,
    )
    .await
    .map_err(|error| {
        if on_constraint(&error, "users_email_key") {
            Problem::conflict("email_taken", "an account with this email exists").into()
        } else {
            ApiError::from(error)
        }
    })
}

/// Deactivates a user: every session of theirs stops working.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/deactivate", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 404, description = "no such user")))]
async fn deactivate_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<UserView>, ApiError> {
    let row = users::set_active(&state.db, id, false)
        .await?
        .ok_or_else(Problem::not_found)?;
    revoke_everything(&state, id).await?;
    tracing::info!(user_id = id, admin_id = admin.user_id, "user deactivated");
    Ok(axum::Json(row.into()))
}

/// Activates a user again; old sessions stay ended.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/activate", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 404, description = "no such user")))]
async fn activate_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<UserView>, ApiError> {
    let row = users::set_active(&state.db, id, true)
        .await?
        .ok_or_else(Problem::not_found)?;
    tracing::info!(user_id = id, admin_id = admin.user_id, "user activated");
    Ok(axum::Json(row.into()))
}
