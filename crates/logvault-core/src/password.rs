//! Passwords: the NIST SP 800-63B rules for choosing one, and Argon2id hashing and verification.
//!
//! A password is used exactly as entered except for Unicode NFKC normalisation, applied the same way when it is
//! chosen, hashed and verified, so a composed and a decomposed "é" are the same password. There are no composition
//! rules (no "one digit, one symbol"), no trimming and no case folding. What is refused is a password that is too
//! short, absurdly long, common, built from the account's own details, or otherwise easy to guess according to
//! zxcvbn.
//!
//! Hashes are PHC strings of Argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's first recommended setting), a 16-byte
//! salt from the operating system and a 32-byte output. [`verify_password`] says when a stored hash was made with
//! other settings, so the caller can store a fresh hash while it has the password in hand.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use unicode_normalization::UnicodeNormalization as _;
use zeroize::Zeroizing;
use zxcvbn::matching::Match;
use zxcvbn::matching::patterns::{DictionaryPattern, MatchPattern};

/// Shortest acceptable password, in characters, for an account that also has a second factor.
pub const MIN_LENGTH_WITH_SECOND_FACTOR: usize = 8;

/// Shortest acceptable password, in characters, for an account protected by the password alone.
pub const MIN_LENGTH_WITHOUT_SECOND_FACTOR: usize = 15;

/// Longest accepted password, in characters. NIST asks for at least 64; the cap bounds the cost of normalising and
/// hashing what anyone can send to the sign-in form.
pub const MAX_LENGTH: usize = 1024;

/// Why a new password is refused. `Display` is the reason shown to the user, in English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    /// Shorter than the minimum that applies to this account.
    #[error("too short: at least {min} characters{}", second_factor_hint(.min))]
    TooShort { min: usize },
    /// Longer than [`MAX_LENGTH`].
    #[error("too long: at most {max} characters")]
    TooLong { max: usize },
    /// A well-known password, or made only of well-known passwords and predictable patterns (`1234`, `qwerty`,
    /// `aaaa`, years).
    #[error(
        "this is one of the most common passwords, or made only of common passwords and patterns like 1234 or qwerty"
    )]
    Common,
    /// Contains the product name or one of the account's details passed as context.
    #[error("{kind}")]
    ContainsContext { kind: ContextKind },
    /// zxcvbn estimates it can be guessed too quickly; `hint` is its advice.
    #[error("too easy to guess: {hint}")]
    TooGuessable { hint: String },
}

/// Which kind of context word a rejected password contains. Only the kind is reported, never the word itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    /// "logvault", which is always checked whether or not the caller passes it.
    ProductName,
    /// An email address passed as context (any word with an `@`), its local part or a piece of the local part.
    EmailAddress,
    /// Any other context word: the user's name, the organisation's name or a piece of either.
    AccountDetail,
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Longer than [`MAX_LENGTH`] after normalisation; such a password was never accepted, so it is not hashed.
    #[error("password is longer than {max} characters")]
    TooLong { max: usize },
    /// No salt could be drawn from the operating system.
    #[error("the operating system's random number generator failed")]
    Random,
    /// Argon2 refused its input (it should not, with the lengths and parameters used here).
    #[error("argon2 hashing failed")]
    Hashing(#[source] argon2::password_hash::Error),
    /// A stored string given to [`PasswordHash::parse`] is not an Argon2 PHC string with a salt and an output.
    #[error("stored password hash is not an argon2 phc string")]
    Malformed,
}

/// A stored password hash: an Argon2 PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
///
/// `Debug` does not show it: a hash is an offline-guessing target and stays out of logs.
#[derive(Clone)]
pub struct PasswordHash(String);

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verification {
    /// The password matches. When `needs_rehash` is true the hash was made with other parameters than the current
    /// ones: hash the password again and store the new hash.
    Valid { needs_rehash: bool },
    /// The password does not match (or is too long ever to have been accepted).
    Invalid,
}

