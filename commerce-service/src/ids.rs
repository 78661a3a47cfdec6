//! Ids of commerce's own records, as newtypes, so a SKU id is never passed
//! where a product or an order id belongs (a user's id is `common`'s
//! `UserId`, the one both services read from a token). Rows read them
//! straight from their `bigint` columns; queries bind their inner value.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

record_id!(
    /// A product of the catalog.
    ProductId
);
record_id!(
    /// A SKU: one sellable variant of a product.
    SkuId
);
record_id!(
    /// An order.
    OrderId
);
