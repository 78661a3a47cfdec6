//! Local verification of access tokens (RFC 8725): the algorithm is pinned,
//! the key is picked by `kid` from the keyring, a header with critical
//! extensions (`crit`) is refused (RFC 7515 §4.1.11: we understand none),
//! `iss`, `aud`, `typ`, `exp` are checked with an explicit leeway, and no
//! token may live longer than an access token does (`exp - iat`).
//! Tokens already verified are
//! cached by the SHA-256 of the whole token string, so a client that sends
//! the same token for 30 minutes pays for one signature check.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::claims::{ACCESS_TYP, AccessClaims};
use crate::error_code::ErrorCode;
use crate::keys::VerifyKeyring;
use crate::problem::Problem;

/// Tokens longer than this are refused before any parsing: ours are ~600 bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;
const CACHE_CAPACITY: u64 = 200_000;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the access token is invalid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
}

impl From<VerifyError> for Problem {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::Invalid => {
                Problem::new(ErrorCode::InvalidToken, "the access token is invalid")
            }
            VerifyError::Expired => {
                Problem::new(ErrorCode::TokenExpired, "the access token has expired")
            }
        }
    }
}

/// Issuer, audience and leeway every access token is checked against.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    pub issuer: String,
    pub audience: String,
    pub leeway_seconds: u64,
    /// The longest `exp - iat` accepted: the access-token lifetime. A
    /// token claiming to live longer was not minted by our issuer.
    pub max_lifetime_seconds: u64,
}

/// Verifies access tokens; cheap to clone (shared cache).
#[derive(Clone)]
pub struct Verifier {
    keyring: Arc<VerifyKeyring>,
    settings: Arc<VerifierSettings>,
    validation: Arc<Validation>,
    verified: Cache<[u8; 32], Arc<AccessClaims>>,
}

struct UntilExpiry {
    leeway: u64,
}

impl moka::Expiry<[u8; 32], Arc<AccessClaims>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        claims: &Arc<AccessClaims>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        let remaining = claims.exp.saturating_add(self.leeway as i64) - now_unix();
        Some(Duration::from_secs(remaining.max(0) as u64))
    }
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl Verifier {
    pub fn new(keyring: VerifyKeyring, settings: VerifierSettings) -> Self {
        let mut validation = Validation::new(keyring.algorithm.jwt());
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.leeway = settings.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = false;
        let verified = Cache::builder()
            .max_capacity(CACHE_CAPACITY)
            .expire_after(UntilExpiry {
                leeway: settings.leeway_seconds,
            })
            .build();
        Self {
            keyring: Arc::new(keyring),
            settings: Arc::new(settings),
            validation: Arc::new(validation),
            verified,
        }
    }

    /// Verifies a token completely, using the cache of verified tokens.
    pub fn verify(&self, token: &str) -> Result<Arc<AccessClaims>, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Invalid);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.verified.get(&digest) {
            // The cache entry may outlive `exp` by a moment; expiry is checked every time.
            return self.check_time(claims);
        }
        let claims = Arc::new(self.decode(token, &self.validation)?);
        self.verified.insert(digest, claims.clone());
        Ok(claims)
    }

    /// Verifies everything, accepting a token that expired no more than
    /// `expired_for_at_most_seconds` ago: for logout, which ends the session
    /// of an expired but correctly signed token, as long as that session
    /// could still be alive.
    pub fn verify_recently_expired(
        &self,
        token: &str,
        expired_for_at_most_seconds: u64,
    ) -> Result<AccessClaims, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Invalid);
        }
        let mut validation = (*self.validation).clone();
        validation.validate_exp = false;
        let claims = self.decode(token, &validation)?;
        let grace = (self.settings.leeway_seconds).saturating_add(expired_for_at_most_seconds);
        if claims.exp.saturating_add(grace as i64) < now_unix() {
            return Err(VerifyError::Expired);
        }
        Ok(claims)
    }

    fn check_time(&self, claims: Arc<AccessClaims>) -> Result<Arc<AccessClaims>, VerifyError> {
        if claims
            .exp
            .saturating_add(self.settings.leeway_seconds as i64)
            < now_unix()
        {
            Err(VerifyError::Expired)
        } else {
            Ok(claims)
        }
    }

    fn decode(&self, token: &str, validation: &Validation) -> Result<AccessClaims, VerifyError> {
        let header = decode_header(token).map_err(|_| VerifyError::Invalid)?;
        if header.crit.is_some() {
            return Err(VerifyError::Invalid);
        }
        // Never trust the header's alg: it must be the configured one.
        if header.alg != self.keyring.algorithm.jwt() {
            return Err(VerifyError::Invalid);
        }
        let kid = header.kid.as_deref().ok_or(VerifyError::Invalid)?;
        let key = self.keyring.get(kid).ok_or(VerifyError::Invalid)?;
        let data =
            decode::<AccessClaims>(token, key, validation).map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => VerifyError::Expired,
                _ => VerifyError::Invalid,
            })?;
        let claims = data.claims;
        let leeway = self.settings.leeway_seconds as i64;
        let max_lifetime = self.settings.max_lifetime_seconds as i64 + leeway;
        if claims.typ != ACCESS_TYP
            || claims.user_id().is_none()
            || claims.iat > now_unix() + leeway
            || claims.exp.saturating_sub(claims.iat) > max_lifetime
        {
            return Err(VerifyError::Invalid);
        }
        Ok(claims)
    }
}

