//! Internal endpoints for other services (never routed by the gateway),
//! behind `INTERNAL_API_TOKEN`.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use common::Problem;
use common::extract::{Json, Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::login::parse_phone;
use crate::auth::{InternalCaller, TokenStanding, token_standing};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::outbox::OutboxMessage;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/token-status", post(token_status))
        .route("/internal/v1/dev/sms-outbox", get(sms_outbox))
}

#[derive(Debug, Deserialize)]
pub struct TokenStatusRequest {
    pub user_id: i64,
    pub session_id: Uuid,
    pub issued_at: i64,
}

#[derive(Debug, Serialize)]
pub struct TokenStatus {
    pub active: bool,
    pub reason: Option<&'static str>,
    pub user_active: bool,
}

/// The only question commerce-service asks: may this token still act?
async fn token_status(
    State(state): State<AppState>,
    _caller: InternalCaller,
    Json(request): Json<TokenStatusRequest>,
) -> Result<axum::Json<TokenStatus>, ApiError> {
    let standing = token_standing(
        &state,
        request.user_id,
        request.session_id,
        request.issued_at,
    )
    .await?;
    metrics::counter!("token_status_requests_total", "active" => if standing == TokenStanding::Active { "true" } else { "false" })
        .increment(1);
    Ok(axum::Json(TokenStatus {
        active: standing == TokenStanding::Active,
        reason: standing.reason(),
        user_active: standing != TokenStanding::UserInactive,
    }))
}

#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    pub phone: String,
}

#[derive(Debug, Serialize)]
pub struct Outbox {
    pub items: Vec<OutboxMessage>,
}

/// Development only (`SMS_PROVIDER=log`): the codes sent to a number, newest first.
async fn sms_outbox(
    State(state): State<AppState>,
    _caller: InternalCaller,
    Query(query): Query<OutboxQuery>,
) -> Result<axum::Json<Outbox>, ApiError> {
    if !state.sms.has_dev_outbox() {
        return Err(Problem::not_found().into());
    }
    let phone = parse_phone(&query.phone, &state, "phone")?;
    let items = state.store.read_outbox(phone.e164()).await?;
    Ok(axum::Json(Outbox { items }))
}
