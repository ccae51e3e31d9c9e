//! Opaque bearer secrets (session tokens, later API tokens): 256 random bits, shown once, stored as SHA-256.
//!
//! A token is looked up by the SHA-256 of what the client presents. The digest of a 256-bit random value reveals
//! nothing useful and equality lookups on it do not leak the secret through timing.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::SubKey;

/// A freshly generated secret token. `Debug` redacts it.
pub struct SecretToken(Zeroizing<String>);

/// The failure of the operating system's random number generator.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the operating system random number generator failed")]
pub struct RandomError;

impl SecretToken {
    /// 256 random bits as unpadded base64url (43 characters), with an optional prefix such as `lv_`.
    pub fn generate(prefix: &str) -> Result<SecretToken, RandomError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|_| RandomError)?;
        let mut text = Zeroizing::new(String::with_capacity(prefix.len() + 43));
        text.push_str(prefix);
        URL_SAFE_NO_PAD.encode_string(bytes.as_slice(), &mut text);
        Ok(SecretToken(text))
    }

    /// The token itself, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: the SHA-256 of the token.
    pub fn digest(&self) -> [u8; 32] {
        digest(&self.0)
    }
}

/// A token bound to another secret: base64url(HMAC-SHA-256(key, secret)).
///
/// Used for CSRF tokens: derived from the session token under a server key, so the server can recompute it from the
/// session cookie without storing it, and a cross-site attacker, who cannot read the cookie, cannot forge it.
pub fn bound_token(key: &SubKey, secret: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.expose());
    URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, secret.as_bytes()).as_ref())
}

/// Checks a presented bound token in constant time.
pub fn verify_bound_token(key: &SubKey, secret: &str, presented: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(presented) else { return false };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.expose());
    aws_lc_rs::hmac::verify(&key, secret.as_bytes(), &tag).is_ok()
}

/// The SHA-256 of a presented token, for lookup.
pub fn digest(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_stored_as_their_digest() {
        let a = SecretToken::generate("lv_").unwrap();
        let b = SecretToken::generate("lv_").unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("lv_"));
        assert_eq!(a.expose().len(), 3 + 43);
        assert_eq!(a.digest(), digest(a.expose()));
        assert_eq!(format!("{a:?}"), "SecretToken(<redacted>)");
    }

    #[test]
    fn a_bound_token_verifies_only_for_its_secret_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let master = crate::MasterKey::create(&dir.path().join("k")).unwrap();
        let key = master.derive("csrf");
        let bound = bound_token(&key, "session-a");
        assert!(verify_bound_token(&key, "session-a", &bound));
        assert!(!verify_bound_token(&key, "session-b", &bound));
        assert!(!verify_bound_token(&master.derive("other"), "session-a", &bound));
        assert!(!verify_bound_token(&key, "session-a", "not base64 !"));
        assert!(!verify_bound_token(&key, "session-a", ""));
    }
}
