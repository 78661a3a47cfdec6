use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::keys::{
    DEV_ED25519_PUBLIC_B64, DEV_ED25519_SEED_B64, ed25519_pkcs8_from_seed, generate_ed25519_seed,
};
use common::verifier::now_unix;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{
    TestApp, access, claims_of, expect_problem, read, spawn, spawn_with, test_settings,
};

const PHONE: &str = "+13128059851";

fn dev_key() -> EncodingKey {
    let seed = STANDARD.decode(DEV_ED25519_SEED_B64).unwrap();
    EncodingKey::from_ed_der(&ed25519_pkcs8_from_seed(&seed).unwrap())
}

fn sign(claims: &Value, alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, key).unwrap()
}

/// The claims of a live session's token, to be altered one at a time.
async fn live_claims(app: &TestApp) -> Value {
    let pair = app.login_phone(PHONE).await;
    claims_of(access(&pair))
}

async fn assert_refused(app: &TestApp, token: &str, code: &str) {
    let response = app.me(token).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    expect_problem(response, 401, code).await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn a_token_with_valid_claims_signed_by_the_keyring_passes(pool: PgPool) {
    let app = spawn(pool).await;
    let claims = live_claims(&app).await;
    let token = sign(&claims, Algorithm::EdDSA, "dev-1", &dev_key());
    assert_eq!(app.me(&token).await.status(), StatusCode::OK);
    for scheme in ["bearer", "BEARER"] {
        let response = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn alg_none_hs256_with_the_public_key_another_key_and_unknown_kids_are_refused(pool: PgPool) {
    let app = spawn(pool).await;
    let claims = live_claims(&app).await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"dev-1","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    assert_refused(&app, &format!("{header}.{payload}."), "invalid_token").await;

    let public = STANDARD.decode(DEV_ED25519_PUBLIC_B64).unwrap();
    let confused = sign(
        &claims,
        Algorithm::HS256,
        "dev-1",
        &EncodingKey::from_secret(&public),
    );
    assert_refused(&app, &confused, "invalid_token").await;

    let other = EncodingKey::from_ed_der(
        &ed25519_pkcs8_from_seed(&generate_ed25519_seed().unwrap()).unwrap(),
    );
    assert_refused(
        &app,
        &sign(&claims, Algorithm::EdDSA, "dev-1", &other),
        "invalid_token",
    )
    .await;
    assert_refused(
        &app,
        &sign(&claims, Algorithm::EdDSA, "rotated-away", &dev_key()),
        "invalid_token",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn wrong_audience_issuer_or_type_and_expiry_are_refused(pool: PgPool) {
    let app = spawn(pool).await;
    let claims = live_claims(&app).await;
    for (field, value) in [
        ("aud", json!("another-api")),
        ("iss", json!("evil")),
        ("typ", json!("refresh")),
    ] {
        let mut altered = claims.clone();
        altered[field] = value;
        assert_refused(
            &app,
            &sign(&altered, Algorithm::EdDSA, "dev-1", &dev_key()),
            "invalid_token",
        )
        .await;
    }
    let mut missing = claims.clone();
    missing.as_object_mut().unwrap().remove("sid");
    assert_refused(
        &app,
        &sign(&missing, Algorithm::EdDSA, "dev-1", &dev_key()),
        "invalid_token",
    )
    .await;
    let mut expired = claims.clone();
    expired["exp"] = json!(now_unix() - 120);
    assert_refused(
        &app,
        &sign(&expired, Algorithm::EdDSA, "dev-1", &dev_key()),
        "token_expired",
    )
    .await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn broken_tokens_and_bad_authorization_headers_are_401(pool: PgPool) {
    let app = spawn(pool).await;
    let huge = format!("{}.e30.e30", URL_SAFE_NO_PAD.encode(vec![b'a'; 32 * 1024]));
    for token in [
        "a",
        "a.b",
        "a.b.c.d",
        "!!!.###.$$$",
        "e30.e30.e30",
        huge.as_str(),
    ] {
        assert_refused(&app, token, "invalid_token").await;
    }
    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"] {
        let response = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        expect_problem(response, 401, "invalid_token").await;
    }
    let response = app
        .client
        .get(app.url("/api/v1/auth/me?access_token=abc"))
        .send()
        .await
        .unwrap();
    expect_problem(response, 401, "missing_token").await;
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn the_jwks_publishes_the_key_tokens_are_signed_with(pool: PgPool) {
    let app = spawn(pool).await;
    let pair = app.login_phone(PHONE).await;
    let header: Value = {
        let raw = access(&pair).split('.').next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).unwrap()).unwrap()
    };
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], "dev-1");
    let (status, jwks) = read(
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["kid"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("dev-1"))
    );
    let x = URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap();
    assert_eq!(x, STANDARD.decode(DEV_ED25519_PUBLIC_B64).unwrap());
    let claims = claims_of(access(&pair));
    for name in [
        "iss", "aud", "sub", "sid", "jti", "iat", "exp", "typ", "market", "role",
    ] {
        assert!(!claims[name].is_null(), "claim {name} is present");
    }
    assert_eq!(claims["typ"], "access");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1800
    );
}

#[sqlx::test(migrator = "auth_service::MIGRATOR")]
async fn an_hs256_deployment_signs_with_its_secret_and_refuses_eddsa_tokens(pool: PgPool) {
    let app = spawn_with(pool, test_settings(&[("JWT_ALG", "HS256")])).await;
    let pair = app.login_phone(PHONE).await;
    let header = access(&pair).split('.').next().unwrap().to_owned();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(app.me(access(&pair)).await.status(), StatusCode::OK);
    let claims = claims_of(access(&pair));
    assert_refused(
        &app,
        &sign(&claims, Algorithm::EdDSA, "dev-1", &dev_key()),
        "invalid_token",
    )
    .await;
    let (_, jwks) = read(
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(jwks["keys"], json!([]));
}
