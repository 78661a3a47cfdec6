//! The client's address for rate limits (`common::client_ip` says how it
//! is found behind the gateway).

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::state::AppState;

/// The client as the rate limits see it: an IPv4 address, or the network
/// address of an IPv6 client's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(state.settings.client_addressing.client_of(parts)))
    }
}
