//! Internal endpoints for other services (never routed by the gateway),
//! behind `INTERNAL_API_TOKEN`.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use common::Problem;
use common::extract::{Json, Query};
use common::token_status::{TOKEN_STATUS_PATH, TokenStatus, TokenStatusRequest};
use serde::{Deserialize, Serialize};

use super::phone_field;
use crate::caller::InternalCaller;
use crate::error::ApiError;
use crate::otp::Otp;
use crate::otp::outbox::OutboxMessage;
use crate::sessions::Sessions;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(TOKEN_STATUS_PATH, post(token_status))
        .route("/internal/v1/dev/sms-outbox", get(sms_outbox))
}

/// The only question commerce-service asks: may this token still act?
async fn token_status(
    State(sessions): State<Sessions>,
    _caller: InternalCaller,
    Json(request): Json<TokenStatusRequest>,
) -> Result<axum::Json<TokenStatus>, ApiError> {
    let reason = sessions
        .revocation(request.user_id, request.session_id, request.issued_at)
        .await?;
    let status = TokenStatus::from_reason(reason);
    metrics::counter!("token_status_requests_total", "active" => if status.active { "true" } else { "false" })
        .increment(1);
    Ok(axum::Json(status))
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
    State(otp): State<Otp>,
    _caller: InternalCaller,
    Query(query): Query<OutboxQuery>,
) -> Result<axum::Json<Outbox>, ApiError> {
    if !otp.has_dev_outbox() {
        return Err(Problem::not_found().into());
    }
    let phone = phone_field(&otp, &query.phone, "phone")?;
    let items = otp.dev_outbox(&phone).await?;
    Ok(axum::Json(Outbox { items }))
}
