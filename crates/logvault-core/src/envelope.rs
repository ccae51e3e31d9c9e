//! Sealing small secrets at rest with AES-256-GCM (aws-lc-rs) under a key derived from the master key.
//!
//! Format: 12-byte random nonce ‖ ciphertext ‖ 16-byte tag. The associated data names what is sealed, so a sealed
//! value cannot be moved to another purpose.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::SubKey;

/// Sealing or opening failed. Deliberately uninformative: a wrong key and a tampered value look the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed value could not be opened (wrong key or altered data)")]
pub struct EnvelopeError;

/// Encrypts and authenticates `plaintext`, binding it to `aad`.
pub fn seal(key: &SubKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.expose()).map_err(|_| EnvelopeError)?);
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| EnvelopeError)?;
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buffer)
        .map_err(|_| EnvelopeError)?;
    let mut out = Vec::with_capacity(NONCE_LEN + buffer.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buffer);
    Ok(out)
}

/// Verifies and decrypts a value produced by [`seal`] with the same key and `aad`.
pub fn open(key: &SubKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.expose()).map_err(|_| EnvelopeError)?);
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or(EnvelopeError)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| EnvelopeError)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = key.open_in_place(nonce, Aad::from(aad), &mut buffer).map_err(|_| EnvelopeError)?.len();
    buffer.truncate(plaintext_len);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MasterKey;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_purpose_and_unaltered() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::create(&dir.path().join("k")).unwrap();
        let key = master.derive("a");
        let sealed = seal(&key, b"purpose", b"secret bytes").unwrap();
        assert_eq!(open(&key, b"purpose", &sealed).unwrap().as_slice(), b"secret bytes");
        assert_eq!(open(&master.derive("b"), b"purpose", &sealed), Err(EnvelopeError));
        assert_eq!(open(&key, b"other", &sealed), Err(EnvelopeError));
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 1;
            assert_eq!(open(&key, b"purpose", &altered), Err(EnvelopeError));
        }
        assert_eq!(open(&key, b"purpose", &sealed[..10]), Err(EnvelopeError));
        assert_ne!(seal(&key, b"purpose", b"secret bytes").unwrap(), sealed, "nonces repeat");
    }
}
