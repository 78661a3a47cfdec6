//! Logging in: a code by SMS (`send-code`, `verify-code`), or an email and
//! password (`login`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::Problem;
use common::extract::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{device_name_field, login_market, no_store, phone_field};
use crate::accounts::email::normalize_email;
use crate::accounts::login::{self, PasswordAttempt};
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::otp::challenge::{Challenge, ChallengeResponse};
use crate::otp::code::is_code_shaped;
use crate::otp::{self, CodeSent, PhoneLogin, SendRequest};
use crate::sessions::TokenPair;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_code))
        .routes(routes!(verify_code))
        .routes(routes!(login))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendCode {
    /// International form: `+` or `00`, then the country code.
    pub phone: String,
    /// The solution of the challenge a `428 challenge_required` asked for.
    pub challenge_response: Option<ChallengeResponse>,
}

/// A `428 challenge_required` problem: the challenge under `challenge`.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct ChallengeRequired {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: common::ErrorCode,
    pub request_id: String,
    pub challenge: Challenge,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyCode {
    pub phone: String,
    /// The six digits the SMS carried.
    #[schema(pattern = "^[0-9]{6}$")]
    pub verification_code: String,
    /// Shown in the session list; at most 100 printable characters.
    #[schema(max_length = 100)]
    pub device_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordLogin {
    pub email: String,
    pub password: String,
    #[schema(max_length = 100)]
    pub device_name: Option<String>,
}

/// Sends a code. The answer is the same whether or not the number has an
/// account, and whether or not the number is one the market sends codes
/// to (`SMS_DESTINATIONS`; then nothing is sent).
#[utoipa::path(post, path = "/api/v1/auth/send-code", tag = "login", request_body = SendCode,
    params(("X-Market" = Option<String>, Header, description = "the market the login is for; the default if absent")),
    responses((status = 202, body = CodeSent), (status = 422, body = common::problem::ProblemBody<'static>),
              (status = 428, body = ChallengeRequired, content_type = "application/problem+json",
               description = "`challenge_required`: solve `challenge` and send the request again with `challenge_response`"),
              (status = 429, description = "cooldown or limit: `rate_limited` with Retry-After")))]
async fn send_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<SendCode>,
) -> Result<impl IntoResponse, ApiError> {
    let market = login_market(&headers, &state.settings)?;
    let phone = phone_field(&state.otp, &body.phone, "phone")?;
    let sent = state
        .otp
        .send_code(SendRequest {
            phone: &phone,
            client_ip: ip,
            market: &market,
            challenge: body.challenge_response.as_ref(),
        })
        .await?;
    Ok((StatusCode::ACCEPTED, no_store(), axum::Json(sent)))
}

/// Exchanges a code for a token pair; creates the user on first login.
#[utoipa::path(post, path = "/api/v1/auth/verify-code", tag = "login", request_body = VerifyCode,
    params(("X-Market" = Option<String>, Header, description = "market of the session")),
    responses((status = 200, body = TokenPair),
              (status = 401, description = "`otp_invalid`, `otp_expired` or `user_inactive`"),
              (status = 429, description = "`otp_locked` or `rate_limited`")))]
async fn verify_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<VerifyCode>,
) -> Result<impl IntoResponse, ApiError> {
    let market = login_market(&headers, &state.settings)?;
    let phone = phone_field(&state.otp, &body.phone, "phone")?;
    let code = body.verification_code.trim();
    if !is_code_shaped(code) {
        return Err(Problem::invalid_field("verification_code", "must be 6 digits").into());
    }
    let device_name = device_name_field(body.device_name)?;
    let login = PhoneLogin {
        phone: &phone,
        code,
        client_ip: ip,
        market: &market,
        device_name: device_name.as_deref(),
    };
    let pair = otp::log_in(&state.otp, &state.db, &state.sessions, login).await?;
    Ok((no_store(), axum::Json(pair)))
}

/// Email and password login (admin-created accounts).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "login", request_body = PasswordLogin,
    params(("X-Market" = Option<String>, Header, description = "market of the session")),
    responses((status = 200, body = TokenPair),
              (status = 401, description = "`invalid_credentials` or `user_inactive`"),
              (status = 429, description = "`rate_limited` with Retry-After")))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<PasswordLogin>,
) -> Result<impl IntoResponse, ApiError> {
    let market = login_market(&headers, &state.settings)?;
    let Some(email) = normalize_email(&body.email) else {
        return Err(Problem::invalid_field("email", "must be an email address").into());
    };
    let device_name = device_name_field(body.device_name)?;
    let attempt = PasswordAttempt {
        email: &email,
        password: &body.password,
        client_ip: ip,
        market: &market,
        device_name: device_name.as_deref(),
    };
    let pair = login::log_in(&state.accounts, &state.sessions, attempt).await?;
    Ok((no_store(), axum::Json(pair)))
}
