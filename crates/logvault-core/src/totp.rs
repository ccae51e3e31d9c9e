//! Time-based one-time passwords (RFC 6238) as stock authenticator apps expect them: SHA-1, 6 digits, 30 s.
//!
//! The secret is 160 random bits (the HMAC-SHA-1 output size RFC 4226 recommends). Enrolment hands it to the app as an
//! `otpauth://` URI, usually as a QR code. Verification accepts the current time step and one step either side for
//! clock skew, and refuses any step at or before the last one used, so a code (or an older one) works only once. The
//! caller persists the returned step; this module keeps no state.
//!
//! HMAC-SHA-1 comes from aws-lc-rs, which the crate already links; only the RFC 4226 dynamic truncation is written
//! here. SHA-1's collision weakness does not affect HMAC, and authenticator apps support nothing else reliably.

use std::fmt;

use aws_lc_rs::hmac;
use data_encoding::BASE32_NOPAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use qrcode::QrCode;
use qrcode::render::svg;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::token::RandomError;

/// Length of a TOTP secret in bytes (160 bits).
pub const SECRET_LEN: usize = 20;

/// Length of a time step in seconds.
pub const STEP_SECONDS: u64 = 30;

/// Number of digits in a code.
pub const DIGITS: usize = 6;

/// A TOTP shared secret. `Debug` redacts it and it is zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TotpSecret([u8; SECRET_LEN]);

/// Why a presented code was refused.
///
/// The messages are fit to show to the user; a caller that prefers not to say why may show one message for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// Not six digits (after trimming and removing one inner space).
    #[error("enter the 6-digit code from your authenticator app")]
    Malformed,
    /// Six digits, but not the code for now or for an adjacent time step.
    #[error("the code is not valid; check that your device's clock is correct")]
    Invalid,
    /// The code is for a time step at or before one already used.
    #[error("this code has already been used; wait for the next code")]
    Reused,
}

/// The provisioning URI does not fit in one QR code (the issuer or account name is far too long).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the provisioning URI is too long for one QR code")]
pub struct QrTooLong;

/// Characters left as they are in URI components: RFC 3986 "unreserved". Everything else is percent-encoded, so a
/// space becomes `%20` (not `+`, which some apps show literally) and `:`, `@`, `&`, `=` cannot break the URI apart.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl TotpSecret {
    /// A new secret of 20 bytes from the operating system's random number generator.
    pub fn generate() -> Result<TotpSecret, RandomError> {
        let mut bytes = [0u8; SECRET_LEN];
        getrandom::fill(&mut bytes).map_err(|_| RandomError)?;
        Ok(TotpSecret(bytes))
    }

    /// A secret from stored bytes.
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> TotpSecret {
        TotpSecret(bytes)
    }

    /// The raw secret, for storing (encrypted) by the caller.
    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// The secret in RFC 4648 base32 without padding (32 characters), for typing into an app by hand.
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE32_NOPAD.encode(&self.0))
    }

    /// Parses base32 as produced by [`TotpSecret::to_base32`]; case, spaces and trailing `=` padding are tolerated.
    ///
    /// Returns `None` unless the text decodes to exactly 20 bytes.
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        let cleaned: Zeroizing<String> =
            Zeroizing::new(text.chars().filter(|c| *c != ' ').map(|c| c.to_ascii_uppercase()).collect());
        let decoded = Zeroizing::new(BASE32_NOPAD.decode(cleaned.trim_end_matches('=').as_bytes()).ok()?);
        let bytes: [u8; SECRET_LEN] = decoded.as_slice().try_into().ok()?;
        Some(TotpSecret(bytes))
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// The `otpauth://totp/…` URI that enrols `secret` in an authenticator app.
///
/// The label is `ISSUER:ACCOUNT` and the issuer is repeated as a parameter (Google's Key URI format); both are
/// percent-encoded. The algorithm, digits and period are spelled out even though they are the defaults, because some
/// apps only trust what is stated. The URI contains the secret: never log it.
pub fn provisioning_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let issuer = utf8_percent_encode(issuer, URI_COMPONENT);
    let account = utf8_percent_encode(account, URI_COMPONENT);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}\
         &period={STEP_SECONDS}",
        secret = secret.to_base32().as_str(),
    )
}

