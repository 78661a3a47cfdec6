//! `Idempotency-Key`: what makes a retried checkout return the order it
//! already made instead of a second one.

/// A key as the client sent it: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("checkout needs an Idempotency-Key header")]
    Missing,
    #[error("Idempotency-Key must be 1 to 255 printable ASCII characters")]
    Malformed,
}

impl IdempotencyKey {
    pub const MAX_BYTES: usize = 255;

    /// Parses the raw header bytes, if the header was sent at all.
    pub fn parse(raw: Option<&[u8]>) -> Result<Self, KeyError> {
        let bytes = raw.ok_or(KeyError::Missing)?;
        if bytes.is_empty()
            || bytes.len() > Self::MAX_BYTES
            || !bytes.iter().all(|b| (0x20..=0x7e).contains(b))
        {
            return Err(KeyError::Malformed);
        }
        Ok(Self(String::from_utf8_lossy(bytes).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_printable_ascii_up_to_255() {
        assert_eq!(IdempotencyKey::parse(None).unwrap_err(), KeyError::Missing);
        assert_eq!(
            IdempotencyKey::parse(Some(b"order-1")).unwrap().as_str(),
            "order-1"
        );
        let long = "k".repeat(256);
        assert_eq!(
            IdempotencyKey::parse(Some(long.as_bytes())).unwrap_err(),
            KeyError::Malformed
        );
        assert_eq!(
            IdempotencyKey::parse(Some(b"a\tb")).unwrap_err(),
            KeyError::Malformed
        );
        assert_eq!(
            IdempotencyKey::parse(Some(b"")).unwrap_err(),
            KeyError::Malformed
        );
    }
}