/// Checks a password someone is choosing against the policy; `Ok` means it may be hashed and stored.
///
/// `context_words` are the details an attacker would try first: the organisation's name, the user's email address
/// and name (the product name is always added). A password containing one of them, or a piece of one of at least 4
/// characters, is refused; shorter pieces would refuse too many unrelated passwords. The length is counted in
/// Unicode scalar values after NFKC normalisation: at least [`MIN_LENGTH_WITH_SECOND_FACTOR`] with a second factor,
/// [`MIN_LENGTH_WITHOUT_SECOND_FACTOR`] without, at most [`MAX_LENGTH`].
///
/// The guessability bar depends on the second factor, like the length: zxcvbn scores 0 to 4 by estimated guesses,
/// and a password must reach 3 (over 10^8 guesses) on its own, or 2 (over 10^6) beside a second factor. zxcvbn rates
/// every 8-character string at most 2, so asking for 3 would silently raise the NIST minimum of 8 to 9. A password
/// made only of entries of zxcvbn's common-password list and keyboard, repeat, sequence or date patterns is refused
/// as [`PasswordRejection::Common`] whatever its score ("password1234567", "superman batman"); one common word
/// inside a longer passphrase is not, or "blue horse orange kite" would be.
pub fn check_new_password(
    password: &str,
    context_words: &[&str],
    has_second_factor: bool,
) -> Result<(), PasswordRejection> {
    let normalised = normalise(password).ok_or(PasswordRejection::TooLong { max: MAX_LENGTH })?;
    let n_chars = normalised.chars().count();
    let min = if has_second_factor { MIN_LENGTH_WITH_SECOND_FACTOR } else { MIN_LENGTH_WITHOUT_SECOND_FACTOR };
    if n_chars < min {
        return Err(PasswordRejection::TooShort { min });
    }
    if n_chars > MAX_LENGTH {
        return Err(PasswordRejection::TooLong { max: MAX_LENGTH });
    }

    let context = context_tokens(context_words);
    let lowercase = Zeroizing::new(normalised.to_lowercase());
    if let Some((_, kind)) = context.iter().find(|(token, _)| lowercase.contains(token.as_str())) {
        return Err(PasswordRejection::ContainsContext { kind: *kind });
    }

    // zxcvbn looks at the first 100 characters only; a longer password is at least as strong as its prefix.
    let user_inputs: Vec<&str> = context.iter().map(|(token, _)| token.as_str()).collect();
    let entropy = zxcvbn::zxcvbn(&normalised, &user_inputs);
    if is_made_of_common_passwords(entropy.sequence()) {
        return Err(PasswordRejection::Common);
    }
    let min_score = if has_second_factor { zxcvbn::Score::Two } else { zxcvbn::Score::Three };
    if entropy.score() < min_score {
        let hint = entropy
            .feedback()
            .map(|feedback| feedback.to_string().trim().to_owned())
            .filter(|hint| !hint.is_empty())
            .unwrap_or_else(|| "add another word or two; uncommon words are better".to_owned());
        return Err(PasswordRejection::TooGuessable { hint });
    }
    Ok(())
}

/// Hashes a password (NFKC-normalised first) with Argon2id at the current parameters and a fresh random salt.
pub fn hash_password(password: &str) -> Result<PasswordHash, PasswordError> {
    let normalised = normalise(password).ok_or(PasswordError::TooLong { max: MAX_LENGTH })?;
    if normalised.chars().count() > MAX_LENGTH {
        return Err(PasswordError::TooLong { max: MAX_LENGTH });
    }
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|_| PasswordError::Random)?;
    let phc = current_hasher().hash_password_with_salt(normalised.as_bytes(), &salt).map_err(PasswordError::Hashing)?;
    Ok(PasswordHash(phc.to_string()))
}

/// Checks a password (NFKC-normalised first) against a stored hash, with the parameters recorded in the hash.
///
/// The final comparison of the Argon2 outputs is constant-time (the `password-hash` crate compares its `Output`
/// values with `ctutils`), so the time taken does not depend on how much of the hash matched.
pub fn verify_password(password: &str, stored: &PasswordHash) -> Verification {
    verify_phc(password, &stored.0)
}

/// Does the same Argon2 work as [`verify_password`] against a fixed hash, for a sign-in with an unknown user name, so
/// that the response time does not reveal whether the account exists. The result is deliberately discarded.
pub fn verify_against_dummy(password: &str) {
    let _ = std::hint::black_box(verify_phc(password, DUMMY_PHC));
}