/// The provisioning URI as an SVG QR code (256 px minimum, with quiet zone), for the enrolment page.
///
/// The SVG holds only geometry (no text from the URI), so it is safe to embed unescaped in a page; it does encode the
/// secret, so serve it with `Cache-Control: no-store`.
pub fn provisioning_qr_svg(uri: &str) -> Result<String, QrTooLong> {
    let code = QrCode::new(uri.as_bytes()).map_err(|_| QrTooLong)?;
    Ok(code.render::<svg::Color<'_>>().min_dimensions(256, 256).build())
}

/// Checks a code typed by the user at `unix_time`, returning the time step it matched so the caller can store it as
/// the next `last_used_step`.
///
/// Accepts the current step and one step either side. Any step at or before `last_used_step` is refused as
/// [`TotpError::Reused`]: a code works once, and an older code cannot be used after a newer one. Codes are compared
/// in constant time. The caller must persist the returned step before reporting success, and must rate-limit
/// attempts: six digits is only a million possibilities.
pub fn verify(secret: &TotpSecret, code: &str, unix_time: u64, last_used_step: Option<u64>) -> Result<u64, TotpError> {
    let presented = parse_code(code).ok_or(TotpError::Malformed)?;
    let current_step = unix_time / STEP_SECONDS;
    let candidates = [current_step.checked_sub(1), Some(current_step), current_step.checked_add(1)];

    // Every candidate is computed and compared, so the time taken does not depend on which step (if any) matched.
    let mut accepted = None;
    let mut matched_a_used_step = false;
    for step in candidates.into_iter().flatten() {
        let expected = code_digits(hotp(secret, step));
        if bool::from(expected[..].ct_eq(&presented[..])) {
            let fresh = last_used_step.is_none_or(|last| step > last);
            // Keep the highest matching step: if two steps in the window happen to share a code, accepting the lower
            // one would leave the higher one open and the same code could be replayed.
            if fresh {
                accepted = Some(step);
            } else {
                matched_a_used_step = true;
            }
        }
    }
    match accepted {
        Some(step) => Ok(step),
        None if matched_a_used_step => Err(TotpError::Reused),
        None => Err(TotpError::Invalid),
    }
}

/// The six ASCII digits of a presented code: surrounding whitespace trimmed, one inner space allowed ("123 456").
fn parse_code(code: &str) -> Option<[u8; DIGITS]> {
    let mut digits = [0u8; DIGITS];
    let mut n_digits = 0;
    let mut n_spaces = 0;
    for byte in code.trim().bytes() {
        match byte {
            b'0'..=b'9' => {
                *digits.get_mut(n_digits)? = byte;
                n_digits += 1;
            }
            // Trimmed first, so a space here is always between digits.
            b' ' if n_spaces == 0 => n_spaces += 1,
            _ => return None,
        }
    }
    (n_digits == DIGITS).then_some(digits)
}

/// RFC 4226 HOTP with HMAC-SHA-1: the 31-bit value after dynamic truncation, before reduction to a number of digits.
fn hotp(secret: &TotpSecret, counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &secret.0);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac: &[u8] = tag.as_ref();
    // The low nibble of the last byte picks the offset (at most 15), so `offset + 4` is within the 20-byte MAC.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word = [mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]];
    u32::from_be_bytes(word)
}

