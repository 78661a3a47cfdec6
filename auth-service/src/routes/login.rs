//! Logging in: a code by SMS (`send-code`, `verify-code`), or an email and
//! password (`login`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::Problem;
use common::extract::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{TokenPair, login_market, no_store, start_session, validate_device_name};
use crate::auth::user_inactive;
use crate::client_ip::ClientIp;
use crate::db::users;
use crate::domain::email::{MAX_PASSWORD_BYTES, normalize_email};
use crate::domain::otp::{generate_code, is_code_shaped};
use crate::domain::phone::{Phone, PhoneError};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::otp::{SendLimits, SendOutcome, VerifyOutcome};

const HOUR: u64 = 3600;

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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSent {
    pub expires_in: u64,
    pub resend_after: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyCode {
    pub phone: String,
    pub verification_code: String,
    pub device_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordLogin {
    pub email: String,
    pub password: String,
    pub device_name: Option<String>,
}

/// A number as the request wrote it, normalised and checked against the
/// country allow-list; anything else is `422` on `field`.
pub fn parse_phone(input: &str, state: &AppState, field: &str) -> Result<Phone, Problem> {
    Phone::parse(input, &state.settings.phone_countries)
        .map_err(|error: PhoneError| Problem::invalid_field(field, &error.to_string()))
}

fn rate_limited(retry_after: u64) -> ApiError {
    Problem::rate_limited(retry_after).into()
}

/// Sends a code. The answer is the same whether or not the number has an account.
#[utoipa::path(post, path = "/api/v1/auth/send-code", tag = "login", request_body = SendCode,
    responses((status = 202, body = CodeSent), (status = 422, body = common::problem::ProblemBody<'static>),
              (status = 429, description = "cooldown or limit: `rate_limited` with Retry-After")))]
async fn send_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<SendCode>,
) -> Result<impl IntoResponse, ApiError> {
    let phone = parse_phone(&body.phone, &state, "phone")?;
    let otp = &state.settings.otp;
    let budgets = [
        ("otp-ip", ip.to_string(), otp.per_ip_hour),
        (
            "otp-country",
            phone.country().to_owned(),
            otp.per_country_hour,
        ),
        ("otp-total", "all".to_owned(), otp.total_hour),
    ];
    for (name, subject, limit) in budgets {
        if let Err(wait) = state.store.hit(name, &subject, limit, HOUR).await? {
            metrics::counter!("otp_sends_refused_total", "reason" => name).increment(1);
            return Err(rate_limited(wait.0));
        }
    }
    let code = generate_code();
    let limits = SendLimits {
        code_ttl_seconds: otp.code_ttl_seconds,
        resend_seconds: otp.resend_seconds,
        per_number_hour: otp.per_number_hour,
    };
    let digest = state.keys.code_digest(phone.e164(), &code);
    if let SendOutcome::Refused(wait) = state
        .store
        .store_code(phone.e164(), &digest, limits)
        .await?
    {
        metrics::counter!("otp_sends_refused_total", "reason" => "otp-number").increment(1);
        return Err(rate_limited(wait));
    }
    state.sms.send(phone.e164(), &code).await?;
    metrics::counter!("otp_sends_total").increment(1);
    let sent = CodeSent {
        expires_in: otp.code_ttl_seconds,
        resend_after: otp.resend_seconds,
    };
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
    let market = login_market(&headers, &state)?;
    let phone = parse_phone(&body.phone, &state, "phone")?;
    if !is_code_shaped(body.verification_code.trim()) {
        return Err(Problem::invalid_field("verification_code", "must be 6 digits").into());
    }
    let device_name = validate_device_name(body.device_name)?;
    let otp = &state.settings.otp;
    if let Err(wait) = state
        .store
        .hit(
            "otp-verify-ip",
            &ip.to_string(),
            otp.verify_per_ip_hour,
            HOUR,
        )
        .await?
    {
        return Err(rate_limited(wait.0));
    }
    let digest = state
        .keys
        .code_digest(phone.e164(), body.verification_code.trim());
    let outcome = state
        .store
        .check_code(phone.e164(), &digest, otp.max_attempts)
        .await?;
    let label = match outcome {
        VerifyOutcome::Accepted => "accepted",
        VerifyOutcome::Wrong => "wrong",
        VerifyOutcome::WrongAndBurnt => "burnt",
        VerifyOutcome::NoLiveCode => "no_live_code",
        VerifyOutcome::Locked(_) => "locked",
    };
    metrics::counter!("otp_verifications_total", "outcome" => label).increment(1);
    match outcome {
        VerifyOutcome::Accepted => {}
        VerifyOutcome::Wrong => {
            return Err(Problem::unauthorized("otp_invalid", "the code is wrong").into());
        }
        VerifyOutcome::WrongAndBurnt => {
            metrics::counter!("otp_codes_locked_total").increment(1);
            return Err(Problem::unauthorized(
                "otp_invalid",
                "the code is wrong; request a new one",
            )
            .into());
        }
        VerifyOutcome::NoLiveCode => {
            return Err(Problem::unauthorized(
                "otp_expired",
                "no live code for this number; request a new one",
            )
            .into());
        }
        VerifyOutcome::Locked(wait) => {
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "otp_locked",
                "too many wrong codes; request a new code",
            )
            .with_retry_after(wait)
            .into());
        }
    }
    let user = users::find_or_create_by_phone(&state.db, phone.e164(), &market).await?;
    if !user.is_active {
        return Err(user_inactive().into());
    }
    tracing::info!(user_id = user.id, phone = %phone.masked(), "phone login");
    let pair = start_session(&state, user, &market, device_name.as_deref()).await?;
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
    let market = login_market(&headers, &state)?;
    let Some(email) = normalize_email(&body.email) else {
        return Err(Problem::invalid_field("email", "must be an email address").into());
    };
    let device_name = validate_device_name(body.device_name)?;
    let limits = &state.settings.password;
    if let Err(wait) = state
        .store
        .hit("login-ip", &ip.to_string(), limits.login_per_ip_hour, HOUR)
        .await?
    {
        return Err(rate_limited(wait.0));
    }
    let user = verify_password_login(&state, &email, &body.password).await?;
    tracing::info!(user_id = user.id, "password login");
    let pair = start_session(&state, user, &market, device_name.as_deref()).await?;
    Ok((no_store(), axum::Json(pair)))
}