/// The bearer token of an `Authorization` header. The scheme is
/// case-insensitive; a missing header is `missing_token`, anything else that
/// is not exactly one bearer token (Basic, two tokens, empty) is
/// `invalid_token`.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, Problem> {
    let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Problem::new(
            ErrorCode::MissingToken,
            "an access token is required",
        ));
    };
    let invalid = || Problem::from(VerifyError::Invalid);
    if values.next().is_some() {
        return Err(invalid());
    }
    let text = value.to_str().map_err(|_| invalid())?;
    let (scheme, token) = text.trim().split_once(' ').ok_or_else(invalid)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || token.is_empty()
        || token.contains(char::is_whitespace)
    {
        return Err(invalid());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Role;
    use crate::keys::{
        DEV_ED25519_SEED_B64, DEV_HS256_SECRET_B64, DEV_KID, JwtAlgorithm, ed25519_pkcs8_from_seed,
        ed25519_public_from_seed, parse_keyring,
    };
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use jsonwebtoken::{EncodingKey, Header, encode};
    use uuid::Uuid;

    fn settings() -> VerifierSettings {
        VerifierSettings {
            issuer: "auth-service".into(),
            audience: "shop-api".into(),
            leeway_seconds: 30,
            max_lifetime_seconds: 1800,
        }
    }

    fn claims() -> AccessClaims {
        let now = now_unix();
        AccessClaims {
            iss: "auth-service".into(),
            aud: "shop-api".into(),
            sub: "19".into(),
            sid: Uuid::new_v4(),
            jti: Uuid::new_v4(),
            iat: now,
            exp: now + 1800,
            typ: ACCESS_TYP.into(),
            market: "us".into(),
            role: Role::Customer,
            auth_time: Some(now),
        }
    }

    fn ed_key() -> EncodingKey {
        let seed = STANDARD.decode(DEV_ED25519_SEED_B64).unwrap();
        EncodingKey::from_ed_der(&ed25519_pkcs8_from_seed(&seed).unwrap())
    }

    fn hs_secret() -> Vec<u8> {
        STANDARD.decode(DEV_HS256_SECRET_B64).unwrap()
    }

    fn sign_ed(claims: &impl serde::Serialize, kid: &str) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid.into());
        encode(&header, claims, &ed_key()).unwrap()
    }

    fn sign_hs(claims: &impl serde::Serialize, secret: &[u8]) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(DEV_KID.into());
        encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn ed_verifier() -> Verifier {
        let keys = parse_keyring(&JwtAlgorithm::EdDsa.dev_verify_spec(), "T").unwrap();
        Verifier::new(
            VerifyKeyring::from_entries(JwtAlgorithm::EdDsa, &keys).unwrap(),
            settings(),
        )
    }

    fn hs_verifier() -> Verifier {
        let keys = parse_keyring(&JwtAlgorithm::Hs256.dev_verify_spec(), "T").unwrap();
        Verifier::new(
            VerifyKeyring::from_entries(JwtAlgorithm::Hs256, &keys).unwrap(),
            settings(),
        )
    }

    #[test]
    fn a_well_signed_token_verifies_and_is_then_served_from_the_cache() {
        let verifier = ed_verifier();
        let token = sign_ed(&claims(), DEV_KID);
        let first = verifier.verify(&token).unwrap();
        let second = verifier.verify(&token).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first.user_id(), Some(crate::ids::UserId(19)));
    }

    #[test]
    fn alg_none_and_hs256_against_an_eddsa_verifier_are_refused() {
        let verifier = ed_verifier();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"dev-1","typ":"JWT"}"#);
        assert_eq!(
            verifier.verify(&format!("{none_header}.{payload}.")),
            Err(VerifyError::Invalid)
        );
        // The classic confusion: HS256 keyed with the public key bytes.
        let public =
            ed25519_public_from_seed(&STANDARD.decode(DEV_ED25519_SEED_B64).unwrap()).unwrap();
        assert_eq!(
            verifier.verify(&sign_hs(&claims(), &public)),
            Err(VerifyError::Invalid)
        );
    }

    #[test]
    fn another_key_an_unknown_kid_and_tampering_are_refused() {
        let verifier = ed_verifier();
        let other_seed = crate::keys::generate_ed25519_seed().unwrap();
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(DEV_KID.into());
        let other = EncodingKey::from_ed_der(&ed25519_pkcs8_from_seed(&other_seed).unwrap());
        assert_eq!(
            verifier.verify(&encode(&header, &claims(), &other).unwrap()),
            Err(VerifyError::Invalid)
        );
        assert_eq!(
            verifier.verify(&sign_ed(&claims(), "unknown")),
            Err(VerifyError::Invalid)
        );
        let token = sign_ed(&claims(), DEV_KID);
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged.role = Role::Admin;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        parts[1] = &forged_payload;
        assert_eq!(verifier.verify(&parts.join(".")), Err(VerifyError::Invalid));
    }

    #[test]
    fn a_critical_header_extension_is_refused() {
        let verifier = ed_verifier();
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(DEV_KID.into());
        header.crit = Some(vec!["exp".into()]);
        let token = encode(&header, &claims(), &ed_key()).unwrap();
        assert_eq!(verifier.verify(&token), Err(VerifyError::Invalid));
        // The same token without it verifies.
        header.crit = None;
        let token = encode(&header, &claims(), &ed_key()).unwrap();
        assert!(verifier.verify(&token).is_ok());
    }

    #[test]
    fn a_token_claiming_to_live_longer_than_an_access_token_is_refused() {
        let verifier = ed_verifier();
        for exp_after_iat in [1800 + 31, 86_400, i64::MAX / 2] {
            let mut long = claims();
            long.exp = long.iat.saturating_add(exp_after_iat);
            assert_eq!(
                verifier.verify(&sign_ed(&long, DEV_KID)),
                Err(VerifyError::Invalid),
                "exp = iat + {exp_after_iat}"
            );
        }
        let mut longest = claims();
        longest.exp = longest.iat + 1800 + 30;
        assert!(verifier.verify(&sign_ed(&longest, DEV_KID)).is_ok());
    }

    #[test]
    fn wrong_issuer_audience_typ_and_missing_claims_are_refused() {
        let verifier = ed_verifier();
        let mut wrong = claims();
        wrong.iss = "someone-else".into();
        assert_eq!(
            verifier.verify(&sign_ed(&wrong, DEV_KID)),
            Err(VerifyError::Invalid)
        );
        let mut wrong = claims();
        wrong.aud = "other-api".into();
        assert_eq!(
            verifier.verify(&sign_ed(&wrong, DEV_KID)),
            Err(VerifyError::Invalid)
        );
        let mut wrong = claims();
        wrong.typ = "refresh".into();
        assert_eq!(
            verifier.verify(&sign_ed(&wrong, DEV_KID)),
            Err(VerifyError::Invalid)
        );
        let mut value = serde_json::to_value(claims()).unwrap();
        value.as_object_mut().unwrap().remove("sid");
        assert_eq!(
            verifier.verify(&sign_ed(&value, DEV_KID)),
            Err(VerifyError::Invalid)
        );
    }

    #[test]
    fn expiry_is_checked_with_the_leeway() {
        let verifier = ed_verifier();
        let mut old = claims();
        old.exp = now_unix() - 31;
        assert_eq!(
            verifier.verify(&sign_ed(&old, DEV_KID)),
            Err(VerifyError::Expired)
        );
        old.exp = now_unix() - 5;
        assert!(verifier.verify(&sign_ed(&old, DEV_KID)).is_ok());
        let mut long_expired = claims();
        long_expired.exp = now_unix() - 3600;
        let token = sign_ed(&long_expired, DEV_KID);
        assert_eq!(
            verifier.verify_recently_expired(&token, 7200).unwrap().sub,
            "19"
        );
        assert_eq!(
            verifier.verify_recently_expired(&token, 600),
            Err(VerifyError::Expired),
            "expired an hour ago, beyond ten minutes"
        );
    }

    #[test]
    fn broken_tokens_are_invalid_never_a_panic() {
        let verifier = ed_verifier();
        let huge_header = URL_SAFE_NO_PAD.encode(vec![b'a'; 32 * 1024]);
        for token in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!!.???.###",
            "e30.e30.e30",
            &format!("{huge_header}.e30.e30"),
        ] {
            assert_eq!(
                verifier.verify(token),
                Err(VerifyError::Invalid),
                "{token:.20}"
            );
        }
    }

    #[test]
    fn an_hs256_verifier_accepts_only_its_secret() {
        let verifier = hs_verifier();
        assert!(verifier.verify(&sign_hs(&claims(), &hs_secret())).is_ok());
        assert_eq!(
            verifier.verify(&sign_hs(&claims(), b"another-secret-of-at-least-32-bytes!")),
            Err(VerifyError::Invalid)
        );
        assert_eq!(
            verifier.verify(&sign_ed(&claims(), DEV_KID)),
            Err(VerifyError::Invalid)
        );
    }

    #[test]
    fn bearer_parsing_is_strict_but_case_insensitive() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", value.parse().unwrap());
            headers
        };
        assert_eq!(bearer_token(&with("bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(&with("BEARER abc")).unwrap(), "abc");
        assert_eq!(
            bearer_token(&HeaderMap::new()).unwrap_err().code,
            "missing_token"
        );
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b"] {
            assert_eq!(
                bearer_token(&with(bad)).unwrap_err().code,
                "invalid_token",
                "{bad}"
            );
        }
        let mut two = with("Bearer a");
        two.append("authorization", "Bearer b".parse().unwrap());
        assert_eq!(bearer_token(&two).unwrap_err().code, "invalid_token");
    }
}
