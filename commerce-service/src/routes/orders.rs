//! Checkout and the caller's orders.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use common::Problem;
use common::extract::{Id, Path, Query, has_json_content_type, parse_json};
use common::pagination::{PageQuery, Paginated};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Customer;
use crate::checkout::{Checkout, CheckoutOutcome, checkout};
use crate::db::orders;
use crate::domain::order_status::OrderStatus;
use crate::domain::validation::{MAX_NOTE_CHARS, ShippingAddress, idempotency_key};
use crate::error::ApiError;
use crate::fulfilment::{Actor, move_order};
use crate::state::AppState;
use crate::views::{self, OrderView};

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
}

/// The body is optional: none at all, or JSON. Checked in API.md's order:
/// content type (`415`), then the key and the JSON (`400`), then fields (`422`).
fn parse_create_order(headers: &HeaderMap, body: &Bytes) -> Result<(String, CreateOrder), Problem> {
    if !body.is_empty() && !has_json_content_type(headers) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be application/json",
        ));
    }
    let key = idempotency_key(headers.get("idempotency-key"))?;
    let request = if body.is_empty() {
        CreateOrder::default()
    } else {
        parse_json(body)?
    };
    Ok((key, request))
}

/// Makes an order of this market's cart; the cart is emptied. The same
/// `Idempotency-Key` returns the same order (`200`, `Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1 to 255 printable ASCII characters")),
    request_body(content = Option<CreateOrder>),
    responses((status = 201, body = OrderView), (status = 200, body = OrderView, description = "a replay"),
              (status = 409, description = "`out_of_stock`, `unavailable`, `idempotency_conflict`, `too_many_pending_orders`"),
              (status = 422, description = "`cart_empty` or `validation_failed`")))]
async fn create_order(
    State(state): State<AppState>,
    customer: Customer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (key, request) = parse_create_order(&headers, &body)?;
    let note = request
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(Problem::invalid_field("note", "must be at most 1000 characters").into());
    }
    let address = match request.shipping_address {
        Some(address) => Some(
            serde_json::to_value(address.validated().map_err(Problem::validation)?)
                .map_err(anyhow::Error::from)?,
        ),
        None => None,
    };
    let outcome = checkout(
        &state.db,
        &Checkout {
            user_id: customer.user_id,
            market: &customer.market,
            key: &key,
            note: note.as_deref(),
            shipping_address: address.as_ref(),
            pending_seconds: state.settings.pending_order_ttl.as_secs() as i64,
            max_pending_orders: state.settings.max_pending_orders,
        },
    )
    .await;
    let label = match &outcome {
        Ok(CheckoutOutcome::Created(_)) => "created",
        Ok(CheckoutOutcome::Replayed(_)) => "replayed",
        Err(ApiError::Http(problem)) => problem.code,
        Err(_) => "error",
    };
    metrics::counter!("checkouts_total", "outcome" => label).increment(1);
    let (order, status, replayed) = match outcome? {
        CheckoutOutcome::Created(order) => (*order, StatusCode::CREATED, false),
        CheckoutOutcome::Replayed(id) => (
            views::order(&state.db, id)
                .await?
                .ok_or_else(Problem::not_found)?,
            StatusCode::OK,
            true,
        ),
    };
    let mut response = (status, axum::Json(order)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The caller's orders of every market, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Paginated<OrderView>)))]
async fn list_orders(
    State(state): State<AppState>,
    customer: Customer,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<Paginated<OrderView>>, ApiError> {
    let page = query.validate()?;
    let (rows, total) = orders::page(
        &state.db,
        Some(customer.user_id),
        None,
        page.per_page,
        page.offset(),
    )
    .await?;
    Ok(axum::Json(Paginated::new(
        views::orders(&state.db, rows).await?,
        page,
        total,
    )))
}

/// One of the caller's orders; anyone else's is `404`.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = OrderView), (status = 404, description = "`not_found`")))]
async fn get_order(
    State(state): State<AppState>,
    customer: Customer,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<OrderView>, ApiError> {
    own_order(&state, customer.user_id, id)
        .await
        .map(axum::Json)
}

async fn own_order(state: &AppState, user_id: i64, id: i64) -> Result<OrderView, ApiError> {
    let owner = orders::find(&state.db, id).await?.map(|o| o.user_id);
    if owner != Some(user_id) {
        return Err(Problem::not_found().into());
    }
    views::order(&state.db, id)
        .await?
        .ok_or_else(|| Problem::not_found().into())
}

/// Cancels a `pending` or `confirmed` order; its stock comes back.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = OrderView), (status = 409, description = "`invalid_transition`")))]
async fn cancel_order(
    State(state): State<AppState>,
    customer: Customer,
    Path(Id(id)): Path<Id>,
) -> Result<axum::Json<OrderView>, ApiError> {
    move_order(
        &state.db,
        id,
        OrderStatus::Cancelled,
        Actor::Customer(customer.user_id),
    )
    .await?;
    own_order(&state, customer.user_id, id)
        .await
        .map(axum::Json)
}
