//! Opaque refresh tokens: `rt_<user id>.<session id>.<secret+tag>`.
//!
//! The secret is 256 random bits (or, after a rotation, the keyed HMAC of
//! its predecessor's secret, so a retry inside the grace period can be
//! handed the very successor already issued without storing it). The tag
//! is a truncated HMAC over user, session and secret: a token we never
//! issued is refused without touching Redis, and a token that verifies but
//! is not the session's current one can only be an old one — reuse.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::ids::{SessionId, UserId};
use hmac::Mac as _;
use rand::RngExt as _;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::secrets::{ServerKeys, hmac, new_mac};

const TAG_BYTES: usize = 16;

#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub user_id: UserId,
    pub session_id: SessionId,
    secret: [u8; 32],
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RefreshToken(user {}, session {})",
            self.user_id, self.session_id
        )
    }
}

impl RefreshToken {
    /// The first token of a new session.
    pub fn first(user_id: UserId, session_id: SessionId) -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill(&mut secret);
        Self {
            user_id,
            session_id,
            secret,
        }
    }

    /// The token that replaces this one on rotation (deterministic).
    pub fn successor(&self, keys: &ServerKeys) -> Self {
        Self {
            secret: hmac(keys.refresh_successor_key(), &[&self.secret]),
            ..self.clone()
        }
    }

    /// What Redis keeps: SHA-256 of the secret, hex.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.secret))
    }

    fn tag_input(&self) -> [u8; 8 + 16 + 32] {
        let mut input = [0u8; 56];
        input[..8].copy_from_slice(&self.user_id.0.to_be_bytes());
        input[8..24].copy_from_slice(self.session_id.0.as_bytes());
        input[24..].copy_from_slice(&self.secret);
        input
    }

    pub fn encode(&self, keys: &ServerKeys) -> String {
        let mut mac = new_mac(keys.refresh_mac_key());
        mac.update(&self.tag_input());
        let tag = mac.finalize().into_bytes();
        let mut body = self.secret.to_vec();
        body.extend_from_slice(&tag[..TAG_BYTES]);
        format!(
            "rt_{}.{}.{}",
            self.user_id,
            self.session_id.0.simple(),
            URL_SAFE_NO_PAD.encode(body)
        )
    }

    /// Parses a token and checks its tag in constant time; `None` for
    /// anything we did not issue.
    pub fn decode(text: &str, keys: &ServerKeys) -> Option<Self> {
        if text.len() > 200 {
            return None;
        }
        let rest = text.strip_prefix("rt_")?;
        let mut parts = rest.split('.');
        let (user, session, body_text) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let user_id = UserId(user.parse::<i64>().ok().filter(|id| *id > 0)?);
        let session_id = SessionId(Uuid::try_parse(session).ok()?);
        let body = URL_SAFE_NO_PAD.decode(body_text).ok()?;
        if body.len() != 32 + TAG_BYTES {
            return None;
        }
        // One token, one spelling: `+19`, `019`, a hyphenated, braced or
        // upper-case session id, or base64 with stray bits name the same
        // token but are not what we issued.
        let canonical = user == user_id.0.to_string()
            && session == session_id.0.simple().to_string()
            && URL_SAFE_NO_PAD.encode(&body) == body_text;
        if !canonical {
            return None;
        }
        let token = Self {
            user_id,
            session_id,
            secret: body[..32].try_into().ok()?,
        };
        let mut mac = new_mac(keys.refresh_mac_key());
        mac.update(&token.tag_input());
        mac.verify_truncated_left(&body[32..]).ok()?;
        Some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn keys() -> ServerKeys {
        ServerKeys::derive(&SecretString::from("k".repeat(32)))
    }

    #[test]
    fn tokens_round_trip_and_successors_are_deterministic() {
        let keys = keys();
        let token = RefreshToken::first(UserId(19), SessionId::new());
        let text = token.encode(&keys);
        assert!(text.starts_with("rt_19."));
        assert_eq!(RefreshToken::decode(&text, &keys), Some(token.clone()));
        let next = token.successor(&keys);
        assert_eq!(next, token.successor(&keys));
        assert_ne!(next.digest(), token.digest());
    }

    #[test]
    fn forged_or_altered_tokens_do_not_decode() {
        let keys = keys();
        let token = RefreshToken::first(UserId(19), SessionId::new());
        let text = token.encode(&keys);
        let other_user = text.replacen("rt_19.", "rt_20.", 1);
        assert_eq!(RefreshToken::decode(&other_user, &keys), None);
        let other_keys = ServerKeys::derive(&SecretString::from("z".repeat(32)));
        assert_eq!(RefreshToken::decode(&text, &other_keys), None);
        for bad in [
            "",
            "rt_",
            "rt_1.2.3",
            "eyJhbGciOi.x.y",
            &format!("{text}.x"),
        ] {
            assert_eq!(RefreshToken::decode(bad, &keys), None);
        }
    }

    #[test]
    fn only_the_issued_spelling_of_a_token_decodes() {
        let keys = keys();
        let token = RefreshToken::first(UserId(19), SessionId::new());
        let text = token.encode(&keys);
        let simple = token.session_id.0.simple().to_string();
        let hyphenated = token.session_id.0.hyphenated().to_string();
        for respelled in [
            text.replacen("rt_19.", "rt_+19.", 1),
            text.replacen("rt_19.", "rt_019.", 1),
            text.replacen(&simple, &hyphenated, 1),
            text.replacen(&simple, &simple.to_uppercase(), 1),
            text.replacen(&simple, &format!("{{{hyphenated}}}"), 1),
            text.replacen(&simple, &format!("urn:uuid:{hyphenated}"), 1),
        ] {
            assert_ne!(respelled, text);
            assert_eq!(RefreshToken::decode(&respelled, &keys), None, "{respelled}");
        }
        assert_eq!(RefreshToken::decode(&text, &keys), Some(token));
    }
}
