//! Market codes (`us`, `in`, `eu`, ...): the storefront a request is for.

use axum::http::HeaderMap;

use crate::error_code::ErrorCode;
use crate::problem::Problem;

pub const X_MARKET: &str = "x-market";

/// The `X-Market` header, lower-cased; `None` when absent. A value that
/// cannot be a market code is `400 unknown_market`.
pub fn requested_market(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(X_MARKET) else {
        return Ok(None);
    };
    let code = value
        .to_str()
        .ok()
        .map(|text| text.trim().to_ascii_lowercase())
        .filter(|code| is_well_formed(code))
        .ok_or_else(unknown_market)?;
    Ok(Some(code))
}

/// Codes are 2 to 8 lower-case ASCII letters.
pub fn is_well_formed(code: &str) -> bool {
    (2..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase())
}

pub fn unknown_market() -> Problem {
    Problem::new(
        ErrorCode::UnknownMarket,
        "the X-Market header names no known market",
    )
}
