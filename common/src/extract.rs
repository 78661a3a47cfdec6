//! Extractors whose rejections are problem+json, so that malformed input
//! never reaches a client as axum's plain-text errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error_code::ErrorCode;
use crate::problem::{FieldError, Problem};

/// JSON body extractor: `415 unsupported_media_type` without a JSON content
/// type, `413` over the body limit, `400 malformed_json` for broken syntax
/// and `422 validation_failed` (naming the field) for missing or mistyped
/// fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(request.headers()) {
            return Err(Problem::unsupported_media_type());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::payload_too_large()
                } else {
                    Problem::new(
                        ErrorCode::MalformedJson,
                        "the request body could not be read",
                    )
                }
            })?;
        parse_json(&bytes).map(Json)
    }
}

/// Whether the request declares a JSON body (`application/json` or
/// `application/*+json`, parameters such as `charset` allowed).
pub fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON document into `T`, classifying failures as API.md asks:
/// syntax before shape, so a body that is not JSON (invalid UTF-8
/// included: JSON is UTF-8) is `400 malformed_json` whatever it holds
/// before the fault; then text PostgreSQL cannot store (a NUL, written
/// `\u0000`) is `422 validation_failed` naming its field; then the shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed_json())?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| malformed_json())?;
    if let Some(field) = field_with_nul(text) {
        return Err(Problem::validation(vec![FieldError::new(
            field,
            "text may not contain a NUL character",
        )]));
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        classify(&path, &inner)
    })?;
    deserializer.end().map_err(|_| malformed_json())?;
    Ok(value)
}

/// The path of the first string (or key) of a well-formed JSON document
/// that holds a NUL, which only the escape `\u0000` can write. The
/// document is walked only when that escape appears at all.
fn field_with_nul(text: &str) -> Option<String> {
    if !text.contains("\\u0000") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    nul_in(&value, "")
}

fn nul_in(value: &serde_json::Value, path: &str) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(here()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_in(item, &format!("{}[{index}]", here()))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            let field = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            if name.contains('\0') {
                return Some(field);
            }
            nul_in(item, &field)
        }),
        _ => None,
    }
}

fn malformed_json() -> Problem {
    Problem::new(
        ErrorCode::MalformedJson,
        "the request body is not valid JSON",
    )
}

fn classify(path: &str, error: &serde_json::Error) -> Problem {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => {
            // serde_json appends " at line L column C"; the position helps nobody here.
            let full = error.to_string();
            let message = full.split(" at line ").next().unwrap_or(&full).to_owned();
            let field = match message.strip_prefix("missing field `") {
                Some(rest) => {
                    let name = rest.trim_end_matches('`');
                    if path == "." {
                        name.to_owned()
                    } else {
                        format!("{path}.{name}")
                    }
                }
                None if path == "." => "body".to_owned(),
                None => path.to_owned(),
            };
            Problem::validation(vec![FieldError::new(field, message)])
        }
        Category::Syntax | Category::Eof | Category::Io => malformed_json(),
    }
}

/// Path extractor whose rejection is `404 not_found`: a path id that is not
/// a positive integer, or a session id that is not a UUID, names nothing.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|_| Problem::not_found())
    }
}

/// A positive integer id (users, products, SKUs, orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub i64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = i64::deserialize(deserializer)?;
        if raw > 0 {
            Ok(Id(raw))
        } else {
            Err(serde::de::Error::custom("ids are positive integers"))
        }
    }
}

/// Query-string extractor whose rejection is `422 validation_failed`:
/// first for a parameter whose decoded text is not UTF-8 or holds a NUL
/// (text PostgreSQL cannot store, refused here rather than by the
/// database), then for what the target type refuses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(error) = parts.uri.query().and_then(unstorable_parameter) {
            return Err(Problem::validation(vec![error]));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| {
                let text = rejection.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_owned();
                Problem::validation(vec![FieldError::new("query", message)])
            })
    }
}

