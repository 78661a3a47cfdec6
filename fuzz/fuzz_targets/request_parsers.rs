//! The small parsers of a request's headers and query: `X-Market`,
//! pagination, `Idempotency-Key`, `If-Match` and `If-None-Match`,
//! `X-Cart-Token` and the query-string text check. Each accepts only what
//! the contract allows and refuses the rest without a panic.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use commerce_service::cart::guest::GuestToken;
use commerce_service::cart::version::{self, Seen};
use commerce_service::orders::idempotency::IdempotencyKey;
use common::pagination::PageQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(data) {
        headers.insert("x-market", value);
        if let Ok(Some(market)) = common::market::requested_market(&headers) {
            assert!(common::market::is_well_formed(&market));
        }
    }
    if let Ok(key) = IdempotencyKey::parse(Some(data)) {
        let key = key.as_str();
        assert!((1..=255).contains(&key.len()));
        assert!(key.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }
    let text = String::from_utf8_lossy(data);
    let (page, per_page) = text.split_once('&').unwrap_or((&text, ""));
    let query = PageQuery {
        page: Some(page.to_owned()),
        per_page: (!per_page.is_empty()).then(|| per_page.to_owned()),
    };
    if let Ok(valid) = query.validate() {
        assert!(valid.page >= 1 && (1..=100).contains(&valid.per_page));
        assert!(valid.offset() >= 0);
    }
    let _ = common::extract::unstorable_parameter(&text);
    if let Ok(Seen::Versions(versions)) = Seen::parse(&text) {
        assert!(versions.iter().all(|v| *v >= -1));
    }
    if version::not_modified(&text, 7) {
        assert!(text.contains('7') || text.trim() == "*");
    }
    if let Some(token) = GuestToken::parse(&text) {
        assert_eq!(token.as_str().len(), 43);
    }
});
