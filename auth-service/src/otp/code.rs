//! One-time codes: six digits from a CSPRNG.

use rand::RngExt as _;

/// A fresh 6-digit code, uniformly drawn from the thread's CSPRNG.
pub fn generate_code() -> String {
    let value: u32 = rand::rng().random_range(0..1_000_000);
    format!("{value:06}")
}

/// Whether `text` has the shape of a code (the check before any lookup).
pub fn is_code_shaped(text: &str) -> bool {
    text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..50).map(|_| generate_code()).collect();
        assert!(codes.iter().all(|code| is_code_shaped(code)));
        assert!(codes.len() > 40);
        assert!(!is_code_shaped("12345"));
        assert!(!is_code_shaped("12345a"));
    }
}