impl PasswordHash {
    /// Accepts a stored PHC string after checking that it parses as an Argon2 hash with a salt and an output.
    pub fn parse(phc: &str) -> Result<PasswordHash, PasswordError> {
        let parsed = argon2::PasswordHash::new(phc).map_err(|_| PasswordError::Malformed)?;
        Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| PasswordError::Malformed)?;
        Params::try_from(&parsed).map_err(|_| PasswordError::Malformed)?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(PasswordError::Malformed);
        }
        Ok(PasswordHash(phc.to_owned()))
    }

    /// The PHC string, for storing.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl fmt::Display for ContextKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextKind::ProductName => "contains the product name",
            ContextKind::EmailAddress => "contains your email address or part of it",
            ContextKind::AccountDetail => "contains your name or your organisation's name, or part of one",
        })
    }
}

const ARGON2_M_COST_KIB: u32 = 19 * 1024;
const ARGON2_T_COST: u32 = 2;
const ARGON2_P_COST: u32 = 1;
const HASH_LEN: usize = 32;
const SALT_LEN: usize = 16;

/// The current parameters, checked when compiling: an invalid combination fails the build, not a sign-in.
const ARGON2_PARAMS: Params = match Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, Some(HASH_LEN)) {
    Ok(params) => params,
    Err(_) => panic!("invalid argon2 parameters"),
};

/// The hash used by [`verify_against_dummy`]: the current parameters, a fixed salt, and a password nobody is told.
/// It is a constant rather than computed at start-up or on first use, so even the first unknown-user sign-in costs
/// exactly one verification. A test fails when the parameters change and this string was not regenerated.
const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$cV+It4Oaao8mktvnAmOlzA$T4o1Rs8GznJ/3auyp2TLQRAxfe8mSEJxVMLLVYSfCuQ";

/// Shortest piece of a context word that is looked for in a password.
const MIN_CONTEXT_CHARS: usize = 4;

/// The product name, refused in every password.
const PRODUCT_NAME: &str = "logvault";

/// An input of more bytes than this cannot be within [`MAX_LENGTH`] after normalisation: a character is at most 4
/// bytes, and NFKC composes at most 4 characters into one. Checking bytes first bounds the work done on huge inputs.
const MAX_INPUT_BYTES: usize = MAX_LENGTH * 4 * 4;

fn second_factor_hint(min: &usize) -> &'static str {
    if *min == MIN_LENGTH_WITHOUT_SECOND_FACTOR { ", or 8 with a second factor" } else { "" }
}

fn current_hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, ARGON2_PARAMS)
}

/// NFKC-normalises a password into a buffer that is wiped when dropped, or `None` when the input is too large to be
/// a password at all. The buffer is sized exactly by a first pass, so it never reallocates and leaves no copy behind.
/// Copies made inside zxcvbn (its match tokens) cannot be wiped from here; argon2's own memory is, through its
/// `zeroize` feature.
fn normalise(password: &str) -> Option<Zeroizing<String>> {
    if password.len() > MAX_INPUT_BYTES {
        return None;
    }
    let n_bytes = password.nfkc().map(char::len_utf8).sum();
    let mut normalised = Zeroizing::new(String::with_capacity(n_bytes));
    normalised.extend(password.nfkc());
    Some(normalised)
}

fn verify_phc(password: &str, phc: &str) -> Verification {
    let Some(normalised) = normalise(password) else {
        return Verification::Invalid;
    };
    if normalised.chars().count() > MAX_LENGTH {
        return Verification::Invalid;
    }
    let Ok(parsed) = argon2::PasswordHash::new(phc) else {
        return Verification::Invalid;
    };
    match Argon2::default().verify_password(normalised.as_bytes(), &parsed) {
        Ok(()) => Verification::Valid { needs_rehash: needs_rehash(&parsed) },
        Err(_) => Verification::Invalid,
    }
}

