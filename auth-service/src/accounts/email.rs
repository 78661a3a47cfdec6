//! Email addresses and passwords as the admin API and login accept them.

/// Passwords longer than this are refused before hashing (SECURITY.md).
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// An email address, trimmed and lower-cased. The check is deliberately
/// loose (one `@`, a dot in the domain, no spaces): deliverability is the
/// admin's business, uniqueness is ours.
pub fn normalize_email(input: &str) -> Option<String> {
    let email = input.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let well_formed = !local.is_empty()
        && email.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    well_formed.then_some(email)
}

/// Why a new password was refused.
pub fn password_problem(password: &str) -> Option<&'static str> {
    if password.len() > MAX_PASSWORD_BYTES {
        Some("must be at most 1024 bytes")
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Some("must be at least 8 characters")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_email(" Admin@Example.COM ").as_deref(),
            Some("admin@example.com")
        );
        for bad in ["", "a", "a@b", "@b.c", "a b@c.d", "a@b.c@d", "a@.c", "a@c."] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(password_problem("short").is_some());
        assert!(password_problem(&"x".repeat(1025)).is_some());
        assert!(password_problem("long-enough").is_none());
    }
}
