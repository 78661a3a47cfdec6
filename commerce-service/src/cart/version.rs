//! Cart versions: the integer every cart answer carries (and its `ETag`),
//! which moves whenever what the cart shows moves: its lines and quantities,
//! and any price, name or availability of them, whoever changed it.
//!
//! A price change in the catalog writes nothing to the carts holding the
//! SKU, so the version cannot be a counter bumped by writers. Instead every
//! answer computes two digests of what it shows (the money: unit prices;
//! and the rest: lines, names, availability, update time) and compares them
//! with the digests stored with the cart's version. Equal: the stored
//! version names this content. Different: the version moves on by one
//! (a compare-and-set on the version, `queries::advance_version`), and the
//! new number names this content. So a version number only ever names one
//! content, which is what lets checkout trust `If-Match`: the order is
//! priced from the very rows whose digests matched the version the shopper
//! saw. `lines_version` (the version at which the non-money part last
//! changed) tells a checkout whether only money moved since then.

use common::etag::{EntityTag, entity_tags};
use sha2::{Digest as _, Sha256};
use sqlx::PgExecutor;
use time::OffsetDateTime;

use super::queries::{self, CartLineRow};

/// The version columns of a cart row, as read with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub version: i64,
    pub lines_version: i64,
    pub lines_digest: Option<Vec<u8>>,
    pub money_digest: Option<Vec<u8>>,
}

/// A cart's version, and the version at which its non-money part last
/// changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub version: i64,
    pub lines_version: i64,
}

impl Version {
    /// A cart that does not exist yet.
    pub const NONE: Self = Self {
        version: 0,
        lines_version: 0,
    };
}

/// SHA-256 digests of what a cart answer shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub lines: [u8; 32],
    pub money: [u8; 32],
}

impl Digests {
    /// Of a cart updated at `updated_at` holding `lines` (in any order).
    pub fn of(updated_at: OffsetDateTime, lines: &[CartLineRow]) -> Self {
        let mut sorted: Vec<&CartLineRow> = lines.iter().collect();
        sorted.sort_unstable_by_key(|line| line.sku_id);
        let mut shape = Sha256::new();
        let mut money = Sha256::new();
        shape.update(updated_at.unix_timestamp_nanos().to_be_bytes());
        for line in sorted {
            shape.update(line.sku_id.0.to_be_bytes());
            shape.update(line.product_id.0.to_be_bytes());
            shape.update(line.quantity.to_be_bytes());
            shape.update([u8::from(line.available())]);
            // Length-prefixed, so that no two lists of names hash alike.
            shape.update((line.name.len() as u64).to_be_bytes());
            shape.update(line.name.as_bytes());
            money.update(line.sku_id.0.to_be_bytes());
            match line.unit_price_minor {
                Some(price) => {
                    money.update([1]);
                    money.update(price.to_be_bytes());
                }
                None => money.update([0]),
            }
        }
        Self {
            lines: shape.finalize().into(),
            money: money.finalize().into(),
        }
    }
}

impl StoredVersion {
    /// Whether the stored version names content with these digests.
    pub fn names(&self, digests: &Digests) -> bool {
        self.lines_digest.as_deref() == Some(&digests.lines[..])
            && self.money_digest.as_deref() == Some(&digests.money[..])
    }

    pub fn version(&self) -> Version {
        Version {
            version: self.version,
            lines_version: self.lines_version,
        }
    }
}

/// The version naming `digests` for the cart `cart_id` whose row said
/// `stored`: the stored one if it names them, else the next one. `None`
/// when another answer moved the version meanwhile (read again).
pub async fn settle(
    db: impl PgExecutor<'_>,
    cart_id: i64,
    stored: &StoredVersion,
    digests: &Digests,
) -> sqlx::Result<Option<Version>> {
    if stored.names(digests) {
        return Ok(Some(stored.version()));
    }
    queries::advance_version(db, cart_id, stored.version, digests).await
}

/// What the shopper saw, from `If-Match`: any version (`*`), or a list of
/// entity tags of which only the strong ones can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Any,
    Versions(Vec<i64>),
}

/// `If-Match` is not `*` nor a list of entity tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("If-Match must be \"*\" or entity tags such as \"12\", the cart's ETag")]
pub struct MalformedIfMatch;

/// How a cart moved since the version a shopper saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// It is the version they saw.
    None,
    /// Only money (unit prices, hence totals) moved.
    Price,
    /// Lines, quantities, names or availability moved (or the version is
    /// not one this cart had).
    Cart,
}

impl Seen {
    /// Parses an `If-Match` value (RFC 9110 §13.1.1). Weak tags parse but
    /// never match (If-Match compares strongly); a strong tag that is not
    /// a version is a version this cart never had.
    pub fn parse(header: &str) -> Result<Self, MalformedIfMatch> {
        let header = header.trim();
        if header == "*" {
            return Ok(Self::Any);
        }
        let mut versions = Vec::new();
        for tag in entity_tags(header).ok_or(MalformedIfMatch)? {
            if let EntityTag::Strong(opaque) = tag {
                versions.push(version_of(opaque).unwrap_or(-1));
            }
        }
        Ok(Self::Versions(versions))
    }