/// Checks an email and password under the per-account failure limit. An
/// unknown email verifies a dummy hash, so both failures cost the same.
pub async fn verify_password_login(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<users::UserRow, ApiError> {
    // Refused before any hashing: a megabyte password must not cost a hash.
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Problem::invalid_field("password", "must be at most 1024 bytes").into());
    }
    let limits = &state.settings.password;
    let (failures, window_left) = state.store.peek("login-fail", email).await?;
    if failures >= u64::from(limits.failures_per_account) {
        return Err(rate_limited(window_left));
    }
    let user = users::find_by_email(&state.db, email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let matched = state.passwords.verify(password, stored).await?;
    let Some(user) = user.filter(|_| matched) else {
        // The hit only counts; the refusal comes from `peek` on the next try.
        let _ = state
            .store
            .hit(
                "login-fail",
                email,
                limits.failures_per_account,
                limits.failure_window_seconds,
            )
            .await?;
        metrics::counter!("password_logins_total", "outcome" => "invalid").increment(1);
        return Err(
            Problem::unauthorized("invalid_credentials", "the email or password is wrong").into(),
        );
    };
    if !user.is_active {
        return Err(user_inactive().into());
    }
    state.store.clear("login-fail", email).await?;
    metrics::counter!("password_logins_total", "outcome" => "ok").increment(1);
    Ok(user)
}
