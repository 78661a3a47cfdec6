//! The JSON body extractor: any bytes become a value or a problem that is
//! `400 malformed_json` or `422 validation_failed`, never a panic; what it
//! accepts holds no text PostgreSQL cannot store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct AddItem {
    sku_id: common::extract::Id,
    quantity: i64,
    note: Option<String>,
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    match common::extract::parse_json::<Value>(data) {
        Ok(value) => assert!(!holds_nul(&value)),
        Err(problem) => assert!(matches!(problem.status.as_u16(), 400 | 422)),
    }
    if let Err(problem) = common::extract::parse_json::<AddItem>(data) {
        assert!(matches!(problem.status.as_u16(), 400 | 422));
    }
});
