//! Phone numbers: international input normalised to E.164 with the
//! `phonenumber` crate (libphonenumber's metadata), and masked for logs.

use std::fmt;

use phonenumber::Mode;

/// Why a number was refused; every case is `422 validation_failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("write the number in international form, starting with + or 00 and the country code")]
    NotInternational,
    #[error("this is not a valid phone number")]
    Invalid,
    #[error("phone numbers of this country are not accepted")]
    CountryNotAllowed,
}

/// The longest input looked at; longer is `Invalid` outright.
pub const MAX_INPUT_BYTES: usize = 64;

/// A valid number in E.164 form (`+13128059851`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone {
    e164: String,
    country: String,
}

impl Phone {
    /// Parses international input: `+` or `00` then the country code; spaces,
    /// dashes, dots and parentheses allowed; full-width digits accepted.
    /// `allowed` lists ISO country codes; empty allows every country.
    pub fn parse(input: &str, allowed: &[String]) -> Result<Self, PhoneError> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(PhoneError::Invalid);
        }
        let mut digits = String::with_capacity(input.len());
        let mut plus = false;
        for (index, ch) in input.trim().chars().enumerate() {
            match fold_width(ch) {
                '+' if index == 0 => plus = true,
                d @ '0'..='9' => digits.push(d),
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(PhoneError::NotInternational),
            }
        }
        if !plus {
            digits = digits
                .strip_prefix("00")
                .ok_or(PhoneError::NotInternational)?
                .to_owned();
        }
        if digits.is_empty() || digits.len() > 15 {
            return Err(PhoneError::Invalid);
        }
        let number =
            phonenumber::parse(None, format!("+{digits}")).map_err(|_| PhoneError::Invalid)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        let country = number
            .country()
            .id()
            .map(|id| id.as_ref().to_owned())
            .ok_or(PhoneError::Invalid)?;
        if !allowed.is_empty() && !allowed.contains(&country) {
            return Err(PhoneError::CountryNotAllowed);
        }
        Ok(Self {
            e164: number.format().mode(Mode::E164).to_string(),
            country,
        })
    }

    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// ISO 3166 alpha-2 region of the number (`US`).
    pub fn country(&self) -> &str {
        &self.country
    }

    /// `+1312*****51`: enough to tell numbers apart in logs, not to dial.
    pub fn masked(&self) -> String {
        mask(&self.e164)
    }
}

/// Masks an E.164 number for logs.
pub fn mask(e164: &str) -> String {
    let chars: Vec<char> = e164.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let hidden = chars.len() - 7;
    let mut out: String = chars[..5].iter().collect();
    out.push_str(&"*".repeat(hidden));
    out.extend(&chars[chars.len() - 2..]);
    out
}

/// Full-width forms (U+FF0B plus, U+FF10..U+FF19 digits) to ASCII.
fn fold_width(ch: char) -> char {
    match ch {
        '\u{ff0b}' => '+',
        '\u{ff10}'..='\u{ff19}' => char::from_u32(ch as u32 - 0xff10 + '0' as u32).unwrap_or(ch),
        other => other,
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<String, PhoneError> {
        Phone::parse(input, &[]).map(|phone| phone.e164().to_owned())
    }

    #[test]
    fn equivalent_spellings_are_one_number() {
        for spelling in [
            "+13128059851",
            "+1 (312) 805-9851",
            "001 312.805.9851",
            "+1-312-805-9851",
            "\u{ff0b}\u{ff11}\u{ff13}\u{ff11}\u{ff12}\u{ff18}\u{ff10}\u{ff15}\u{ff19}\u{ff18}\u{ff15}\u{ff11}",
        ] {
            assert_eq!(parse(spelling).unwrap(), "+13128059851", "{spelling}");
        }
        assert_eq!(parse("+91 98765 43210").unwrap(), "+919876543210");
    }

    #[test]
    fn national_invalid_and_foreign_numbers_are_refused() {
        assert_eq!(parse("3128059851"), Err(PhoneError::NotInternational));
        assert_eq!(parse("+1 312 abc"), Err(PhoneError::NotInternational));
        assert_eq!(parse("+1 555"), Err(PhoneError::Invalid));
        assert_eq!(parse("+999 1234567"), Err(PhoneError::Invalid));
        assert_eq!(parse(""), Err(PhoneError::NotInternational));
        let us_only = vec!["US".to_owned()];
        assert!(Phone::parse("+13128059851", &us_only).is_ok());
        assert_eq!(
            Phone::parse("+919876543210", &us_only),
            Err(PhoneError::CountryNotAllowed)
        );
    }

    #[test]
    fn masking_keeps_the_ends_only() {
        assert_eq!(mask("+13128059851"), "+1312*****51");
        let phone = Phone::parse("+13128059851", &[]).unwrap();
        assert_eq!(format!("{phone:?}"), "Phone(+1312*****51)");
    }
}