/// Whether a hash differs from what [`hash_password`] makes today in algorithm, version, cost or lengths.
fn needs_rehash(parsed: &argon2::PasswordHash) -> bool {
    let Ok(params) = Params::try_from(parsed) else {
        return true;
    };
    parsed.algorithm != Algorithm::Argon2id.ident()
        || parsed.version != Some(Version::V0x13.into())
        || params.m_cost() != ARGON2_M_COST_KIB
        || params.t_cost() != ARGON2_T_COST
        || params.p_cost() != ARGON2_P_COST
        || parsed.hash.as_ref().map(|hash| hash.len()) != Some(HASH_LEN)
        || parsed.salt.as_ref().map(|salt| salt.as_ref().len()) != Some(SALT_LEN)
}

/// The lowercase, NFKC-normalised strings looked for in a new password, with the kind of detail each comes from:
/// the product name, then every context word whole, an email address's local part, and the alphanumeric pieces of
/// each (of a local part only, for an email address), skipping pieces shorter than [`MIN_CONTEXT_CHARS`].
fn context_tokens(context_words: &[&str]) -> Vec<(String, ContextKind)> {
    let mut tokens = vec![(PRODUCT_NAME.to_owned(), ContextKind::ProductName)];
    for word in context_words {
        let word: String = word.nfkc().collect::<String>().to_lowercase();
        let word = word.trim();
        let (kind, whole, pieces_of) = match word.rsplit_once('@') {
            Some((local, _domain)) => (ContextKind::EmailAddress, word, local),
            None => (ContextKind::AccountDetail, word, word),
        };
        let candidates = [whole, pieces_of].into_iter().chain(pieces_of.split(|c: char| !c.is_alphanumeric()));
        for candidate in candidates {
            let is_new = !tokens.iter().any(|(token, _)| token == candidate);
            if candidate.chars().count() >= MIN_CONTEXT_CHARS && is_new {
                tokens.push((candidate.to_owned(), kind));
            }
        }
    }
    tokens
}

/// Whether zxcvbn's best reading of the password uses only its common-password list and trivial patterns (keyboard
/// walks, repeats, sequences, dates and years, and separators such as spaces or dashes): "password1234567",
/// "superman batman", "football2024football", "aaaaaaaaaaaaaaa".
///
/// Trivial patterns count whether or not a list entry is present because zxcvbn breaks ties between equally cheap
/// readings by hash-map order, which changes from run to run: "12345678" is sometimes a list entry, sometimes a
/// sequence. Requiring an entry would make the reason given for "abcdefgh12345678" change between runs.
fn is_made_of_common_passwords(sequence: &[Match]) -> bool {
    let is_common_or_trivial = |m: &Match| match &m.pattern {
        MatchPattern::Dictionary(pattern) => is_common_password_list(pattern),
        MatchPattern::Spatial(_)
        | MatchPattern::Repeat(_)
        | MatchPattern::Sequence(_)
        | MatchPattern::Regex(_)
        | MatchPattern::Date(_) => true,
        MatchPattern::BruteForce => m.token.chars().all(|c| !c.is_alphanumeric()),
    };
    !sequence.is_empty() && sequence.iter().all(is_common_or_trivial)
}

