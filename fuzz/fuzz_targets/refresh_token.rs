//! The refresh-token parser: anything not issued with the server key is
//! refused, and whatever it accepts encodes back to the same text.
#![no_main]

use std::sync::LazyLock;

use auth_service::secrets::ServerKeys;
use auth_service::sessions::refresh_token::RefreshToken;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

static KEYS: LazyLock<ServerKeys> =
    LazyLock::new(|| ServerKeys::derive(&SecretString::from("fuzzing-master-key".to_owned())));

fuzz_target!(|text: &str| {
    if let Some(token) = RefreshToken::decode(text, &KEYS) {
        assert_eq!(token.encode(&KEYS), text);
    }
});
