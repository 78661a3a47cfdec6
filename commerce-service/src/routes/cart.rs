//! The cart: the caller's in the request's market, a guest's before login
//! (`X-Cart-Token`), and the merge of one into the other. Every answer
//! carries the cart's version as its `ETag`; reads honour `If-None-Match`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::Problem;
use common::extract::{Id, Json, Path};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::caller::{ClientAddress, Customer, Storefront};
use crate::cart::guest::{self, GuestCart, GuestRules};
use crate::cart::{self, CartAnswer, CartView, version};
use crate::error::ApiError;
use crate::ids::SkuId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(add_cart_item))
        .routes(routes!(set_cart_item, remove_cart_item))
        .routes(routes!(merge_guest_cart))
        .routes(routes!(create_guest_cart, get_guest_cart))
        .routes(routes!(add_guest_cart_item))
        .routes(routes!(set_guest_cart_item, remove_guest_cart_item))
}

/// The header a guest cart's token travels in.
const CART_TOKEN: &str = "x-cart-token";

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddCartItem {
    /// A positive integer (validation comes before existence: `0` is
    /// `422`, an unknown id `404`).
    #[schema(value_type = i64, minimum = 1)]
    pub sku_id: Id,
    /// 1 to 99; added to the line's quantity.
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetCartItem {
    /// 0 to 99; 0 removes the line.
    #[schema(minimum = 0, maximum = 99)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeGuestCart {
    /// The guest cart's token, as `POST /api/v1/guest-cart` gave it.
    pub cart_token: String,
}

/// A new guest cart: its token (shown this once; send it as
/// `X-Cart-Token`) and the cart.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuestCartCreated {
    pub cart_token: String,
    pub cart: CartView,
}

fn quantity_field(value: i64, allow_zero: bool) -> Result<i32, Problem> {
    cart::quantity(value, allow_zero)
        .map_err(|message| Problem::invalid_field("quantity", &message))
}

/// A cart answer: the cart, its version as a strong `ETag`, and caches
/// told to ask again each time (`no-cache`: revalidate with the `ETag`).
fn cart_response(status: StatusCode, version: i64, body: impl Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    set_cart_headers(response.headers_mut(), version);
    response
}

fn set_cart_headers(headers: &mut HeaderMap, version: i64) {
    if let Ok(etag) = HeaderValue::from_str(&version::etag(version)) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
}

fn reply(answer: CartAnswer) -> Response {
    cart_response(StatusCode::OK, answer.version.version, answer.view)
}

/// A read: `304` without a body when `If-None-Match` names this version.
fn read_reply(request: &HeaderMap, answer: CartAnswer) -> Response {
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| version::not_modified(value, answer.version.version));
    if unchanged {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_cart_headers(response.headers_mut(), answer.version.version);
        return response;
    }
    reply(answer)
}

fn guest_rules(state: &AppState) -> GuestRules {
    GuestRules {
        ttl: state.settings.guest_cart_ttl,
        per_client_hour: state.settings.guest_carts_per_ip_hour,
    }
}

/// The guest cart of the request's `X-Cart-Token` (`404` if none is live).
async fn guest_cart_of(state: &AppState, headers: &HeaderMap) -> Result<GuestCart, ApiError> {
    let token = headers
        .get(CART_TOKEN)
        .and_then(|value| value.to_str().ok());
    guest::resolve(&state.db, &state.markets, &guest_rules(state), token).await
}

/// The caller's cart in this market (empty if none yet).
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart", security(("bearer" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "an ETag of this cart: `304` if it is still the version")),
    responses((status = 200, body = CartView, headers(("ETag" = String, description = "the cart's version, quoted"))),
              (status = 304, description = "the cart is still the version named in `If-None-Match`"),
              (status = 401, description = "not signed in")))]
async fn get_cart(
    State(db): State<PgPool>,
    customer: Customer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let answer = cart::current(&db, customer.user_id, &customer.market).await?;
    Ok(read_reply(&headers, answer))
}

/// Adds a SKU; adding one already there adds to its quantity.
#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart", security(("bearer" = [])),
    request_body = AddCartItem, responses((status = 200, body = CartView), (status = 404, description = "`not_found`: no such SKU, or not sold")))]
async fn add_cart_item(
    State(db): State<PgPool>,
    customer: Customer,
    Json(body): Json<AddCartItem>,
) -> Result<Response, ApiError> {
    let quantity = quantity_field(body.quantity, false)?;
    let answer = cart::add(
        &db,
        customer.user_id,
        &customer.market,
        SkuId(body.sku_id.0),
        quantity,
    )
    .await?;
    Ok(reply(answer))
}

/// Sets a line's quantity (adds the SKU if missing; 0 removes it).
#[utoipa::path(put, path = "/api/v1/cart/items/{sku_id}", tag = "cart", security(("bearer" = [])),
    params(("sku_id" = i64, Path)), request_body = SetCartItem, responses((status = 200, body = CartView)))]
async fn set_cart_item(
    State(db): State<PgPool>,
    customer: Customer,
    Path(Id(sku_id)): Path<Id>,
    Json(body): Json<SetCartItem>,
) -> Result<Response, ApiError> {
    let quantity = quantity_field(body.quantity, true)?;
    let answer = cart::set(
        &db,
        customer.user_id,
        &customer.market,
        SkuId(sku_id),
        quantity,
    )
    .await?;
    Ok(reply(answer))
}

/// Removes a line.
#[utoipa::path(delete, path = "/api/v1/cart/items/{sku_id}", tag = "cart", security(("bearer" = [])),
    params(("sku_id" = i64, Path)), responses((status = 200, body = CartView)))]