/// zxcvbn 3.1 does not export its dictionary enum (it lives in a private module), so the list is recognised by the
/// variant's `Debug` name. The tests on "password1234567" and friends fail if a new zxcvbn renames it.
fn is_common_password_list(pattern: &DictionaryPattern) -> bool {
    format!("{:?}", pattern.dictionary_name) == "Passwords"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic string of `n` characters with no pattern zxcvbn recognises, for length tests.
    fn random_looking(n: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789#%&*+=?@";
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(ALPHABET[(state % ALPHABET.len() as u64) as usize])
            })
            .collect()
    }

    #[test]
    fn with_a_second_factor_7_characters_are_too_short_and_8_are_enough() {
        let password = random_looking(8);
        assert_eq!(
            check_new_password(&password[..7], &[], true),
            Err(PasswordRejection::TooShort { min: MIN_LENGTH_WITH_SECOND_FACTOR })
        );
        assert_eq!(check_new_password(&password, &[], true), Ok(()));
    }

    #[test]
    fn without_a_second_factor_14_characters_are_too_short_and_15_are_enough() {
        let password = random_looking(15);
        assert_eq!(
            check_new_password(&password[..14], &[], false),
            Err(PasswordRejection::TooShort { min: MIN_LENGTH_WITHOUT_SECOND_FACTOR })
        );
        assert_eq!(check_new_password(&password, &[], false), Ok(()));
        assert!(check_new_password(&password[..8], &[], false).unwrap_err().to_string().contains("15"));
    }

    #[test]
    fn the_too_short_reason_names_both_minimums_when_there_is_no_second_factor() {
        assert_eq!(
            PasswordRejection::TooShort { min: 15 }.to_string(),
            "too short: at least 15 characters, or 8 with a second factor"
        );
        assert_eq!(PasswordRejection::TooShort { min: 8 }.to_string(), "too short: at least 8 characters");
    }

    #[test]
    fn sixty_four_and_1024_characters_are_accepted_and_1025_are_too_long() {
        assert_eq!(check_new_password(&random_looking(64), &[], false), Ok(()));
        assert_eq!(check_new_password(&random_looking(MAX_LENGTH), &[], false), Ok(()));
        assert_eq!(
            check_new_password(&random_looking(MAX_LENGTH + 1), &[], false),
            Err(PasswordRejection::TooLong { max: MAX_LENGTH })
        );
        assert_eq!(
            check_new_password(&"x".repeat(10 * 1024 * 1024), &[], false),
            Err(PasswordRejection::TooLong { max: MAX_LENGTH })
        );
    }

    #[test]
    fn length_is_counted_in_characters_after_normalisation() {
        // 14 characters plus a combining accent: 15 scalar values as typed, 14 once "e\u{301}" composes to "é".
        let decomposed = format!("{}e\u{301}", random_looking(13));
        assert_eq!(decomposed.chars().count(), 15);
        assert_eq!(
            check_new_password(&decomposed, &[], false),
            Err(PasswordRejection::TooShort { min: MIN_LENGTH_WITHOUT_SECOND_FACTOR })
        );
        // Multi-byte characters count once each: 15 of them are enough.
        assert_eq!(check_new_password("ÿ€ßñøæ漢字ア한글ğłžŧ", &[], false), Ok(()));
    }

    #[test]
    fn common_passwords_are_rejected_as_common() {
        for password in [
            "password1234567",
            "Password123456789",
            "qwertyuiop123456",
            "iloveyou12345678",
            "abcdefgh12345678",
            "football2024football",
            "superman batman",
            "password",
            "12345678",
            "trustno1trustno1",
            "aaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(check_new_password(password, &[], true), Err(PasswordRejection::Common), "{password}");
        }
        assert!(PasswordRejection::Common.to_string().starts_with("this is one of the most common passwords"));
    }

    #[test]
    fn a_password_containing_the_email_local_part_is_rejected() {
        let context = ["Acme Cold Chain", "jane.doe@example.com", "Jane Doe"];
        for password in ["jane.doe rides a purple tandem", "my-janedoe-is-a-purple-tandem", "JANE.DOE quietly hums"] {
            let rejection = check_new_password(password, &context, false);
            assert!(matches!(rejection, Err(PasswordRejection::ContainsContext { .. })), "{password}: {rejection:?}");
        }
        assert_eq!(
            check_new_password("jane.doe rides a purple tandem", &["jane.doe@example.com"], false),
            Err(PasswordRejection::ContainsContext { kind: ContextKind::EmailAddress })
        );
        assert_eq!(
            ContextKind::EmailAddress.to_string(),
            "contains your email address or part of it",
            "the reason names the kind of detail, never the detail"
        );
    }

    #[test]
    fn a_password_containing_the_product_or_organisation_name_is_rejected() {
        assert_eq!(
            check_new_password("our LogVault tandem rides north", &[], false),
            Err(PasswordRejection::ContainsContext { kind: ContextKind::ProductName })
        );
        assert_eq!(
            check_new_password("frosty acme tandem rides north", &["Acme Cold Chain"], false),
            Err(PasswordRejection::ContainsContext { kind: ContextKind::AccountDetail })
        );
        // Pieces shorter than four characters are not looked for: "Al" must not forbid every "al".
        assert_eq!(check_new_password("a calm tandem rides north", &["Al Ng"], false), Ok(()));
    }

    #[test]
    fn long_random_passphrases_are_accepted_without_composition_rules() {
        for password in [
            "correct horse battery staple",
            "purple elephant dances at midnight in lisbon",
            "tangerine submarine quietly hums",
            "blue horse orange kite",
        ] {
            assert_eq!(check_new_password(password, &["Acme Cold Chain", "jane.doe@example.com"], false), Ok(()));
        }
    }

    #[test]
    fn a_guessable_but_not_common_password_is_rejected_with_zxcvbn_advice() {
        let rejection = check_new_password("submarine", &[], true);
        let Err(PasswordRejection::TooGuessable { hint }) = rejection else {
            panic!("expected TooGuessable, got {rejection:?}");
        };
        assert!(hint.contains("A word by itself is easy to guess"), "{hint}");
        assert!(matches!(check_new_password("jennifer1987", &[], true), Err(PasswordRejection::TooGuessable { .. })));
    }

    #[test]
    fn a_hash_verifies_with_the_same_password_in_either_normal_form_and_not_with_another() {
        let composed = "caf\u{e9} au lait, s'il vous pla\u{ee}t";
        let decomposed = "cafe\u{301} au lait, s'il vous plai\u{302}t";
        assert_ne!(composed, decomposed);
        let hash = hash_password(composed).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.as_str());

        assert_eq!(verify_password(composed, &hash), Verification::Valid { needs_rehash: false });
        assert_eq!(verify_password(decomposed, &hash), Verification::Valid { needs_rehash: false });
        assert_eq!(verify_password("cafe au lait, s'il vous plait", &hash), Verification::Invalid);
        assert_eq!(PasswordHash::parse(hash.as_str()).unwrap().as_str(), hash.as_str());
    }

    #[test]
    fn a_hash_made_with_other_parameters_verifies_and_asks_for_a_rehash() {
        let password = "an old hash from weaker days";
        let weaker = Params::new(1024, 1, 1, Some(HASH_LEN)).unwrap();
        let salt = [7u8; SALT_LEN];
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i] {
            let phc = Argon2::new(algorithm, Version::V0x13, weaker.clone())
                .hash_password_with_salt(password.as_bytes(), &salt)
                .unwrap()
                .to_string();
            let stored = PasswordHash::parse(&phc).unwrap();
            assert_eq!(verify_password(password, &stored), Verification::Valid { needs_rehash: true }, "{phc}");
            assert_eq!(verify_password("another password", &stored), Verification::Invalid);
        }
    }

    #[test]
    fn the_dummy_hash_has_the_current_parameters() {
        let parsed = argon2::PasswordHash::new(DUMMY_PHC).unwrap();
        assert!(!needs_rehash(&parsed), "regenerate DUMMY_PHC with hash_password after changing the parameters");
        // The same path as a real verification: it completes and matches nothing anyone would type.
        verify_against_dummy("anything at all");
        assert_eq!(verify_phc("anything at all", DUMMY_PHC), Verification::Invalid);
    }

    #[test]
    fn oversized_passwords_are_neither_hashed_nor_verified() {
        let too_long = random_looking(MAX_LENGTH + 1);
        assert!(matches!(hash_password(&too_long), Err(PasswordError::TooLong { max: MAX_LENGTH })));
        let stored = PasswordHash::parse(DUMMY_PHC).unwrap();
        assert_eq!(verify_password(&too_long, &stored), Verification::Invalid);
        assert_eq!(verify_password(&"x".repeat(1 << 20), &stored), Verification::Invalid);
    }

    #[test]
    fn only_argon2_phc_strings_are_accepted_as_stored_hashes() {
        for bad in ["", "hunter2", "$argon2id$v=19$m=19456,t=2,p=1", "$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA"] {
            assert!(matches!(PasswordHash::parse(bad), Err(PasswordError::Malformed)), "{bad:?}");
        }
    }

    #[test]
    fn the_debug_form_of_a_hash_does_not_show_it() {
        let stored = PasswordHash::parse(DUMMY_PHC).unwrap();
        let shown = format!("{stored:?}");
        assert_eq!(shown, "PasswordHash(<redacted>)");
        assert!(!shown.contains("argon2"));
    }
}
