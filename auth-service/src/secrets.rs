//! Keys derived from `AUTH_SECRET_KEY`, one per purpose, so that no value
//! kept in Redis (code hashes, refresh-token hashes) is usable without it.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

pub type HmacSha256 = Hmac<Sha256>;

/// The purpose-bound server keys.
#[derive(Clone)]
pub struct ServerKeys {
    otp: [u8; 32],
    refresh_mac: [u8; 32],
    refresh_successor: [u8; 32],
    challenge: [u8; 32],
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKeys(<redacted>)")
    }
}

/// HMAC-SHA256 of `parts`, each length-prefixed so that no two different
/// part lists give the same input.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = new_mac(key);
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub fn new_mac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

impl ServerKeys {
    pub fn derive(master: &SecretString) -> Self {
        let master = master.expose_secret().as_bytes();
        Self {
            otp: hmac(master, &[b"otp-code"]),
            refresh_mac: hmac(master, &[b"refresh-token-mac"]),
            refresh_successor: hmac(master, &[b"refresh-token-successor"]),
            challenge: hmac(master, &[b"send-code-challenge"]),
        }
    }

    /// Keyed digest of a code bound to its number: a dump of Redis cannot
    /// be brute-forced over the million codes without the server key.
    pub fn code_digest(&self, e164: &str, code: &str) -> String {
        hex::encode(hmac(&self.otp, &[e164.as_bytes(), code.as_bytes()]))
    }

    pub(crate) fn challenge_key(&self) -> &[u8] {
        &self.challenge
    }

    pub(crate) fn refresh_mac_key(&self) -> &[u8] {
        &self.refresh_mac
    }

    pub(crate) fn refresh_successor_key(&self) -> &[u8] {
        &self.refresh_successor
    }
}
