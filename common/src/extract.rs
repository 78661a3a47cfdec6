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

/// Parses a JSON document into `T`, classifying failures as API.md asks.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        classify(&path, &inner)
    })?;
    deserializer.end().map_err(|_| malformed_json())?;
    Ok(value)
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

/// Query-string extractor whose rejection is `422 validation_failed`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
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

    #[test]
    fn ids_must_be_positive() {
        assert!(serde_json::from_str::<Id>("19").is_ok());
        assert!(serde_json::from_str::<Id>("0").is_err());
        assert!(serde_json::from_str::<Id>("-3").is_err());
    }
}
