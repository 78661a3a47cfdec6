//! The HTTP surface only: each module extracts a request, calls one use
//! case of a feature and shapes the answer; each exports a `router()`,
//! merged here. Routes never import one another.

pub mod admin;
pub mod cart;
pub mod catalog;
pub mod orders;
pub mod system;
pub mod wishlist;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "commerce-service", description = "Catalog, cart, wishlist and orders of the shop, per market."),
    components(schemas(common::problem::ProblemBody<'static>, common::problem::FieldError))
)]
struct ApiDoc;

/// The whole application: public routes (documented in `/openapi.json`),
/// health and metrics, with the common layers.
pub fn app(state: AppState) -> Router {
    crate::series::register_at_zero();
    let (public, openapi) = public_routes();
    let router = public
        .merge(system::router(std::sync::Arc::new(openapi)))
        .merge(common::http::health_route())
        .with_state(state.clone());
    common::http::finish_router(
        router,
        state.settings.request_timeout,
        state.lifecycle.clone(),
    )
}

/// The public routes and the OpenAPI document that describes them, built
/// together so the document cannot drift from what is served.
fn public_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (public, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(catalog::router())
        .merge(cart::router())
        .merge(wishlist::router())
        .merge(orders::router())
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
