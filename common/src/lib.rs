//! What both services must agree on, and nothing more: the access-token
//! claims and their verification, the problem+json error body, request ids,
//! telemetry, health and metrics routes, and configuration helpers.

pub mod claims;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod error_code;
pub mod etag;
pub mod events;
pub mod extract;
pub mod http;
pub mod ids;
pub mod keys;
pub mod market;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod request_id;
pub mod serve;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token_status;
pub mod verifier;

pub use error_code::ErrorCode;
pub use problem::Problem;
