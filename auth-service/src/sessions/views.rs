//! The JSON shapes of sessions: the token pair and the session list.

use common::ids::SessionId;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::store::Session;
use crate::accounts::views::UserView;

/// A token pair response.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    #[schema(value_type = uuid::Uuid)]
    pub session_id: SessionId,
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    #[schema(value_type = uuid::Uuid)]
    pub id: SessionId,
    pub device_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: OffsetDateTime,
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

impl SessionView {
    pub fn new(session: Session, current: SessionId) -> Self {
        Self {
            current: session.id == current,
            id: session.id,
            device_name: session.device_name,
            created_at: timestamp(session.created_at),
            last_used_at: timestamp(session.last_used_at),
        }
    }
}

fn timestamp(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