/// The last six decimal digits of a truncated HOTP value, as ASCII.
fn code_digits(value: u32) -> [u8; DIGITS] {
    let mut digits = [b'0'; DIGITS];
    let mut rest = value;
    for digit in digits.iter_mut().rev() {
        // `rest % 10` is below 10, so the cast cannot truncate.
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 seed of RFC 6238 Appendix B.
    const RFC_SECRET: &[u8; 20] = b"12345678901234567890";

    /// RFC 6238 Appendix B, SHA-1 rows: (Unix time, 8-digit code).
    const RFC_VECTORS: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(*RFC_SECRET)
    }

    /// The 6-digit code for a time, computed by this module.
    fn code_at(secret: &TotpSecret, unix_time: u64) -> String {
        String::from_utf8(code_digits(hotp(secret, unix_time / STEP_SECONDS)).to_vec()).unwrap()
    }

    #[test]
    fn hotp_reproduces_every_rfc_6238_sha1_vector_in_full_eight_digits() {
        let secret = rfc_secret();
        for (time, expected) in RFC_VECTORS {
            let eight_digits = format!("{:08}", hotp(&secret, time / STEP_SECONDS) % 100_000_000);
            assert_eq!(eight_digits, expected, "time {time}");
        }
    }

    #[test]
    fn six_digit_codes_are_the_last_six_digits_of_the_rfc_6238_vectors_and_verify() {
        let secret = rfc_secret();
        for (time, expected) in RFC_VECTORS {
            let six = &expected[2..];
            assert_eq!(code_at(&secret, time), six, "time {time}");
            assert_eq!(verify(&secret, six, time, None), Ok(time / STEP_SECONDS), "time {time}");
        }
    }

    #[test]
    fn codes_one_step_either_side_are_accepted_and_return_their_own_step() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let step = now / STEP_SECONDS;
        let previous = code_at(&secret, now - STEP_SECONDS);
        let next = code_at(&secret, now + STEP_SECONDS);
        assert_eq!(verify(&secret, &previous, now, None), Ok(step - 1));
        assert_eq!(verify(&secret, &next, now, None), Ok(step + 1));
    }

    #[test]
    fn codes_two_steps_away_are_refused_as_invalid() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let two_before = code_at(&secret, now - 2 * STEP_SECONDS);
        let two_after = code_at(&secret, now + 2 * STEP_SECONDS);
        assert_eq!(verify(&secret, &two_before, now, None), Err(TotpError::Invalid));
        assert_eq!(verify(&secret, &two_after, now, None), Err(TotpError::Invalid));
    }

    #[test]
    fn a_wrong_code_is_refused_as_invalid() {
        let secret = rfc_secret();
        // The RFC code for time 59 is 287082; its neighbours' codes differ from this one.
        assert_eq!(verify(&secret, "287083", 59, None), Err(TotpError::Invalid));
    }

    #[test]
    fn a_code_is_refused_when_its_step_was_already_used() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let code = code_at(&secret, now);
        let step = verify(&secret, &code, now, None).unwrap();
        assert_eq!(verify(&secret, &code, now, Some(step)), Err(TotpError::Reused));
        assert_eq!(verify(&secret, &code, now + 10, Some(step)), Err(TotpError::Reused));
    }

    #[test]
    fn an_older_code_is_refused_after_a_newer_one_was_used() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let newer = code_at(&secret, now + STEP_SECONDS);
        let older = code_at(&secret, now);
        let used = verify(&secret, &newer, now, None).unwrap();
        assert_eq!(verify(&secret, &older, now, Some(used)), Err(TotpError::Reused));
    }

    #[test]
    fn a_newer_code_is_accepted_after_an_older_one_was_used() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let older = code_at(&secret, now);
        let newer = code_at(&secret, now + STEP_SECONDS);
        let used = verify(&secret, &older, now, None).unwrap();
        assert_eq!(verify(&secret, &newer, now + STEP_SECONDS, Some(used)), Ok(used + 1));
    }

    #[test]
    fn when_two_steps_in_the_window_share_a_code_the_later_step_is_taken_so_it_cannot_be_replayed() {
        // Found by search: under the RFC secret, steps 153567 and 153569 both have the code 468457.
        let secret = rfc_secret();
        let now = 153_568 * STEP_SECONDS;
        assert_eq!(code_at(&secret, now - STEP_SECONDS), "468457");
        assert_eq!(code_at(&secret, now + STEP_SECONDS), "468457");
        let used = verify(&secret, "468457", now, None).unwrap();
        assert_eq!(used, 153_569);
        assert_eq!(verify(&secret, "468457", now, Some(used)), Err(TotpError::Reused));
    }

    #[test]
    fn malformed_codes_are_refused_as_malformed() {
        let secret = rfc_secret();
        for code in
            ["12345", "1234567", "abcdef", "", "   ", "12 34 56", "123-456", "１２３４５６", "+12345", "12345\u{0}"]
        {
            assert_eq!(verify(&secret, code, 59, None), Err(TotpError::Malformed), "{code:?}");
        }
    }

    #[test]
    fn surrounding_whitespace_and_one_inner_space_are_accepted() {
        let secret = rfc_secret();
        for code in ["287082", " 287082\n", "287 082", "\t287 082 "] {
            assert_eq!(verify(&secret, code, 59, None), Ok(1), "{code:?}");
        }
    }

    #[test]
    fn time_zero_has_no_previous_step_and_still_verifies() {
        let secret = rfc_secret();
        let code = code_at(&secret, 0);
        assert_eq!(verify(&secret, &code, 0, None), Ok(0));
    }

    #[test]
    fn provisioning_uri_percent_encodes_issuer_and_account() {
        let secret = rfc_secret();
        let uri = provisioning_uri(&secret, "Acme Labs", "jane doe@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Labs:jane%20doe%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Labs&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn provisioning_uri_encodes_characters_that_would_split_the_label_or_query() {
        let secret = rfc_secret();
        let uri = provisioning_uri(&secret, "A:B&C=D", "x?y#z");
        assert!(uri.starts_with("otpauth://totp/A%3AB%26C%3DD:x%3Fy%23z?secret="), "{uri}");
        assert!(uri.contains("&issuer=A%3AB%26C%3DD&"), "{uri}");
    }

    #[test]
    fn base32_is_unpadded_rfc_4648_and_round_trips() {
        let secret = rfc_secret();
        let text = secret.to_base32();
        assert_eq!(text.as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(TotpSecret::from_base32(&text).unwrap().as_bytes(), RFC_SECRET);

        let random = TotpSecret::generate().unwrap();
        let text = random.to_base32();
        assert_eq!(text.len(), 32);
        assert!(!text.contains('='));
        assert_eq!(TotpSecret::from_base32(&text).unwrap().as_bytes(), random.as_bytes());
    }

    #[test]
    fn base32_input_tolerates_lower_case_spaces_and_padding_but_not_the_wrong_length() {
        let expected = rfc_secret();
        let parsed = TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(parsed.as_bytes(), expected.as_bytes());
        assert_eq!(TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====").unwrap().as_bytes(), RFC_SECRET);
        assert!(TotpSecret::from_base32("GEZDGNBVGY3TQOJQ").is_none());
        assert!(TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1").is_none());
        assert!(TotpSecret::from_base32("").is_none());
    }

    #[test]
    fn generated_secrets_differ_and_debug_does_not_show_them() {
        let first = TotpSecret::generate().unwrap();
        let second = TotpSecret::generate().unwrap();
        assert_ne!(first.as_bytes(), second.as_bytes());
        let debug = format!("{first:?}");
        assert_eq!(debug, "TotpSecret([redacted])");
        assert!(!debug.contains(first.to_base32().as_str()));
    }

    #[test]
    fn provisioning_qr_is_an_svg_without_the_uri_text() {
        let secret = rfc_secret();
        let uri = provisioning_uri(&secret, "Logvault", "jane@example.com");
        let svg = provisioning_qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(!svg.contains("GEZDGNBV"));
    }

    #[test]
    fn a_uri_too_long_for_a_qr_code_is_an_error() {
        let secret = rfc_secret();
        let uri = provisioning_uri(&secret, "Logvault", &"a".repeat(4_000));
        assert_eq!(provisioning_qr_svg(&uri), Err(QrTooLong));
    }
}
