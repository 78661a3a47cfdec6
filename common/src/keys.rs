//! Key material for access tokens: the algorithm (pinned by configuration)
//! and keyrings written as `kid=<base64 or PEM path>,...`.
//!
//! EdDSA keys are Ed25519: a signing key is its 32-byte seed (base64) or a
//! PKCS#8 PEM file; a verifying key is the 32-byte public key (base64) or an
//! SPKI PEM file. An HS256 key is the shared secret, base64.

use std::collections::HashMap;
use std::fmt;

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The `kid` of the development key pair.
pub const DEV_KID: &str = "dev-1";
/// The development Ed25519 seed. Public knowledge: production refuses it.
pub const DEV_ED25519_SEED_B64: &str = "NmvbPC8xyjcb66FnAw0Syg1wylJspjNXcGnyRNB0RxY=";
/// The public key of [`DEV_ED25519_SEED_B64`].
pub const DEV_ED25519_PUBLIC_B64: &str = "v0lyAqEzaBSFMTVjUGKsFFTYsx9eYeeKUtmmJRMUAFo=";
/// The development HS256 secret (32 bytes). Production refuses it.
pub const DEV_HS256_SECRET_B64: &str = "ZGV2ZWxvcG1lbnQtb25seS1oczI1Ni1zZWNyZXQtMzI=";

/// Minimum length of an HS256 secret in production (RFC 8725 §3.5).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// The one algorithm a deployment signs and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    EdDsa,
    Hs256,
}

impl JwtAlgorithm {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text.trim() {
            "EdDSA" => Ok(Self::EdDsa),
            "HS256" => Ok(Self::Hs256),
            other => bail!("JWT_ALG must be EdDSA or HS256, not {other:?}"),
        }
    }

    pub fn jwt(self) -> Algorithm {
        match self {
            Self::EdDsa => Algorithm::EdDSA,
            Self::Hs256 => Algorithm::HS256,
        }
    }

    /// The development keyring for signing (auth-service).
    pub fn dev_signing_spec(self) -> String {
        match self {
            Self::EdDsa => format!("{DEV_KID}={DEV_ED25519_SEED_B64}"),
            Self::Hs256 => format!("{DEV_KID}={DEV_HS256_SECRET_B64}"),
        }
    }

    /// The development keyring for verifying (commerce-service).
    pub fn dev_verify_spec(self) -> String {
        match self {
            Self::EdDsa => format!("{DEV_KID}={DEV_ED25519_PUBLIC_B64}"),
            Self::Hs256 => format!("{DEV_KID}={DEV_HS256_SECRET_B64}"),
        }
    }
}

/// Whether key material is one of the repository's development keys (the
/// Ed25519 seed, its public key, the HS256 secret), whatever key id it is
/// listed under: production refuses them by value, not by name.
pub fn is_development_key(bytes: &[u8]) -> bool {
    use base64::Engine as _;
    [
        DEV_ED25519_SEED_B64,
        DEV_ED25519_PUBLIC_B64,
        DEV_HS256_SECRET_B64,
    ]
    .iter()
    .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
    .any(|dev| dev == bytes)
}

/// Raw key bytes, never printed.
#[derive(Clone)]
pub struct KeyBytes(pub Vec<u8>);

impl fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyBytes(<redacted>)")
    }
}

/// Parses `kid=value,kid=value`; order is kept (the first key signs).
pub fn parse_keyring(spec: &str, variable: &str) -> anyhow::Result<Vec<(String, KeyBytes)>> {
    let mut keys = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (kid, value) = entry
            .split_once('=')
            .with_context(|| format!("{variable}: each entry is kid=<base64 or PEM path>"))?;
        let kid = kid.trim();
        ensure!(
            !kid.is_empty() && kid.len() <= 64 && kid.bytes().all(|b| b.is_ascii_graphic()),
            "{variable}: a kid is 1 to 64 printable characters"
        );
        ensure!(
            keys.iter().all(|(existing, _)| existing != kid),
            "{variable}: kid {kid:?} appears twice"
        );
        let bytes =
            load_key_value(value.trim()).with_context(|| format!("{variable}: key {kid:?}"))?;
        keys.push((kid.to_owned(), KeyBytes(bytes)));
    }
    ensure!(!keys.is_empty(), "{variable} holds no key");
    Ok(keys)
}

/// A value is a PEM file path when it names a file that exists or looks like
/// a path; otherwise it is base64 (standard or URL-safe, padding optional).
fn load_key_value(value: &str) -> anyhow::Result<Vec<u8>> {
    if value.contains('/') || value.ends_with(".pem") {
        let text = std::fs::read_to_string(value).with_context(|| format!("reading {value}"))?;
        return pem_ed25519_raw(&text);
    }
    let trimmed = value.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD.decode(value))
        .context("not valid base64")
}