async fn remove_cart_item(
    State(db): State<PgPool>,
    customer: Customer,
    Path(Id(sku_id)): Path<Id>,
) -> Result<Response, ApiError> {
    let answer = cart::remove(&db, customer.user_id, &customer.market, SkuId(sku_id)).await?;
    Ok(reply(answer))
}

/// Moves a guest cart's lines into the caller's cart of its market (the
/// session's): quantities add up, at most 99 a line; lines no longer sold
/// come along as `available: false`; the guest cart is consumed. Merging a
/// consumed token again changes nothing and answers the current cart.
#[utoipa::path(post, path = "/api/v1/cart/merge", tag = "cart", security(("bearer" = [])),
    request_body = MergeGuestCart,
    responses((status = 200, body = CartView, description = "the caller's cart after the merge"),
              (status = 403, description = "`market_mismatch`: the guest cart is of another market than the session"),
              (status = 404, description = "`not_found`: no live guest cart has this token")))]
async fn merge_guest_cart(
    State(db): State<PgPool>,
    customer: Customer,
    Json(body): Json<MergeGuestCart>,
) -> Result<Response, ApiError> {
    let answer = guest::merge(&db, customer.user_id, &customer.market, &body.cart_token).await?;
    Ok(reply(answer))
}

/// Creates a guest cart in the request's market (`X-Market`, or the
/// default), for shopping before login. Limited per client address.
#[utoipa::path(post, path = "/api/v1/guest-cart", tag = "guest cart",
    params(("X-Market" = Option<String>, Header, description = "the market; the default if absent")),
    responses((status = 201, body = GuestCartCreated, headers(("ETag" = String, description = "the cart's version, quoted"))),
              (status = 400, description = "`unknown_market`"),
              (status = 429, description = "`rate_limited`: this address made its hourly share of guest carts")))]
async fn create_guest_cart(
    State(state): State<AppState>,
    Storefront(market): Storefront,
    ClientAddress(client): ClientAddress,
) -> Result<Response, ApiError> {
    let (token, answer) = guest::create(
        &state.db,
        &guest_rules(&state),
        &client.to_string(),
        &market,
    )
    .await?;
    let body = GuestCartCreated {
        cart_token: token.as_str().to_owned(),
        cart: answer.view,
    };
    Ok(cart_response(
        StatusCode::CREATED,
        answer.version.version,
        body,
    ))
}

/// The guest cart of `X-Cart-Token`.
#[utoipa::path(get, path = "/api/v1/guest-cart", tag = "guest cart",
    params(("X-Cart-Token" = String, Header, description = "the guest cart's token"),
           ("If-None-Match" = Option<String>, Header, description = "an ETag of this cart: `304` if it is still the version")),
    responses((status = 200, body = CartView, headers(("ETag" = String, description = "the cart's version, quoted"))),
              (status = 304, description = "the cart is still the version named in `If-None-Match`"),
              (status = 404, description = "`not_found`: the token is missing, unknown, expired or merged")))]
async fn get_guest_cart(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cart = guest_cart_of(&state, &headers).await?;
    let answer = guest::current(&state.db, &cart).await?;
    Ok(read_reply(&headers, answer))
}

/// Adds a SKU to the guest cart, as `POST /api/v1/cart/items` does.
#[utoipa::path(post, path = "/api/v1/guest-cart/items", tag = "guest cart",
    params(("X-Cart-Token" = String, Header, description = "the guest cart's token")),
    request_body = AddCartItem,
    responses((status = 200, body = CartView), (status = 404, description = "`not_found`: no live guest cart, or no such SKU")))]
async fn add_guest_cart_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<AddCartItem>,
) -> Result<Response, ApiError> {
    let quantity = quantity_field(body.quantity, false)?;
    let cart = guest_cart_of(&state, &headers).await?;
    let answer = guest::add(&state.db, &cart, SkuId(body.sku_id.0), quantity).await?;
    Ok(reply(answer))
}

/// Sets a guest cart line's quantity, as `PUT /api/v1/cart/items/{sku_id}` does.
#[utoipa::path(put, path = "/api/v1/guest-cart/items/{sku_id}", tag = "guest cart",
    params(("sku_id" = i64, Path), ("X-Cart-Token" = String, Header, description = "the guest cart's token")),
    request_body = SetCartItem,
    responses((status = 200, body = CartView), (status = 404, description = "`not_found`: no live guest cart, or no such SKU")))]
async fn set_guest_cart_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(sku_id)): Path<Id>,
    Json(body): Json<SetCartItem>,
) -> Result<Response, ApiError> {
    let quantity = quantity_field(body.quantity, true)?;
    let cart = guest_cart_of(&state, &headers).await?;
    let answer = guest::set(&state.db, &cart, SkuId(sku_id), quantity).await?;
    Ok(reply(answer))
}

/// Removes a guest cart line.
#[utoipa::path(delete, path = "/api/v1/guest-cart/items/{sku_id}", tag = "guest cart",
    params(("sku_id" = i64, Path), ("X-Cart-Token" = String, Header, description = "the guest cart's token")),
    responses((status = 200, body = CartView), (status = 404, description = "`not_found`: no live guest cart")))]
async fn remove_guest_cart_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(Id(sku_id)): Path<Id>,
) -> Result<Response, ApiError> {
    let cart = guest_cart_of(&state, &headers).await?;
    let answer = guest::remove(&state.db, &cart, SkuId(sku_id)).await?;
    Ok(reply(answer))
}
