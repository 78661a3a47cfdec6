//! The shipping address of an order, as API.md defines it, and the note.

use common::problem::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest note an order keeps.
pub const MAX_NOTE_CHARS: usize = 1000;

/// A note as given: trimmed, empty is none; `Err` with the reason when
/// longer than 1000 characters.
pub fn note(text: Option<String>) -> Result<Option<String>, &'static str> {
    match text.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        Some(note) if note.chars().count() > MAX_NOTE_CHARS => {
            Err("must be at most 1000 characters")
        }
        other => Ok(other),
    }
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
