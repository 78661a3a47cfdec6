//! The error answers of every operation, added to a service's OpenAPI
//! document from what API.md's "Settled details" make possible for an
//! operation of that shape, so that each route's own annotation lists only
//! what is particular to it (its success, `409` conflicts, `429` limits).
//! Every error answer is documented as `application/problem+json` with the
//! `ProblemBody` schema.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, ResponseBuilder};

use crate::problem::PROBLEM_JSON;

/// The name both services give their bearer scheme in `security(...)`.
pub const BEARER_SCHEME: &str = "bearer";

/// Completes `openapi`: the bearer scheme, and on every operation the error
/// answers it can give, each with the problem+json body.
pub fn document_errors(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER_SCHEME,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            document_operation(operation);
        }
    }
}

/// The statuses an operation of this shape can answer with an error, in
/// API.md's order of checks.
fn possible_errors(operation: &Operation) -> Vec<(&'static str, &'static str)> {
    let has_body = operation.request_body.is_some();
    let parameters_in = |place: ParameterIn| {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|parameter| match parameter {
                RefOr::T(parameter) => parameter.parameter_in == place,
                RefOr::Ref(_) => false,
            })
    };
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut errors = vec![(
        "400",
        "malformed request: a body that is not JSON, a missing or malformed header, an unknown market",
    )];
    if has_body {
        errors.push(("413", "`payload_too_large`: the body exceeds 64 KiB"));
        errors.push((
            "415",
            "`unsupported_media_type`: the body is not `application/json`",
        ));
    }
    if secured {
        errors.push((
            "401",
            "`missing_token`, `invalid_token`, `token_expired`, `token_revoked` or `user_inactive`",
        ));
        errors.push(("403", "`forbidden` (role) or `market_mismatch`"));
    }
    if has_body || parameters_in(ParameterIn::Query) || parameters_in(ParameterIn::Path) {
        errors.push(("422", "`validation_failed`, naming each invalid field"));
    }
    if parameters_in(ParameterIn::Path) {
        errors.push((
            "404",
            "`not_found`: nothing by that id (or not the caller's)",
        ));
    }
    errors.push((
        "503",
        "`dependency_unavailable` or `auth_unavailable`, with `Retry-After`",
    ));
    errors
}

fn document_operation(operation: &mut Operation) {
    for (status, description) in possible_errors(operation) {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(description)));
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response) {
            // Every error body is problem+json, whatever the route's
            // annotation said (`body = ProblemBody` documents JSON).
            let schema = response
                .content
                .shift_remove("application/json")
                .unwrap_or_else(problem_content);
            if !response.content.contains_key(PROBLEM_JSON) {
                response.content.insert(PROBLEM_JSON.to_owned(), schema);
            }
        }
    }
}

fn problem_content() -> RefOr<Content> {
    RefOr::T(Content::new(Some(Ref::from_schema_name("ProblemBody"))))
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("ProblemBody"))),
        )
        .build()
}
