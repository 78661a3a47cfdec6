//! A /24 for a compose stack's network that no Docker network on this
//! engine overlaps, so that a test stack runs beside a developer's own
//! (docker-compose.yml's default is 172.28.0.0/24).

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context as _, bail};

/// A free network for a compose project: docker-compose.yml's
/// `COMPOSE_SUBNET`, `COMPOSE_IP_RANGE` and `GATEWAY_IP`.
pub struct Subnet {
    pub subnet: String,
    pub dynamic_range: String,
    pub gateway_ip: String,
}

/// A free `172.28.N.0/24` (N from 1): containers in its upper half, the
/// gateway at `.10`.
pub fn free_subnet() -> anyhow::Result<Subnet> {
    let taken = engine_subnets()?;
    for third in 1..=254u8 {
        let candidate = (u32::from(Ipv4Addr::new(172, 28, third, 0)), 24);
        if !taken.iter().any(|&other| overlaps(candidate, other)) {
            return Ok(Subnet {
                subnet: format!("172.28.{third}.0/24"),
                dynamic_range: format!("172.28.{third}.128/25"),
                gateway_ip: format!("172.28.{third}.10"),
            });
        }
    }
    bail!("no free /24 in 172.28.0.0/16 for a compose network")
}

/// Every IPv4 subnet of the engine's networks, as (address, prefix length).
fn engine_subnets() -> anyhow::Result<Vec<(u32, u8)>> {
    let ids = Command::new("docker")
        .args(["network", "ls", "--quiet"])
        .output()
        .context("docker network ls")?;
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let inspected = Command::new("docker")
        .args(["network", "inspect", "--format"])
        .arg("{{range .IPAM.Config}}{{.Subnet}} {{end}}")
        .args(&ids)
        .output()
        .context("docker network inspect")?;
    Ok(String::from_utf8_lossy(&inspected.stdout)
        .split_whitespace()
        .filter_map(parse_cidr)
        .collect())
}

fn parse_cidr(text: &str) -> Option<(u32, u8)> {
    let (address, prefix) = text.split_once('/')?;
    let address: Ipv4Addr = address.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|&p| p <= 32)?;
    Some((u32::from(address), prefix))
}

fn overlaps((a, a_len): (u32, u8), (b, b_len): (u32, u8)) -> bool {
    let shorter = a_len.min(b_len);
    let mask = if shorter == 0 {
        0
    } else {
        u32::MAX << (32 - shorter)
    };
    a & mask == b & mask
}

#[cfg(test)]
mod tests {
    use super::{overlaps, parse_cidr};

    #[test]
    fn subnets_overlap_when_the_shorter_prefix_contains_the_other() {
        let cidr = |text| parse_cidr(text).unwrap();
        assert!(overlaps(cidr("172.28.0.0/16"), cidr("172.28.5.0/24")));
        assert!(overlaps(cidr("172.28.5.0/24"), cidr("172.28.5.0/24")));
        assert!(!overlaps(cidr("172.28.0.0/24"), cidr("172.28.1.0/24")));
        assert!(!overlaps(cidr("172.17.0.0/16"), cidr("172.28.1.0/24")));
        assert!(parse_cidr("fd00::/64").is_none());
    }
}
