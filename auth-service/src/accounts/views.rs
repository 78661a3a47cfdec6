//! The JSON shape of a user.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use common::claims::Role;
use common::ids::UserId;

use super::users::UserRow;

/// A user as API.md shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub role: Role,
    pub market: String,
    pub is_active: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            phone: row.phone,
            email: row.email,
            role: row.role,
            market: row.market,
            is_active: row.is_active,
            created_at: row.created_at,
        }
    }
}
