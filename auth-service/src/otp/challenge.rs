//! The challenge a `send-code` may ask for (`428 challenge_required`) when
//! the destination country's breaker is open or the client's address or
//! number range is hot: something a real app does once per login and a
//! pumping bot must do for every number. Behind a trait, so that App
//! Attest or Play Integrity verification can stand beside the proof of
//! work.
//!
//! The proof of work: the server hands out a signed, expiring challenge
//! bound to the number (`pow1.<nonce>.<expiry>.<difficulty>.<mac>`); the
//! app finds a counter such that SHA-256 of `<challenge>:<counter>` starts
//! with `difficulty` zero bits (2^difficulty hashes on average: 18 bits
//! take a phone well under a second) and sends both back. A solution is
//! good once: its nonce is then remembered until the challenge expires.

use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::phone::Phone;
use crate::secrets::{ServerKeys, hmac};
use crate::store::{RedisStore, StoreError};

/// What a `428 challenge_required` carries under `challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Challenge {
    /// `pow-sha256`: find `solution` (decimal digits) such that
    /// SHA-256(`challenge` + ":" + `solution`) starts with `difficulty`
    /// zero bits.
    pub kind: &'static str,
    pub challenge: String,
    pub difficulty: u32,
    /// Seconds the challenge can be answered in.
    pub expires_in: u64,
}

/// A solved challenge, sent back in `send-code`'s `challenge_response`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChallengeResponse {
    pub challenge: String,
    /// The counter found, as decimal digits.
    pub solution: String,
}

pub type VerifyFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send + 'a>>;

/// Issues challenges and checks their answers.
pub trait ChallengeVerifier: Send + Sync {
    fn issue(&self, phone: &Phone, now: OffsetDateTime) -> Challenge;
    /// Whether `response` solves a challenge issued for `phone`, unexpired
    /// and not used before (a `true` uses it up).
    fn verify<'a>(
        &'a self,
        phone: &'a Phone,
        response: &'a ChallengeResponse,
        now: OffsetDateTime,
    ) -> VerifyFuture<'a>;
}

/// The proof-of-work challenge.
pub struct ProofOfWork {
    keys: ServerKeys,
    store: RedisStore,
    difficulty: u32,
    ttl_seconds: u64,
}

impl ProofOfWork {
    pub fn new(keys: ServerKeys, store: RedisStore, difficulty: u32, ttl_seconds: u64) -> Self {
        Self {
            keys,
            store,
            difficulty,
            ttl_seconds,
        }
    }

    fn mac(&self, phone: &Phone, nonce: &str, expires: i64, difficulty: u32) -> String {
        let mac = hmac(
            self.keys.challenge_key(),
            &[
                b"pow1",
                phone.e164().as_bytes(),
                nonce.as_bytes(),
                &expires.to_be_bytes(),
                &difficulty.to_be_bytes(),
            ],
        );
        URL_SAFE_NO_PAD.encode(&mac[..16])
    }

    /// The nonce and expiry of a challenge this server issued for `phone`,
    /// at least as hard as asked now; `None` for anything else.
    fn parse(&self, phone: &Phone, challenge: &str) -> Option<(String, i64)> {
        let mut parts = challenge.split('.');
        let (Some("pow1"), Some(nonce), Some(expires), Some(difficulty), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let expires: i64 = expires.parse().ok()?;
        let difficulty: u32 = difficulty.parse().ok()?;
        let expected = self.mac(phone, nonce, expires, difficulty);
        let genuine: bool = expected.as_bytes().ct_eq(mac.as_bytes()).into();
        (genuine && difficulty >= self.difficulty).then(|| (nonce.to_owned(), expires))
    }
}

/// Leading zero bits of SHA-256(`challenge:solution`).
pub fn work_of(challenge: &str, solution: &str) -> u32 {
    let digest = Sha256::digest(format!("{challenge}:{solution}").as_bytes());
    let mut bits = 0;
    for byte in digest {
        if byte == 0 {
            bits += 8;
        } else {
            bits += byte.leading_zeros();
            break;
        }
    }
    bits
}

/// Finds a solution, as the app does (tests and the attack simulation).
pub fn solve(challenge: &Challenge) -> String {
    (0u64..)
        .map(|counter| counter.to_string())
        .find(|solution| work_of(&challenge.challenge, solution) >= challenge.difficulty)
        .unwrap_or_default()
}

impl ChallengeVerifier for ProofOfWork {
    fn issue(&self, phone: &Phone, now: OffsetDateTime) -> Challenge {
        let mut nonce = [0u8; 16];
        rand::rng().fill(&mut nonce);
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let expires = now.unix_timestamp() + self.ttl_seconds as i64;
        let mac = self.mac(phone, &nonce, expires, self.difficulty);
        Challenge {
            kind: "pow-sha256",
            challenge: format!("pow1.{nonce}.{expires}.{}.{mac}", self.difficulty),
            difficulty: self.difficulty,
            expires_in: self.ttl_seconds,
        }
    }

    fn verify<'a>(
        &'a self,
        phone: &'a Phone,
        response: &'a ChallengeResponse,
        now: OffsetDateTime,
    ) -> VerifyFuture<'a> {
        Box::pin(async move {
            let Some((nonce, expires)) = self.parse(phone, &response.challenge) else {
                return Ok(false);
            };
            let left = expires - now.unix_timestamp();
            let solved = response.solution.len() <= 20
                && response.solution.bytes().all(|b| b.is_ascii_digit())
                && work_of(&response.challenge, &response.solution) >= self.difficulty;
            if left <= 0 || !solved {
                return Ok(false);
            }
            // Once only: the first to present the nonce uses it up.
            self.store.use_once("pow", &nonce, left as u64).await
        })
    }
}
