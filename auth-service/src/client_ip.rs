//! The client's address for rate limits: the peer, unless the peer is a
//! trusted proxy (the gateway), in which case the rightmost
//! `X-Forwarded-For` entry that is not itself a trusted proxy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| {
                addr.ip()
            });
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(ClientIp(resolve(
            peer,
            &forwarded,
            &state.settings.trusted_proxies,
        )))
    }
}

/// The client address given the peer, the `X-Forwarded-For` chain and the
/// trusted proxies.
pub fn resolve(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    forwarded_for
        .rsplit(',')
        .map(str::trim)
        .map_while(|entry| entry.parse::<IpAddr>().ok())
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        assert_eq!(
            resolve(ip("203.0.113.9"), "1.2.3.4", &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(resolve(ip("127.0.0.1"), "1.2.3.4", &trusted), ip("1.2.3.4"));
        assert_eq!(
            resolve(ip("127.0.0.1"), "6.6.6.6, 1.2.3.4, 10.1.1.1", &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(resolve(ip("127.0.0.1"), "", &trusted), ip("127.0.0.1"));
        assert_eq!(
            resolve(ip("127.0.0.1"), "garbage", &trusted),
            ip("127.0.0.1")
        );
    }
}
