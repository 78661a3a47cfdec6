//! The client's address for rate limits, as both services see it behind
//! the gateway: the peer, unless the peer is a trusted proxy (the gateway),
//! in which case the rightmost `X-Forwarded-For` entry that is not itself a
//! trusted proxy. An IPv6 client counts as its whole network (a /64 unless
//! configured): one subscriber holds 2^64 addresses, and would otherwise
//! get as many buckets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context as _, ensure};
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use ipnet::{IpNet, Ipv6Net};

use crate::config::Env;

/// Who may speak for a client, and how wide one IPv6 client is:
/// `TRUSTED_PROXIES` and `RATE_LIMIT_IPV6_PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddressing {
    pub trusted_proxies: Vec<IpNet>,
    pub ipv6_prefix: u8,
}

impl ClientAddressing {
    pub fn from_env(env: &Env) -> anyhow::Result<Self> {
        let addressing = Self {
            trusted_proxies: networks(env, "TRUSTED_PROXIES", "127.0.0.1/32")?,
            ipv6_prefix: env.parse("RATE_LIMIT_IPV6_PREFIX", 64)?,
        };
        ensure!(
            (32..=128).contains(&addressing.ipv6_prefix),
            "RATE_LIMIT_IPV6_PREFIX must be between 32 and 128"
        );
        Ok(addressing)
    }

    /// The client of a request, as its rate limits count it.
    pub fn client_of(&self, parts: &Parts) -> IpAddr {
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
        let client = resolve(peer, &forwarded, &self.trusted_proxies);
        limit_identity(client, self.ipv6_prefix)
    }
}

/// A comma-separated list of addresses and CIDR ranges from `name`.
pub fn networks(env: &Env, name: &str, default: &str) -> anyhow::Result<Vec<IpNet>> {
    env.list(name, default)
        .iter()
        .map(|text| {
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .with_context(|| format!("{name}: {text:?} is not an address or CIDR range"))
        })
        .collect()
}

/// What one client is, for rate limits: an IPv4 address (also when written
/// as IPv4-mapped IPv6), or an IPv6 address cut to its first
/// `ipv6_prefix` bits.
pub fn limit_identity(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                Ipv6Net::new(v6, ipv6_prefix.min(128)).map_or(ip, |net| IpAddr::V6(net.network()))
            }
        },
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
    fn an_ipv6_client_is_its_network() {
        let a = limit_identity(ip("2001:db8:1:2:aaaa::1"), 64);
        let b = limit_identity(ip("2001:db8:1:2:ffff:ffff:ffff:fffe"), 64);
        assert_eq!(a, b);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, limit_identity(ip("2001:db8:1:3::1"), 64));
        assert_eq!(
            limit_identity(ip("2001:db8:1:2::1"), 128),
            ip("2001:db8:1:2::1")
        );
        assert_eq!(
            limit_identity(ip("2001:db8:1:3::1"), 48),
            ip("2001:db8:1::")
        );
        assert_eq!(limit_identity(ip("203.0.113.9"), 64), ip("203.0.113.9"));
        assert_eq!(
            limit_identity(ip("::ffff:203.0.113.9"), 64),
            ip("203.0.113.9")
        );
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
