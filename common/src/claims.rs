//! The claims of an access token, as API.md defines them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ids::{SessionId, UserId};

/// Value of the `typ` claim of every access token. Refresh tokens are
/// opaque, but pinning `typ` keeps any other JWT we might sign from ever
/// passing as an access token.
pub const ACCESS_TYP: &str = "access";

/// A user's role, written into the token by auth-service.
// Kept as text in auth-service's users table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "customer" => Some(Role::Customer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The claims of an access token. Every field is required: a token missing
/// one does not deserialize and is refused as `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id, as a decimal string.
    pub sub: String,
    /// The session id.
    pub sid: Uuid,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub typ: String,
    pub market: String,
    pub role: Role,
    /// When the user authenticated (logged in) to start this session, in
    /// seconds since the epoch (RFC 9068, OpenID Connect); kept through
    /// refreshes. What "recently authenticated" is judged by. The one
    /// optional claim: tokens minted before it existed still verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

impl AccessClaims {
    /// The user id, when `sub` is a positive integer in its one canonical
    /// spelling: digits only, no sign, no leading zero (`"+197"` or
    /// `"0197"` is not user 197). Checked on verification.
    pub fn user_id(&self) -> Option<UserId> {
        let canonical = !self.sub.is_empty()
            && !self.sub.starts_with('0')
            && self.sub.bytes().all(|b| b.is_ascii_digit());
        canonical
            .then(|| self.sub.parse::<i64>().ok())
            .flatten()
            .filter(|id| *id > 0)
            .map(UserId)
    }

    /// The session the token belongs to.
    pub fn session_id(&self) -> SessionId {
        SessionId(self.sid)
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_sub(sub: &str) -> AccessClaims {
        AccessClaims {
            iss: "auth-service".into(),
            aud: "shop-api".into(),
            sub: sub.into(),
            sid: Uuid::nil(),
            jti: Uuid::nil(),
            iat: 0,
            exp: 0,
            typ: ACCESS_TYP.into(),
            market: "us".into(),
            role: Role::Customer,
            auth_time: None,
        }
    }

    #[test]
    fn only_the_canonical_spelling_of_a_user_id_is_one() {
        assert_eq!(with_sub("197").user_id(), Some(UserId(197)));
        for odd in [
            "+197",
            "0197",
            "-197",
            " 197",
            "197 ",
            "",
            "0",
            "1e3",
            "99999999999999999999",
        ] {
            assert_eq!(with_sub(odd).user_id(), None, "{odd:?}");
        }
    }
}
