//! The HTTP surface only: each module extracts a request, calls one use
//! case of a feature and shapes the answer; each exports a `router()`,
//! merged here. Routes never import one another; what several of them share
//! to read a request is here.

pub mod account;
pub mod admin;
pub mod internal;
pub mod login;
pub mod system;
pub mod tokens;

use axum::Router;
use axum::http::HeaderMap;
use common::Problem;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Settings;
use crate::otp::Otp;
use crate::otp::phone::Phone;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "auth-service", description = "Login by phone code or password, tokens, sessions and users of the shop."),
    components(schemas(common::problem::ProblemBody<'static>, common::problem::FieldError))
)]
struct ApiDoc;

/// The whole application: public routes (documented in `/openapi.json`),
/// internal routes, health and metrics, with the common layers.
pub fn app(state: AppState) -> Router {
    crate::series::register_at_zero();
    let (public, openapi) = public_routes();
    let openapi = std::sync::Arc::new(openapi);
    let router = public
        .merge(internal::router())
        .merge(system::router(openapi))
        .merge(common::http::health_route())
        .with_state(state.clone());
    common::http::finish_router(
        router,
        state.settings.request_timeout,
        state.lifecycle.clone(),
    )
}

/// Headers of every token response (RFC 6749 §5.1).
fn no_store() -> [(axum::http::HeaderName, &'static str); 2] {
    [
        (axum::http::header::CACHE_CONTROL, "no-store"),
        (axum::http::header::PRAGMA, "no-cache"),
    ]
}

/// The login's market: `X-Market` when present (and known), else the default.
fn login_market(headers: &HeaderMap, settings: &Settings) -> Result<String, Problem> {
    match common::market::requested_market(headers)? {
        Some(code) if settings.markets.contains(&code) => Ok(code),
        Some(_) => Err(common::market::unknown_market()),
        None => Ok(settings.default_market.clone()),
    }
}

/// A number as the request wrote it; anything the feature refuses is `422`
/// on `field`.
fn phone_field(otp: &Otp, input: &str, field: &str) -> Result<Phone, Problem> {
    otp.parse_phone(input)
        .map_err(|error| Problem::invalid_field(field, &error.to_string()))
}

/// `device_name`: optional; a bad one is `422`.
fn device_name_field(name: Option<String>) -> Result<Option<String>, Problem> {
    crate::sessions::device_name(name)
        .map_err(|message| Problem::invalid_field("device_name", message))
}

/// The public routes and the OpenAPI document that describes them, built
/// together so the document cannot drift from what is served.
fn public_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (public, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(login::router())
        .merge(tokens::router())
        .merge(account::router())
        .merge(admin::router())
        .split_for_parts();
    common::openapi::document_errors(&mut openapi);
    (public, openapi)
}

/// The document `/openapi.json` serves, without a running service: the
/// `openapi` subcommand prints it, and the TypeScript client is generated
/// from it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    public_routes().1
}
