//! Single-use recovery codes for a lost second factor: shown once, stored only as keyed hashes.
//!
//! Each code is 10 characters from a 31-symbol alphabet without look-alikes (no `0`, `O`, `1`, `I`, `L`), about 49.5
//! bits, shown as `XXXXX-XXXXX`. Because the codes are random and that strong, a slow password hash would buy nothing;
//! the store keeps `HMAC-SHA-256(key, normalised code)` under a sub-key of the master key, so a database dump alone
//! cannot be searched offline.
//!
//! Single use is the caller's job: when [`find_match`] returns an index, the caller deletes or marks that stored hash
//! in the same transaction that completes the sign-in, and rate-limits attempts like any other sign-in.

use std::fmt;

use aws_lc_rs::hmac;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::SubKey;
use crate::token::RandomError;

/// How many codes one generation produces.
pub const N_CODES: usize = 10;

/// Characters in one code, not counting the display dash.
pub const CODE_LEN: usize = 10;

/// The symbols a code is drawn from: digits and upper-case letters without `0`, `O`, `1`, `I` and `L`.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A fresh set of recovery codes. `Debug` redacts them and they are zeroized on drop.
pub struct RecoveryCodes {
    display: Zeroizing<Vec<String>>,
}

impl RecoveryCodes {
    /// The codes as shown to the user once, each `XXXXX-XXXXX`.
    pub fn display(&self) -> &[String] {
        &self.display
    }

    /// What the store keeps: one keyed hash per code, in the same order as [`RecoveryCodes::display`].
    pub fn hashes(&self, key: &SubKey) -> Vec<[u8; 32]> {
        self.display
            .iter()
            .map(|code| {
                let normalised = Zeroizing::new(code.replace('-', ""));
                hmac_code(key, &normalised)
            })
            .collect()
    }
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes([{} redacted])", self.display.len())
    }
}

/// Generates [`N_CODES`] codes from the operating system's random number generator.
pub fn generate_recovery_codes() -> Result<RecoveryCodes, RandomError> {
    let mut display = Zeroizing::new(Vec::with_capacity(N_CODES));
    for _ in 0..N_CODES {
        let symbols = random_symbols()?;
        let mut code = String::with_capacity(CODE_LEN + 1);
        for (idx, symbol) in symbols.iter().enumerate() {
            if idx == CODE_LEN / 2 {
                code.push('-');
            }
            code.push(char::from(*symbol));
        }
        display.push(code);
    }
    Ok(RecoveryCodes { display })
}

/// The canonical form of a typed code: upper case, spaces and dashes removed, exactly [`CODE_LEN`] characters from
/// [`ALPHABET`]; `None` otherwise.
///
/// Only ASCII is accepted, so no Unicode case mapping can turn some other character into a valid symbol.
pub fn normalise(input: &str) -> Option<String> {
    // Collected in a zeroizing buffer: on refusal it may hold most of a valid code.
    let mut out = Zeroizing::new(String::with_capacity(CODE_LEN));
    for c in input.trim().chars() {
        if c == ' ' || c == '-' {
            continue;
        }
        let upper = c.to_ascii_uppercase();
        if !u8::try_from(upper).is_ok_and(|byte| ALPHABET.contains(&byte)) || out.len() == CODE_LEN {
            return None;
        }
        out.push(upper);
    }
    (out.len() == CODE_LEN).then(|| std::mem::take(&mut *out))
}

/// The stored form of a code: HMAC-SHA-256 under `key` of the normalised code; `None` if the code is malformed.
pub fn hash_recovery_code(key: &SubKey, code: &str) -> Option<[u8; 32]> {
    let normalised = Zeroizing::new(normalise(code)?);
    Some(hmac_code(key, &normalised))
}

/// Finds which stored hash a presented code matches, comparing against every stored hash in constant time.
///
/// Returns the index into `stored`; the caller must then delete or mark that code as used, since this function
/// cannot enforce single use. Malformed input matches nothing.
pub fn find_match(key: &SubKey, presented: &str, stored: &[[u8; 32]]) -> Option<usize> {
    let presented = hash_recovery_code(key, presented)?;
    let mut found = Choice::from(0);
    let mut found_idx = 0u64;
    for (idx, hash) in stored.iter().enumerate() {
        let is_match = hash[..].ct_eq(&presented[..]);
        // Keep the first match without branching, so the time taken does not depend on where (or whether) it is.
        found_idx = u64::conditional_select(&found_idx, &(idx as u64), is_match & !found);
        found |= is_match;
    }
    if bool::from(found) { usize::try_from(found_idx).ok() } else { None }
}

fn hmac_code(key: &SubKey, normalised: &str) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key.expose());
    let tag = hmac::sign(&key, normalised.as_bytes());
    let mut out = [0u8; 32];
    // HMAC-SHA-256 tags are always 32 bytes.
    out.copy_from_slice(tag.as_ref());
    out
}

