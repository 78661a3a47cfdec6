//! commerce-service's memory under a million distinct sessions: each of the
//! sessions `sessions.rs` made presents an access token of its own (minted
//! here with the development signing key the benchmark's auth-service
//! uses) for one cart read, so every request is new to the verified-token
//! cache and to the token-status cache. Both are bounded by entry counts;
//! the process's resident memory is read before, at its peak and after.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use common::claims::{ACCESS_TYP, AccessClaims, Role};
use common::keys::{DEV_KID, JwtAlgorithm, ed25519_pkcs8_from_seed, parse_keyring};
use jsonwebtoken::{EncodingKey, Header};

use super::sessions::{session_id, user_of};
use crate::bench::drivers::{Driven, Op, drive, status_of};
use crate::bench::probes::{resident_mib, take_peak_rss};
use crate::bench::stack::Bench;

/// The caches' bounds, as commerce-service sets them (`common::verifier`,
/// `caller::status`).
pub const VERIFIED_TOKENS_CAP: u64 = 200_000;
pub const STATUS_ANSWERS_CAP: u64 = 500_000;
/// Long enough for a million requests at the rate auth-service answers
/// token-status here; the run ends when every session has asked.
const LONGEST_S: f64 = 900.0;

/// What the run saw.
pub struct CacheMemory {
    pub sessions: u64,
    pub driven: Driven,
    pub rss_before_mib: f64,
    pub rss_at_half_mib: f64,
    pub rss_peak_mib: f64,
    pub rss_after_mib: f64,
}

pub async fn measure(bench: &Bench, sessions: u64) -> anyhow::Result<CacheMemory> {
    let pid = bench
        .stack
        .pid("commerce-service")
        .context("commerce-service is not running")?;
    let rss_before_mib = resident_mib(pid);
    take_peak_rss(pid);
    let key = signing_key()?;
    let next = Arc::new(AtomicU64::new(0));
    // Resident memory once half the sessions have asked: past the
    // verified-token cache's cap, what the second half adds is what an
    // unbounded cache would have kept on adding.
    let sampler = {
        let next = next.clone();
        tokio::spawn(async move {
            while next.load(Ordering::Relaxed) < sessions / 2 {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            resident_mib(pid)
        })
    };
    let (client, url) = (
        bench.client.clone(),
        format!("{}/api/v1/cart", bench.commerce),
    );
    let op: Op = Arc::new(move |_, _| {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let token = (n < sessions).then(|| mint(&key, n));
        let request = client.get(&url).header("x-market", "us");
        Box::pin(async move {
            match token {
                None => Err("exhausted".to_owned()),
                Some(Err(error)) => Err(error.to_string()),
                Some(Ok(token)) => status_of(request.bearer_auth(token)).await,
            }
        })
    });
    let driven = drive(bench.options.connections, LONGEST_S, op).await;
    let rss_peak_mib = take_peak_rss(pid);
    let rss_at_half_mib = if sampler.is_finished() {
        sampler.await?
    } else {
        sampler.abort();
        0.0
    };
    Ok(CacheMemory {
        sessions,
        driven,
        rss_before_mib,
        rss_at_half_mib,
        rss_peak_mib,
        rss_after_mib: resident_mib(pid),
    })
}

/// The development signing key (the benchmark's auth-service signs with it).
fn signing_key() -> anyhow::Result<EncodingKey> {
    let keyring = parse_keyring(&JwtAlgorithm::EdDsa.dev_signing_spec(), "development key")?;
    let (_, seed) = keyring.first().context("no development key")?;
    Ok(EncodingKey::from_ed_der(&ed25519_pkcs8_from_seed(&seed.0)?))
}

/// An access token of made session `n`, as auth-service would mint it.
fn mint(key: &EncodingKey, n: u64) -> anyhow::Result<String> {
    let now = common::verifier::now_unix();
    let claims = AccessClaims {
        iss: "auth-service".into(),
        aud: "shop-api".into(),
        sub: user_of(n).to_string(),
        sid: session_id(n),
        jti: uuid::Uuid::new_v4(),
        iat: now,
        exp: now + 1800,
        typ: ACCESS_TYP.into(),
        market: "us".into(),
        role: Role::Customer,
        auth_time: Some(now),
    };
    let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(DEV_KID.into());
    Ok(jsonwebtoken::encode(&header, &claims, key)?)
}
