//! Phone normalisation: any text is a number or a refusal, never a panic;
//! a number's E.164 form parses to itself, and an allow-list only narrows.
#![no_main]

use auth_service::otp::phone::Phone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(phone) = Phone::parse(text, &[]) else {
        assert!(Phone::parse(text, &["US".to_owned()]).is_err());
        return;
    };
    let e164 = phone.e164().to_owned();
    assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()));
    let again = Phone::parse(&e164, &[]).expect("an E.164 number parses");
    assert_eq!(again.e164(), e164);
});
