//! Entity tags (RFC 9110 §8.8.3) and `If-None-Match`: what a cacheable
//! answer is named by, and whether a client already holds it.

use sha2::{Digest as _, Sha256};

#[derive(Debug, PartialEq, Eq)]
pub enum EntityTag<'a> {
    Strong(&'a str),
    Weak(&'a str),
}

/// `1#entity-tag`: comma-separated `"opaque"` or `W/"opaque"`.
pub fn entity_tags(header: &str) -> Option<Vec<EntityTag<'_>>> {
    let mut tags = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let (weak, quoted) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let inner = quoted.strip_prefix('"')?;
        let end = inner.find('"')?;
        let opaque = &inner[..end];
        // etagc: visible characters but the double quote.
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
        {
            return None;
        }
        tags.push(if weak {
            EntityTag::Weak(opaque)
        } else {
            EntityTag::Strong(opaque)
        });
        rest = inner[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
            if rest.is_empty() {
                return None;
            }
        } else if !rest.is_empty() {
            return None;
        }
    }
    if tags.is_empty() {
        return None;
    }
    Some(tags)
}

/// Whether `If-None-Match` names the answer whose tag is `opaque` (weak
/// comparison, as RFC 9110 §13.1.2 asks): then a read answers `304`. A
/// malformed header is ignored (the full answer is always safe).
pub fn none_match(if_none_match: &str, opaque: &str) -> bool {
    let header = if_none_match.trim();
    if header == "*" {
        return true;
    }
    entity_tags(header).is_some_and(|tags| {
        tags.iter().any(|tag| match tag {
            EntityTag::Strong(tag) | EntityTag::Weak(tag) => *tag == opaque,
        })
    })
}

/// A strong tag for a body: its SHA-256, 128 bits in hex, quoted. Equal
/// bodies get equal tags on every replica, so a tag from one replica is
/// good on another.
pub fn of_body(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_ignores_garbage() {
        let tag = of_body(b"{}");
        let opaque = tag.trim_matches('"');
        assert_eq!(opaque.len(), 32);
        assert!(none_match(&tag, opaque));
        assert!(none_match(&format!("W/{tag}"), opaque));
        assert!(none_match(&format!("\"x\", {tag}"), opaque));
        assert!(none_match("*", opaque));
        assert!(!none_match("\"x\"", opaque));
        assert!(!none_match(opaque, opaque), "unquoted is malformed");
        assert_ne!(of_body(b"{}"), of_body(b"[]"));
    }
}
