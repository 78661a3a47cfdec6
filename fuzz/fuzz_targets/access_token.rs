//! The `Authorization` header and the access-token verifier: any bytes are
//! refused or accepted, never a panic, and nothing but a token this
//! process could have signed is accepted.
#![no_main]

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, header};
use common::keys::{JwtAlgorithm, VerifyKeyring, parse_keyring};
use common::verifier::{Verifier, VerifierSettings, bearer_token};
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let algorithm = JwtAlgorithm::EdDsa;
    let keys = parse_keyring(&algorithm.dev_verify_spec(), "fuzz").expect("the dev key parses");
    Verifier::new(
        VerifyKeyring::from_entries(algorithm, &keys).expect("a keyring"),
        VerifierSettings {
            issuer: "auth-service".into(),
            audience: "shop-api".into(),
            leeway_seconds: 30,
            max_lifetime_seconds: 1800,
        },
    )
});

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        if let Ok(token) = bearer_token(&headers) {
            // Random bytes never carry a valid Ed25519 signature.
            assert!(VERIFIER.verify(token).is_err());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(VERIFIER.verify(text).is_err());
        assert!(VERIFIER.verify_recently_expired(text, 86_400).is_err());
    }
});
