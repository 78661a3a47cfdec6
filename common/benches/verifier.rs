//! Scenario 10 of `cargo xtask bench`: the verifier on a token seen for the
//! first time (a signature check) and on a cached one, for EdDSA and HS256.

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::claims::{ACCESS_TYP, AccessClaims, Role};
use common::keys::{
    DEV_ED25519_SEED_B64, DEV_HS256_SECRET_B64, DEV_KID, JwtAlgorithm, VerifyKeyring,
    ed25519_pkcs8_from_seed, parse_keyring,
};
use common::verifier::{Verifier, VerifierSettings, now_unix};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header, encode};
use uuid::Uuid;

fn token(algorithm: JwtAlgorithm) -> String {
    let now = now_unix();
    let claims = AccessClaims {
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
    };
    let key = match algorithm {
        JwtAlgorithm::EdDsa => {
            let seed = STANDARD.decode(DEV_ED25519_SEED_B64).unwrap();
            EncodingKey::from_ed_der(&ed25519_pkcs8_from_seed(&seed).unwrap())
        }
        JwtAlgorithm::Hs256 => {
            EncodingKey::from_secret(&STANDARD.decode(DEV_HS256_SECRET_B64).unwrap())
        }
    };
    let mut header = Header::new(algorithm.jwt());
    header.kid = Some(DEV_KID.into());
    encode(&header, &claims, &key).unwrap()
}

fn verifier(algorithm: JwtAlgorithm) -> Verifier {
    let keys = parse_keyring(&algorithm.dev_verify_spec(), "bench").unwrap();
    Verifier::new(
        VerifyKeyring::from_entries(algorithm, &keys).unwrap(),
        VerifierSettings {
            issuer: "auth-service".into(),
            audience: "shop-api".into(),
            leeway_seconds: 30,
            max_lifetime_seconds: 1800,
        },
    )
}

fn bench_verifier(c: &mut Criterion) {
    for (label, algorithm) in [
        ("eddsa", JwtAlgorithm::EdDsa),
        ("hs256", JwtAlgorithm::Hs256),
    ] {
        let token = token(algorithm);
        c.bench_function(&format!("verifier/{label}_first_sight"), |b| {
            // A fresh verifier each time: nothing cached, a signature check.
            b.iter_batched(
                || verifier(algorithm),
                |v| black_box(v.verify(&token).unwrap()),
                criterion::BatchSize::SmallInput,
            )
        });
        let warm = verifier(algorithm);
        warm.verify(&token).unwrap();
        c.bench_function(&format!("verifier/{label}_cached"), |b| {
            b.iter(|| black_box(warm.verify(&token).unwrap()))
        });
    }
}

criterion_group!(benches, bench_verifier);
criterion_main!(benches);
