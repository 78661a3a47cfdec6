//! The events themselves, version 1. A field may be added in a later
//! version; none is removed or changes meaning without a new `v`.

use serde::{Deserialize, Serialize};

use super::Subject;
use crate::ids::{SessionId, UserId};

/// What auth-service announces: every change that ends tokens, and
/// account deletion (which commerce acts on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AuthEvent {
    /// Sessions ended: logout, a session deleted, refresh-token reuse, the
    /// other sessions of a password change.
    #[serde(rename = "auth.session.ended")]
    SessionEnded(SessionsEnded),
    /// Every token of the user issued before `not_before` is refused, and
    /// every session ended (logout-all).
    #[serde(rename = "auth.user.revoked")]
    UserRevoked(UserRevoked),
    #[serde(rename = "auth.user.deactivated")]
    UserDeactivated(UserRef),
    /// The user may log in again; tokens revoked before stay revoked.
    #[serde(rename = "auth.user.activated")]
    UserActivated(UserRef),
    /// The account is gone; commerce cancels its pending orders and empties
    /// its cart and wishlist.
    #[serde(rename = "auth.user.deleted")]
    UserDeleted(UserRef),
}

impl Subject for AuthEvent {
    fn subject(&self) -> &'static str {
        match self {
            Self::SessionEnded(_) => "auth.session.ended",
            Self::UserRevoked(_) => "auth.user.revoked",
            Self::UserDeactivated(_) => "auth.user.deactivated",
            Self::UserActivated(_) => "auth.user.activated",
            Self::UserDeleted(_) => "auth.user.deleted",
        }
    }
}

impl AuthEvent {
    /// The user the event is about.
    pub fn user_id(&self) -> UserId {
        match self {
            Self::SessionEnded(ended) => ended.user_id,
            Self::UserRevoked(revoked) => revoked.user_id,
            Self::UserDeactivated(user) | Self::UserActivated(user) | Self::UserDeleted(user) => {
                user.user_id
            }
        }
    }
}

/// Why sessions ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndReason {
    Logout,
    SessionDeleted,
    RefreshReuse,
    PasswordChanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsEnded {
    pub user_id: UserId,
    pub session_ids: Vec<SessionId>,
    pub reason: SessionEndReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRevoked {
    pub user_id: UserId,
    /// Unix seconds: tokens issued before are refused.
    pub not_before: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub user_id: UserId,
}

/// What commerce-service announces about orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CommerceEvent {
    #[serde(rename = "commerce.order.created")]
    OrderCreated(OrderCreated),
    #[serde(rename = "commerce.order.status_changed")]
    OrderStatusChanged(OrderStatusChanged),
    #[serde(rename = "commerce.order.cancelled")]
    OrderCancelled(OrderCancelled),
}

impl Subject for CommerceEvent {
    fn subject(&self) -> &'static str {
        match self {
            Self::OrderCreated(_) => "commerce.order.created",
            Self::OrderStatusChanged(_) => "commerce.order.status_changed",
            Self::OrderCancelled(_) => "commerce.order.cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub order_id: i64,
    /// As the customer sees it (API.md's `order_number`).
    pub order_number: String,
    pub user_id: UserId,
    pub market: String,
    pub currency: String,
    /// Minor units, as API.md's prices.
    pub total_minor: i64,
    pub items: Vec<OrderedItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderedItem {
    pub sku_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

/// An order moved along its state machine (not to `cancelled`: that is
/// `commerce.order.cancelled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusChanged {
    pub order_id: i64,
    pub user_id: UserId,
    pub from: String,
    pub to: String,
}

/// Who cancelled an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    Customer,
    Admin,
    /// Not confirmed before its deadline.
    Expiry,
    /// The account was deleted.
    AccountDeleted,
}

/// An order was cancelled and its stock returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order_id: i64,
    pub user_id: UserId,
    pub from: String,
    pub by: CancelledBy,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Envelope;

    #[test]
    fn an_event_reads_as_the_readme_shows_it() {
        let event = Envelope::new(AuthEvent::UserRevoked(UserRevoked {
            user_id: UserId(7),
            not_before: 1_700_000_000,
        }));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["type"], "auth.user.revoked");
        assert_eq!(
            json["data"],
            serde_json::json!({"user_id": 7, "not_before": 1_700_000_000})
        );
        assert!(json["occurred_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(event.subject(), "auth.user.revoked");
        let back: Envelope<AuthEvent> = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn each_subject_is_the_events_type() {
        let ended = AuthEvent::SessionEnded(SessionsEnded {
            user_id: UserId(1),
            session_ids: vec![SessionId::new()],
            reason: SessionEndReason::Logout,
        });
        let json = serde_json::to_value(&ended).unwrap();
        assert_eq!(json["type"], ended.subject());
        assert_eq!(json["data"]["reason"], "logout");
    }
}
