//! Checkout and the caller's orders.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::Problem;
use common::error_code::ErrorCode;
use common::events::outbox::Outbox;
use common::extract::{Id, Path, Query, has_json_content_type, parse_json};
use common::pagination::{PageQuery, Paginated};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::caller::Customer;
use crate::cart::CartView;
use crate::cart::version::{MalformedIfMatch, Seen};
use crate::error::ApiError;
use crate::ids::OrderId;
use crate::orders::address::{self, ShippingAddress};
use crate::orders::checkout::{Checkout, checkout};
use crate::orders::idempotency::{IdempotencyKey, KeyError};
use crate::orders::{self, OrderView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    pub note: Option<String>,
    pub shipping_address: Option<ShippingAddress>,
    /// The cart total the shopper was shown (`subtotal_minor`): if the
    /// order would cost anything else, `409 price_changed` and nothing is
    /// ordered.
    pub expected_total_minor: Option<i64>,
}

/// A checkout's `409`: a problem, and for `cart_changed` and
/// `price_changed` the cart as it now stands.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct CartConflict {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: common::ErrorCode,
    pub request_id: String,
    /// The SKUs concerned (`out_of_stock`, `unavailable`, `held_units_limit`).
    pub skus: Option<Vec<i64>>,
    /// The fresh cart (`cart_changed`, `price_changed`); show it and ask
    /// again with its version in `If-Match`.
    pub cart: Option<CartView>,
}

/// The body is optional: none at all, or JSON. Checked in API.md's order:
/// content type (`415`), then the key, `If-Match` and the JSON (`400`),
/// then fields (`422`).
fn parse_create_order(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(IdempotencyKey, Option<Seen>, CreateOrder), Problem> {
    if !body.is_empty() && !has_json_content_type(headers) {
        return Err(Problem::unsupported_media_type());
    }
    let raw_key = headers.get("idempotency-key").map(HeaderValue::as_bytes);
    let key = IdempotencyKey::parse(raw_key).map_err(|error| {
        let code = match error {
            KeyError::Missing => ErrorCode::MissingIdempotencyKey,
            KeyError::Malformed => ErrorCode::InvalidIdempotencyKey,
        };
        Problem::new(code, error.to_string())
    })?;
    let seen = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| MalformedIfMatch)
                .and_then(Seen::parse)
                .map_err(|error| Problem::new(ErrorCode::InvalidIfMatch, error.to_string()))?,
        ),
    };
    let request = if body.is_empty() {
        CreateOrder::default()
    } else {
        parse_json(body)?
    };
    Ok((key, seen, request))
}

/// Makes an order of this market's cart; the cart is emptied. The same
/// `Idempotency-Key` returns the same order (`200`, `Idempotent-Replayed:
/// true`), even if prices changed since. With `If-Match` (the cart's ETag
/// as the shopper saw it) and/or `expected_total_minor`, a cart or price
/// that moved since is `409 cart_changed` / `409 price_changed` with the
/// fresh cart under `cart`, and nothing is ordered; without either, the
/// cart is ordered as it stands (the less safe path).
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters"),
           ("If-Match" = Option<String>, Header, description = "the cart's ETag as shown, e.g. `\"12\"`")),
    request_body(content = Option<CreateOrder>),
    responses((status = 201, body = OrderView), (status = 200, body = OrderView, description = "a replay"),
              (status = 400, description = "`missing_idempotency_key`, `invalid_idempotency_key`, `invalid_if_match`, `malformed_json`"),
              (status = 409, body = CartConflict, content_type = "application/problem+json",
               description = "`cart_changed` or `price_changed` (with `cart`), `out_of_stock`, `unavailable`, `idempotency_conflict`, `too_many_pending_orders`, `held_units_limit`"),
              (status = 422, description = "`cart_empty` or `validation_failed`")))]
async fn create_order(
    State(state): State<AppState>,
    customer: Customer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (key, seen, request) = parse_create_order(&headers, &body)?;
    let note =
        address::note(request.note).map_err(|message| Problem::invalid_field("note", message))?;
    let address = match request.shipping_address {
        Some(address) => Some(
            serde_json::to_value(address.validated().map_err(Problem::validation)?)
                .map_err(anyhow::Error::from)?,
        ),
        None => None,
    };
    let outcome = checkout(
        &state.db,
        &state.outbox,
        &Checkout {
            user_id: customer.user_id,
            market: &customer.market,
            key: &key,
            note: note.as_deref(),
            shipping_address: address.as_ref(),
            pending_seconds: state.settings.pending_order_ttl.as_secs() as i64,
            max_pending_orders: state.settings.max_pending_orders,
            max_held_units_per_sku: state.settings.max_held_units_per_sku,
            seen: seen.as_ref(),
            expected_total_minor: request.expected_total_minor,
        },
    )
    .await;
    let label = match &outcome {
        Ok(outcome) if outcome.replayed => "replayed",
        Ok(_) => "created",
        Err(ApiError::Http(problem)) => problem.code.as_str(),
        Err(_) => "error",
    };
    metrics::counter!("checkouts_total", "outcome" => label).increment(1);
    let outcome = outcome?;
    if outcome.replayed {
        let mut response = (StatusCode::OK, axum::Json(outcome.order)).into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }
    Ok((StatusCode::CREATED, axum::Json(outcome.order)).into_response())
}

/// The caller's orders of every market, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Paginated<OrderView>)))]
async fn list_orders(
    State(db): State<PgPool>,
    customer: Customer,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Paginated<OrderView>>, ApiError> {
    let page = query.validate()?;
    let (items, total) = orders::page(
        &db,
        Some(customer.user_id),
        None,
        page.per_page,
        page.offset(),
    )
    .await?;
    Ok(axum::Json(Paginated::new(items, page, total)))
}

/// One of the caller's orders; anyone else's is `404`.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = OrderView), (status = 404, description = "`not_found`")))]
async fn get_order(
    State(db): State<PgPool>,
    customer: Customer,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<OrderView>, ApiError> {
    Ok(axum::Json(
        orders::own(&db, customer.user_id, OrderId(id)).await?,
    ))
}

/// Cancels a `pending` or `confirmed` order; its stock comes back.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`")))]
async fn cancel_order(
    State(db): State<PgPool>,
    State(outbox): State<Outbox>,
    customer: Customer,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<OrderView>, ApiError> {
    Ok(axum::Json(
        orders::cancel(&db, &outbox, customer.user_id, OrderId(id)).await?,
    ))
}
