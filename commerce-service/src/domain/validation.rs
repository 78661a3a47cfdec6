//! Input rules of API.md that do not depend on storage.

use common::Problem;
use common::problem::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const MAX_LINE_QUANTITY: i64 = 99;
pub const MAX_SEARCH_CHARS: usize = 100;
pub const MAX_NOTE_CHARS: usize = 1000;

/// A line quantity, 1..=99 (`allow_zero` for `PUT`, where 0 removes the line).
pub fn quantity(value: i64, allow_zero: bool) -> Result<i32, Problem> {
    let low = if allow_zero { 0 } else { 1 };
    if (low..=MAX_LINE_QUANTITY).contains(&value) {
        Ok(value as i32)
    } else {
        Err(Problem::invalid_field(
            "quantity",
            &format!("must be an integer from {low} to 99"),
        ))
    }
}

/// `Idempotency-Key`: 1 to 255 printable ASCII characters.
pub fn idempotency_key(value: Option<&axum::http::HeaderValue>) -> Result<String, Problem> {
    use axum::http::StatusCode;
    let Some(value) = value else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "missing_idempotency_key",
            "checkout needs an Idempotency-Key header",
        ));
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// A search text: trimmed, at most 100 characters, `LIKE` wildcards escaped.
pub fn search_pattern(q: Option<&str>) -> Result<Option<String>, Problem> {
    let Some(text) = q.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(Problem::invalid_field(
            "q",
            "must be at most 100 characters",
        ));
    }
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    Ok(Some(pattern))
}

/// A shipping address as API.md defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingAddress {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166 alpha-2.
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl ShippingAddress {
    /// Checks lengths and the country code; trims every field.
    pub fn validated(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut check = |field: &str, value: &mut String, max: usize| {
            *value = value.trim().to_owned();
            if value.is_empty()
                || value.chars().count() > max
                || value.chars().any(char::is_control)
            {
                errors.push(FieldError::new(
                    format!("shipping_address.{field}"),
                    format!("must be 1 to {max} printable characters"),
                ));
            }
        };
        check("name", &mut self.name, 200);
        check("line1", &mut self.line1, 200);
        check("city", &mut self.city, 100);
        check("postal_code", &mut self.postal_code, 20);
        if let Some(line2) = self.line2.as_mut() {
            check("line2", line2, 200);
        }
        if let Some(phone) = self.phone.as_mut() {
            check("phone", phone, 32);
        }
        self.country = self.country.trim().to_ascii_uppercase();
        if self.country.len() != 2 || !self.country.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(FieldError::new(
                "shipping_address.country",
                "must be an ISO 3166 alpha-2 code",
            ));
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn quantities_are_bounded() {
        assert_eq!(quantity(1, false).unwrap(), 1);
        assert_eq!(quantity(99, false).unwrap(), 99);
        for bad in [0, -1, 100, i64::MAX] {
            assert_eq!(quantity(bad, false).unwrap_err().code, "validation_failed");
        }
        assert_eq!(quantity(0, true).unwrap(), 0);
    }

    #[test]
    fn idempotency_keys_are_printable_ascii_up_to_255() {
        assert_eq!(
            idempotency_key(None).unwrap_err().code,
            "missing_idempotency_key"
        );
        assert_eq!(
            idempotency_key(Some(&HeaderValue::from_static("order-1"))).unwrap(),
            "order-1"
        );
        let long = HeaderValue::from_str(&"k".repeat(256)).unwrap();
        assert_eq!(
            idempotency_key(Some(&long)).unwrap_err().code,
            "invalid_idempotency_key"
        );
        let tab = HeaderValue::from_bytes(b"a\tb").unwrap();
        assert_eq!(
            idempotency_key(Some(&tab)).unwrap_err().code,
            "invalid_idempotency_key"
        );
        let empty = HeaderValue::from_static("");
        assert_eq!(
            idempotency_key(Some(&empty)).unwrap_err().code,
            "invalid_idempotency_key"
        );
    }

    #[test]
    fn search_text_is_escaped_and_bounded() {
        assert_eq!(search_pattern(Some("  ")).unwrap(), None);
        assert_eq!(
            search_pattern(Some("50%_off\\")).unwrap().unwrap(),
            "%50\\%\\_off\\\\%"
        );
        assert!(search_pattern(Some(&"x".repeat(101))).is_err());
    }

    #[test]
    fn addresses_are_checked_field_by_field() {
        let address = ShippingAddress {
            name: " Ada ".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Chicago".into(),
            postal_code: "60601".into(),
            country: "us".into(),
            phone: None,
        };
        let ok = address.clone().validated().unwrap();
        assert_eq!((ok.name.as_str(), ok.country.as_str()), ("Ada", "US"));
        let bad = ShippingAddress {
            city: String::new(),
            country: "USA".into(),
            ..address
        };
        let errors = bad.validated().unwrap_err();
        assert_eq!(errors.len(), 2);
    }
}
