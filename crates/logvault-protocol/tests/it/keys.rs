//! Device keys and serials: parsing, and no secret in debug output.

use logvault_protocol::{DeviceKey, KeyError, Serial, SerialError};

#[test]
fn a_key_parses_from_32_hex_digits_in_either_case() {
    let lower = DeviceKey::from_hex("000102030405060708090a0b0c0d0e0f");
    let upper = DeviceKey::from_hex(" 000102030405060708090A0B0C0D0E0F\n");
    assert_eq!(lower, upper);
    assert_eq!(lower.map(|k| *k.expose_secret()), Ok([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]));
}

#[test]
fn malformed_keys_are_refused() {
    for text in [
        "",
        "00",
        "000102030405060708090a0b0c0d0e0",
        "000102030405060708090a0b0c0d0e0f00",
        "g00102030405060708090a0b0c0d0e0f",
        "+0102030405060708090a0b0c0d0e0f",
    ] {
        assert_eq!(DeviceKey::from_hex(text), Err(KeyError), "{text:?}");
    }
}

#[test]
fn the_debug_form_of_a_key_does_not_show_it() {
    let key = DeviceKey::from_bytes([0xAB; 16]);
    let debug = format!("{key:?}");
    assert_eq!(debug, "DeviceKey(<redacted>)");
    assert!(!debug.to_lowercase().contains("ab"));
}

#[test]
fn serials_are_1_to_32_characters_of_letters_digits_and_dashes() {
    for ok in ["A", "LV-000042", "abcDEF-0123456789-abcdefghijklmn"] {
        assert_eq!(Serial::parse(ok).map(|s| s.to_string()), Ok(ok.to_string()));
    }
    for bad in ["", "has space", "ümlaut", "under_score", "a/b", "abcDEF-0123456789-abcdefghijklmno"] {
        assert_eq!(Serial::parse(bad), Err(SerialError), "{bad:?}");
    }
}