/// The 32 raw key bytes inside an Ed25519 PKCS#8 private or SPKI public PEM.
fn pem_ed25519_raw(text: &str) -> anyhow::Result<Vec<u8>> {
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD.decode(body).context("PEM body is not base64")?;
    // PKCS#8 v1 Ed25519 private keys are 48 bytes and SPKI public keys 44;
    // in both the raw key is the final 32 bytes.
    ensure!(
        der.len() == 48 || der.len() == 44,
        "only Ed25519 PEM keys are supported"
    );
    Ok(der[der.len() - 32..].to_vec())
}

/// PKCS#8 v1 DER of an Ed25519 seed, the form jsonwebtoken signs with.
pub fn ed25519_pkcs8_from_seed(seed: &[u8]) -> anyhow::Result<Vec<u8>> {
    ensure!(seed.len() == 32, "an Ed25519 seed is 32 bytes");
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    Ok(der)
}

/// The public key of an Ed25519 seed.
pub fn ed25519_public_from_seed(seed: &[u8]) -> anyhow::Result<Vec<u8>> {
    use aws_lc_rs::signature::KeyPair as _;
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(seed)
        .map_err(|_| anyhow::anyhow!("invalid Ed25519 seed"))?;
    Ok(pair.public_key().as_ref().to_vec())
}

/// SPKI DER of an Ed25519 public key.
pub fn ed25519_spki_from_public(public: &[u8]) -> anyhow::Result<Vec<u8>> {
    ensure!(public.len() == 32, "an Ed25519 public key is 32 bytes");
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(public);
    Ok(der)
}

/// PEM text of DER bytes with the given label (`PRIVATE KEY`, `PUBLIC KEY`).
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A fresh random Ed25519 seed, for key generation tools.
pub fn generate_ed25519_seed() -> anyhow::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::fill(&mut seed).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(seed)
}

/// Verification keys by `kid`, all of one pinned algorithm.
#[derive(Clone)]
pub struct VerifyKeyring {
    pub algorithm: JwtAlgorithm,
    keys: HashMap<String, DecodingKey>,
}

impl fmt::Debug for VerifyKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKeyring")
            .field("algorithm", &self.algorithm)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl VerifyKeyring {
    /// From `JWT_VERIFY_KEYS`-style entries: public keys (EdDSA) or secrets (HS256).
    pub fn from_entries(
        algorithm: JwtAlgorithm,
        entries: &[(String, KeyBytes)],
    ) -> anyhow::Result<Self> {
        let mut keys = HashMap::new();
        for (kid, KeyBytes(bytes)) in entries {
            let key = match algorithm {
                JwtAlgorithm::EdDsa => {
                    ensure!(
                        bytes.len() == 32,
                        "key {kid:?}: an Ed25519 public key is 32 bytes"
                    );
                    DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(bytes))
                        .with_context(|| format!("key {kid:?}"))?
                }
                JwtAlgorithm::Hs256 => {
                    ensure!(!bytes.is_empty(), "key {kid:?}: empty HS256 secret");
                    DecodingKey::from_secret(bytes)
                }
            };
            keys.insert(kid.clone(), key);
        }
        Ok(Self { algorithm, keys })
    }

    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.get(kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_public_key_belongs_to_the_dev_seed() {
        let seed = STANDARD.decode(DEV_ED25519_SEED_B64).unwrap();
        let public = ed25519_public_from_seed(&seed).unwrap();
        assert_eq!(STANDARD.encode(public), DEV_ED25519_PUBLIC_B64);
        assert!(STANDARD.decode(DEV_HS256_SECRET_B64).unwrap().len() >= MIN_HS256_SECRET_BYTES);
    }

    #[test]
    fn generated_pem_files_load_back_as_the_same_keys() {
        let seed = generate_ed25519_seed().unwrap();
        let public = ed25519_public_from_seed(&seed).unwrap();
        let dir = std::env::temp_dir().join(format!("keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let private_path = dir.join("k.pem");
        let public_path = dir.join("k.pub.pem");
        std::fs::write(
            &private_path,
            pem("PRIVATE KEY", &ed25519_pkcs8_from_seed(&seed).unwrap()),
        )
        .unwrap();
        std::fs::write(
            &public_path,
            pem("PUBLIC KEY", &ed25519_spki_from_public(&public).unwrap()),
        )
        .unwrap();
        let spec = format!("a={},b={}", private_path.display(), public_path.display());
        let keys = parse_keyring(&spec, "T").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(keys[0].1.0, seed.to_vec());
        assert_eq!(keys[1].1.0, public);
    }

    #[test]
    fn keyrings_keep_order_and_refuse_nonsense() {
        let keys = parse_keyring("b=AAAA, a=AAAA", "JWT_VERIFY_KEYS").unwrap();
        assert_eq!(keys[0].0, "b");
        assert!(parse_keyring("", "X").is_err());
        assert!(parse_keyring("nokid", "X").is_err());
        assert!(parse_keyring("a=AAAA,a=AAAA", "X").is_err());
        assert!(parse_keyring("a=!!!", "X").is_err());
    }
}