/// The first parameter of a raw query string whose name or value, once
/// decoded (`+` as a space, then percent-decoding), is not UTF-8 or holds
/// a NUL.
pub fn unstorable_parameter(query: &str) -> Option<FieldError> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |part: &str| -> Vec<u8> {
            percent_encoding::percent_decode_str(&part.replace('+', " ")).collect()
        };
        let (name, value) = (decode(name), decode(value));
        let field = String::from_utf8_lossy(&name).replace('\0', "\\0");
        let message = if std::str::from_utf8(&name).is_err() || std::str::from_utf8(&value).is_err()
        {
            "text must be UTF-8"
        } else if name.contains(&0) || value.contains(&0) {
            "text may not contain a NUL character"
        } else {
            return None;
        };
        Some(FieldError::new(field, message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct AddItem {
        sku_id: i64,
        quantity: i64,
    }

    #[test]
    fn broken_syntax_is_malformed_json() {
        let problem = parse_json::<AddItem>(br#"{"sku_id": 1,"#).unwrap_err();
        assert_eq!(
            (problem.status.as_u16(), problem.code.as_str()),
            (400, "malformed_json")
        );
        let problem =
            parse_json::<AddItem>(br#"{"sku_id": 1, "quantity": 2} trailing"#).unwrap_err();
        assert_eq!(problem.code, "malformed_json");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let problem = parse_json::<AddItem>(br#"{"sku_id": 1}"#).unwrap_err();
        assert_eq!(problem.code, "validation_failed");
        assert_eq!(problem.errors[0].field, "quantity");
        let problem = parse_json::<AddItem>(br#"{"sku_id": 1, "quantity": "2"}"#).unwrap_err();
        assert_eq!(problem.errors[0].field, "quantity");
        let problem = parse_json::<AddItem>(br#""text""#).unwrap_err();
        assert_eq!(problem.errors[0].field, "body");
    }

    /// Syntax before shape: a body that breaks off, or has a trailing
    /// comma, is not JSON whatever fields came before the fault.
    #[test]
    fn syntax_is_checked_before_shape() {
        for body in [
            &br#"{"phone": "#[..],
            br#"{"a":1,}"#,
            br#"{"unknown": 1, "sku_id": "#,
            br#"{"sku_id": 1, "quantity": 2,}"#,
        ] {
            let problem = parse_json::<AddItem>(body).unwrap_err();
            assert_eq!(
                (problem.status.as_u16(), problem.code.as_str()),
                (400, "malformed_json"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn invalid_utf8_inside_a_string_is_malformed_json() {
        let problem = parse_json::<serde_json::Value>(b"{\"name\": \"caf\xe9\"}").unwrap_err();
        assert_eq!(
            (problem.status.as_u16(), problem.code.as_str()),
            (400, "malformed_json")
        );
    }

    #[test]
    fn a_nul_in_any_text_is_refused_naming_its_field() {
        let problem =
            parse_json::<serde_json::Value>(br#"{"address": {"lines": ["a", "b\u0000"]}}"#)
                .unwrap_err();
        assert_eq!(
            (problem.status.as_u16(), problem.code.as_str()),
            (422, "validation_failed")
        );
        assert_eq!(problem.errors[0].field, "address.lines[1]");
        let problem = parse_json::<serde_json::Value>(br#""\u0000""#).unwrap_err();
        assert_eq!(problem.errors[0].field, "body");
        // An escaped backslash followed by "u0000" is ordinary text.
        assert!(parse_json::<serde_json::Value>(br#"{"note": "\\u0000"}"#).is_ok());
    }

    #[test]
    fn query_text_must_be_storable() {
        let field = |query| unstorable_parameter(query).map(|error| error.field);
        assert_eq!(field("q=%00"), Some("q".to_owned()));
        assert_eq!(field("page=2&q=ab%00c"), Some("q".to_owned()));
        assert_eq!(field("q=%FF%FE"), Some("q".to_owned()));
        assert_eq!(field("%00=1"), Some("\\0".to_owned()));
        assert_eq!(field("q=caf%C3%A9+cr%C3%A8me&page=1"), None);
        assert_eq!(field("q=%2B13125550100"), None);
    }

    #[test]
    fn ids_must_be_positive() {
        assert!(serde_json::from_str::<Id>("19").is_ok());
        assert!(serde_json::from_str::<Id>("0").is_err());
        assert!(serde_json::from_str::<Id>("-3").is_err());
    }
}
