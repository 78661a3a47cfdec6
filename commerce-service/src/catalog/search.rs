//! The storefront's product search text.

pub const MAX_SEARCH_CHARS: usize = 100;

/// A search text: trimmed, at most 100 characters, `LIKE` wildcards escaped.
pub fn search_pattern(q: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(text) = q.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err("must be at most 100 characters");
    }
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    Ok(Some(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_escaped_and_bounded() {
        assert_eq!(search_pattern(Some("  ")).unwrap(), None);
        assert_eq!(
            search_pattern(Some("50%_off\\")).unwrap().unwrap(),
            "%50\\%\\_off\\\\%"
        );
        assert!(search_pattern(Some(&"x".repeat(101))).is_err());
    }
}