/// [`CODE_LEN`] symbols drawn uniformly from [`ALPHABET`].
fn random_symbols() -> Result<Zeroizing<[u8; CODE_LEN]>, RandomError> {
    // Bytes at or above 248 (= 8 × 31) are rejected so that `byte % 31` is uniform.
    const LIMIT: u8 = 248;
    let mut symbols = Zeroizing::new([0u8; CODE_LEN]);
    let mut n_symbols = 0;
    let mut random = Zeroizing::new([0u8; 32]);
    while n_symbols < CODE_LEN {
        getrandom::fill(random.as_mut_slice()).map_err(|_| RandomError)?;
        for byte in random.iter().filter(|byte| **byte < LIMIT) {
            let Some(slot) = symbols.get_mut(n_symbols) else { break };
            *slot = ALPHABET[usize::from(*byte) % ALPHABET.len()];
            n_symbols += 1;
        }
    }
    Ok(symbols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MasterKey;

    fn key(purpose: &str) -> SubKey {
        let dir = tempfile::tempdir().unwrap();
        MasterKey::create(&dir.path().join("master.key")).unwrap().derive(purpose)
    }

    #[test]
    fn ten_distinct_codes_are_generated_in_the_grouped_format() {
        let codes = generate_recovery_codes().unwrap();
        let display = codes.display();
        assert_eq!(display.len(), N_CODES);
        for code in display {
            assert_eq!(code.len(), 11, "{code}");
            let (first, second) = code.split_once('-').unwrap();
            assert_eq!((first.len(), second.len()), (5, 5), "{code}");
            assert!(first.bytes().chain(second.bytes()).all(|b| ALPHABET.contains(&b)), "{code}");
        }
        let mut unique = display.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), N_CODES);
    }

    #[test]
    fn the_alphabet_has_no_look_alike_characters() {
        for c in b"0O1IL" {
            assert!(!ALPHABET.contains(c), "{}", char::from(*c));
        }
        let mut sorted = ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), 31);
    }

    #[test]
    fn many_generated_codes_use_every_symbol_of_the_alphabet() {
        let mut seen = [false; 31];
        for _ in 0..20 {
            for code in generate_recovery_codes().unwrap().display() {
                for b in code.bytes().filter(|b| *b != b'-') {
                    seen[ALPHABET.iter().position(|a| *a == b).unwrap()] = true;
                }
            }
        }
        // 2,000 draws over 31 symbols: missing any one by chance is about 31 × (30/31)^2000, i.e. never.
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn a_code_matches_its_stored_hash_with_different_case_spacing_and_dashes() {
        let key = key("recovery");
        let codes = generate_recovery_codes().unwrap();
        let stored = codes.hashes(&key);
        for (idx, code) in codes.display().iter().enumerate() {
            assert_eq!(find_match(&key, code, &stored), Some(idx));
            let plain = code.replace('-', "");
            let variants = [
                plain.to_lowercase(),
                format!(" {} {} ", &plain[..5], &plain[5..]),
                format!("{}-{}", &plain[..3].to_lowercase(), &plain[3..]),
                plain.chars().flat_map(|c| [c, ' ']).collect(),
            ];
            for variant in variants {
                assert_eq!(find_match(&key, &variant, &stored), Some(idx), "{variant:?}");
            }
        }
    }

    #[test]
    fn a_wrong_code_matches_nothing() {
        let key = key("recovery");
        let codes = generate_recovery_codes().unwrap();
        let stored = codes.hashes(&key);
        let other = generate_recovery_codes().unwrap();
        for code in other.display() {
            assert_eq!(find_match(&key, code, &stored), None);
        }
        assert_eq!(find_match(&key, codes.display()[0].as_str(), &[]), None);
    }

    #[test]
    fn hashes_differ_under_different_keys_and_do_not_match_across_keys() {
        let codes = generate_recovery_codes().unwrap();
        let first = codes.hashes(&key("recovery"));
        let other_key = key("recovery");
        let second = codes.hashes(&other_key);
        assert!(first.iter().zip(&second).all(|(a, b)| a != b));
        assert_eq!(find_match(&other_key, &codes.display()[0], &first), None);
    }

    #[test]
    fn hash_recovery_code_agrees_with_the_hashes_of_generated_codes() {
        let key = key("recovery");
        let codes = generate_recovery_codes().unwrap();
        let stored = codes.hashes(&key);
        assert_eq!(hash_recovery_code(&key, &codes.display()[3].to_lowercase()), Some(stored[3]));
    }

    #[test]
    fn malformed_input_is_none() {
        let key = key("recovery");
        for input in [
            "",
            "   ",
            "ABCDE-FGHJ",
            "ABCDE-FGHJKM",
            "ABCDE-FGHJ0",
            "ABCDE-FGHJO",
            "ABCDE-FGHJ1",
            "ABCDE-FGHJI",
            "ABCDE-FGHJL",
            "ABCDE_FGHJK",
            "ABCDE-FGHJ\u{131}",
            "ABCDE-FGHJK\u{0}",
        ] {
            assert_eq!(normalise(input), None, "{input:?}");
            assert_eq!(hash_recovery_code(&key, input), None, "{input:?}");
            assert_eq!(find_match(&key, input, &[[0u8; 32]]), None, "{input:?}");
        }
    }

    #[test]
    fn normalise_upper_cases_and_strips_spaces_and_dashes() {
        assert_eq!(normalise(" abcde - fghjk ").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(normalise("ABCDEFGHJK").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(normalise("a-b-c-d-e-f-g-h-j-k").as_deref(), Some("ABCDEFGHJK"));
    }

    #[test]
    fn the_first_of_duplicate_stored_hashes_is_reported() {
        let key = key("recovery");
        let hash = hash_recovery_code(&key, "ABCDE-FGHJK").unwrap();
        let stored = [[0u8; 32], hash, hash];
        assert_eq!(find_match(&key, "abcdefghjk", &stored), Some(1));
    }

    #[test]
    fn debug_does_not_show_the_codes() {
        let codes = generate_recovery_codes().unwrap();
        let debug = format!("{codes:?}");
        assert_eq!(debug, "RecoveryCodes([10 redacted])");
    }
}