    /// How the cart at `now` moved since what was seen.
    pub fn drift(&self, now: Version) -> Drift {
        let versions = match self {
            Self::Any => return Drift::None,
            Self::Versions(versions) => versions,
        };
        if versions.contains(&now.version) {
            return Drift::None;
        }
        match versions.iter().copied().filter(|v| *v >= 0).max() {
            Some(seen) if seen < now.version && seen >= now.lines_version => Drift::Price,
            _ => Drift::Cart,
        }
    }
}

/// The version an opaque tag spells as [`etag`] writes it: decimal digits
/// without sign or leading zero (strong comparison is of the exact text,
/// so `"05"` or `"+5"` are not version 5).
fn version_of(opaque: &str) -> Option<i64> {
    let canonical = !opaque.is_empty()
        && opaque.bytes().all(|b| b.is_ascii_digit())
        && (opaque == "0" || !opaque.starts_with('0'));
    canonical.then(|| opaque.parse().ok()).flatten()
}

/// The strong `ETag` of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Whether `If-None-Match` names this version: then a read answers `304`.
pub fn not_modified(if_none_match: &str, version: i64) -> bool {
    common::etag::none_match(if_none_match, &version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ProductId, SkuId};

    fn line(sku: i64, quantity: i32, price: Option<i64>, stock: i32) -> CartLineRow {
        CartLineRow {
            sku_id: SkuId(sku),
            product_id: ProductId(sku * 10),
            name: format!("item {sku}"),
            quantity,
            unit_price_minor: price,
            stock,
            sku_active: true,
            product_active: true,
        }
    }

    #[test]
    fn digests_split_money_from_the_rest() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let base = Digests::of(at, &[line(1, 2, Some(500), 9), line(2, 1, Some(80), 9)]);
        let reordered = Digests::of(at, &[line(2, 1, Some(80), 9), line(1, 2, Some(500), 9)]);
        assert_eq!(base, reordered, "the order of the lines is not content");

        let repriced = Digests::of(at, &[line(1, 2, Some(450), 9), line(2, 1, Some(80), 9)]);
        assert_eq!(repriced.lines, base.lines);
        assert_ne!(repriced.money, base.money);

        let more = Digests::of(at, &[line(1, 3, Some(500), 9), line(2, 1, Some(80), 9)]);
        assert_ne!(more.lines, base.lines);

        let sold_out = Digests::of(at, &[line(1, 2, Some(500), 1), line(2, 1, Some(80), 9)]);
        assert_ne!(sold_out.lines, base.lines, "availability is content");
        let still_enough = Digests::of(at, &[line(1, 2, Some(500), 5), line(2, 1, Some(80), 9)]);
        assert_eq!(still_enough, base, "stock itself is not shown");

        let unpriced = Digests::of(at, &[line(1, 2, None, 9), line(2, 1, Some(80), 9)]);
        assert_ne!(
            unpriced.lines, base.lines,
            "an unpriced line is unavailable"
        );
        assert_ne!(unpriced.money, base.money);
    }

    #[test]
    fn if_match_parses_entity_tag_lists() {
        assert_eq!(Seen::parse("*"), Ok(Seen::Any));
        assert_eq!(Seen::parse("\"12\""), Ok(Seen::Versions(vec![12])));
        assert_eq!(
            Seen::parse(" \"3\", W/\"4\" ,\"x\""),
            Ok(Seen::Versions(vec![3, -1]))
        );
        assert_eq!(
            Seen::parse("\"-010\", \"05\", \"+5\", \"0\", \"99999999999999999999\""),
            Ok(Seen::Versions(vec![-1, -1, -1, 0, -1])),
            "only the canonical spelling names a version"
        );
        for bad in [
            "",
            "12",
            "\"12",
            "\"1\" \"2\"",
            "\"1\",",
            "W/12",
            "\"a\"b\"",
        ] {
            assert_eq!(Seen::parse(bad), Err(MalformedIfMatch), "{bad:?}");
        }
    }

    #[test]
    fn drift_tells_money_from_the_rest() {
        let now = Version {
            version: 7,
            lines_version: 5,
        };
        let seen = |v: i64| Seen::Versions(vec![v]);
        assert_eq!(seen(7).drift(now), Drift::None);
        assert_eq!(Seen::Any.drift(now), Drift::None);
        assert_eq!(seen(6).drift(now), Drift::Price);
        assert_eq!(seen(5).drift(now), Drift::Price);
        assert_eq!(seen(4).drift(now), Drift::Cart);
        assert_eq!(seen(8).drift(now), Drift::Cart, "never this cart's");
        assert_eq!(Seen::Versions(vec![-1]).drift(now), Drift::Cart);
        assert_eq!(Seen::parse("W/\"7\"").unwrap().drift(now), Drift::Cart);
    }

    #[test]
    fn if_none_match_compares_weakly_and_ignores_garbage() {
        assert!(not_modified("\"4\"", 4));
        assert!(not_modified("W/\"4\"", 4));
        assert!(not_modified("\"1\", \"4\"", 4));
        assert!(not_modified("*", 4));
        assert!(!not_modified("\"5\"", 4));
        assert!(!not_modified("4", 4));
    }
}
