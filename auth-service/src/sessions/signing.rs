//! Access-token issuing: the newest key of the keyring signs, every key of
//! it verifies (so keys roll without downtime), and with EdDSA the public
//! halves are published as a JWKS.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::claims::{ACCESS_TYP, AccessClaims, Role};
use common::ids::{SessionId, UserId};
use common::keys::{
    JwtAlgorithm, KeyBytes, VerifyKeyring, ed25519_pkcs8_from_seed, ed25519_public_from_seed,
};
use common::verifier::{Verifier, VerifierSettings};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::Settings;

/// Signs access tokens; cheap to clone.
#[derive(Clone)]
pub struct TokenIssuer {
    algorithm: JwtAlgorithm,
    kid: Arc<str>,
    key: Arc<EncodingKey>,
    issuer: Arc<str>,
    audience: Arc<str>,
    ttl_seconds: i64,
    jwks: Arc<Value>,
}

/// What goes into one access token.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub market: &'a str,
    pub role: Role,
    /// When the login that started the session happened.
    pub auth_time: i64,
}

impl TokenIssuer {
    /// The issuer and a verifier of the same keyring, from settings.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<(Self, Verifier)> {
        let algorithm = settings.jwt_algorithm;
        let mut verify_entries = Vec::new();
        let mut public_keys = Vec::new();
        let mut signing = None;
        for (kid, KeyBytes(bytes)) in &settings.signing_keys {
            let (encoding, verify_bytes) = match algorithm {
                JwtAlgorithm::EdDsa => {
                    let public = ed25519_public_from_seed(bytes)?;
                    public_keys.push(json!({
                        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                        "kid": kid, "x": URL_SAFE_NO_PAD.encode(&public),
                    }));
                    (
                        EncodingKey::from_ed_der(&ed25519_pkcs8_from_seed(bytes)?),
                        public,
                    )
                }
                JwtAlgorithm::Hs256 => (EncodingKey::from_secret(bytes), bytes.clone()),
            };
            signing.get_or_insert((kid.clone(), encoding));
            verify_entries.push((kid.clone(), KeyBytes(verify_bytes)));
        }
        let (kid, key) = signing.ok_or_else(|| anyhow::anyhow!("JWT_SIGNING_KEYS holds no key"))?;
        let verifier = Verifier::new(
            VerifyKeyring::from_entries(algorithm, &verify_entries)?,
            VerifierSettings {
                issuer: settings.jwt_issuer.clone(),
                audience: settings.jwt_audience.clone(),
                leeway_seconds: settings.jwt_leeway_seconds,
                max_lifetime_seconds: settings.access_token_ttl_seconds,
            },
        );
        let issuer = Self {
            algorithm,
            kid: kid.into(),
            key: Arc::new(key),
            issuer: settings.jwt_issuer.as_str().into(),
            audience: settings.jwt_audience.as_str().into(),
            ttl_seconds: settings.access_token_ttl_seconds as i64,
            jwks: Arc::new(json!({ "keys": public_keys })),
        };
        Ok((issuer, verifier))
    }

    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// A signed access token for `subject`, issued at `now`.
    pub fn issue(&self, subject: Subject<'_>, now: i64) -> anyhow::Result<String> {
        let claims = AccessClaims {
            iss: self.issuer.to_string(),
            aud: self.audience.to_string(),
            sub: subject.user_id.to_string(),
            sid: subject.session_id.0,
            jti: Uuid::new_v4(),
            iat: now,
            exp: now + self.ttl_seconds,
            typ: ACCESS_TYP.to_owned(),
            market: subject.market.to_owned(),
            role: subject.role,
            auth_time: Some(subject.auth_time),
        };
        let mut header = Header::new(self.algorithm.jwt());
        header.kid = Some(self.kid.to_string());
        header.typ = Some("at+jwt".to_owned());
        Ok(encode(&header, &claims, &self.key)?)
    }

    /// `{"keys": [...]}`: the public keys (empty with HS256, whose secret is never published).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }
}
