//! The sealed form of a block: a short cleartext header, then AES-128-CBC ciphertext and a
//! truncated HMAC-SHA-256 tag over everything before it (encrypt-then-MAC).
//!
//! ```text
//! version(1) suite(1) key_generation(1) serial_len(1) serial(1..=32) iv(16) ciphertext(16·n) tag(16)
//! ```

use alloc::vec::Vec;

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::block::Block;
use crate::codec::{decode_plaintext, encode_plaintext};
use crate::error::OpenError;
use crate::key::{DerivedKeys, DeviceKey, KeyGeneration};
use crate::serial::Serial;

/// The only format version so far.
pub const FORMAT_VERSION: u8 = 1;
/// Bytes of the IV.
pub const IV_LEN: usize = 16;
/// Bytes of the tag (HMAC-SHA-256 truncated to its first 128 bits).
pub const TAG_LEN: usize = 16;
/// Bytes before the serial: version, suite, key generation, serial length.
const FIXED_HEADER_LEN: usize = 4;
const AES_BLOCK: usize = 16;

/// The cryptographic construction of a block, named by one byte in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherSuite {
    /// Id 1: AES-128-CBC with PKCS#7 padding, IV = AES-128(iv key, counter), then
    /// HMAC-SHA-256 truncated to 128 bits over header ‖ IV ‖ ciphertext; keys from HKDF-SHA-256.
    Aes128CbcHmacSha256,
}

impl CipherSuite {
    pub fn id(self) -> u8 {
        match self {
            Self::Aes128CbcHmacSha256 => 1,
        }
    }

    fn from_id(id: u8) -> Option<Self> {
        (id == 1).then_some(Self::Aes128CbcHmacSha256)
    }
}

/// The parsed cleartext of a sealed block: enough to look up the device key, nothing more.
/// Nothing in it is authentic until [`Envelope::open`] succeeds.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    suite: CipherSuite,
    key_generation: KeyGeneration,
    serial: Serial,
    /// Header, serial, IV and ciphertext: the bytes the tag covers.
    authenticated: &'a [u8],
    iv: &'a [u8],
    ciphertext: &'a [u8],
    tag: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Parses the cleartext header and checks the lengths. Fails with the same opaque error as
    /// [`open`](Self::open).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, OpenError> {
        Self::parse_inner(bytes).ok_or(OpenError(()))
    }

    fn parse_inner(bytes: &'a [u8]) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        let (&suite_id, rest) = rest.split_first()?;
        let (&key_generation, rest) = rest.split_first()?;
        let (&serial_len, rest) = rest.split_first()?;
        if version != FORMAT_VERSION {
            return None;
        }
        let suite = CipherSuite::from_id(suite_id)?;
        let serial_bytes = rest.get(..usize::from(serial_len))?;
        let serial = Serial::from_bytes(serial_bytes).ok()?;
        let rest = rest.get(usize::from(serial_len)..)?;
        let tag_start = rest.len().checked_sub(TAG_LEN)?;
        let (body, tag) = rest.split_at(tag_start);
        let iv = body.get(..IV_LEN)?;
        let ciphertext = body.get(IV_LEN..)?;
        if ciphertext.is_empty() || ciphertext.len() % AES_BLOCK != 0 {
            return None;
        }
        let authenticated = bytes.get(..bytes.len() - TAG_LEN)?;
        Some(Self { suite, key_generation: KeyGeneration(key_generation), serial, authenticated, iv, ciphertext, tag })
    }

    /// The device serial as claimed by the sender (authenticated once opened).
    pub fn serial(&self) -> &Serial {
        &self.serial
    }

    pub fn key_generation(&self) -> KeyGeneration {
        self.key_generation
    }

    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Verifies the tag in constant time, and only then decrypts, strips the padding, decodes
    /// the plaintext and checks that the IV is the one the counter prescribes.
    pub fn open(&self, key: &DeviceKey) -> Result<Block, OpenError> {
        self.verify(key)?.open()
    }

    /// Step 2 of opening alone: verifies the tag in constant time. The [`Authentic`] proof it
    /// returns is the only way to steps 3–5, so a receiver can tell "not authentic" from
    /// "authentic but malformed" (for its own audit trail — both stay the same [`OpenError`]
    /// towards the sender).
    pub fn verify(&self, key: &DeviceKey) -> Result<Authentic<'_, 'a>, OpenError> {
        let keys = key.derive();
        let mut mac = new_mac(&keys);
        mac.update(self.authenticated);
        mac.verify_truncated_left(self.tag).map_err(|_| OpenError(()))?;
        Ok(Authentic { envelope: self, keys })
    }

    /// The serial a sealed block names, read from where version 1 puts it (byte 3 its length,
    /// then the serial), whatever the version and suite bytes say. Never authenticated: only
    /// for deciding which organisation's audit trail records the refusal of bytes that do not
    /// parse as a version-1 envelope.
    pub fn claimed_serial(bytes: &[u8]) -> Option<Serial> {
        let serial_len = usize::from(*bytes.get(3)?);
        Serial::from_bytes(bytes.get(4..4 + serial_len)?).ok()
    }
}

/// An envelope whose tag verified under a device key: made only by [`Envelope::verify`].
pub struct Authentic<'e, 'a> {
    envelope: &'e Envelope<'a>,
    keys: DerivedKeys,
}

impl core::fmt::Debug for Authentic<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The derived keys stay out of every debug line.
        f.debug_struct("Authentic").field("serial", &self.envelope.serial).finish_non_exhaustive()
    }
}

impl Authentic<'_, '_> {
    /// Steps 3–5: decrypts, strips the padding, decodes the plaintext and checks the IV.
    pub fn open(self) -> Result<Block, OpenError> {
        let envelope = self.envelope;
        let iv: [u8; IV_LEN] = envelope.iv.try_into().map_err(|_| OpenError(()))?;
        let decryptor = cbc::Decryptor::<Aes128>::new(&self.keys.enc.into(), &iv.into());
        let mut buffer = envelope.ciphertext.to_vec();
        let plaintext = decryptor.decrypt_padded::<Pkcs7>(&mut buffer).map_err(|_| OpenError(()))?;
        let block = decode_plaintext(plaintext, envelope.serial.clone())?;
        // The tag already makes the IV authentic; this catches a sender that does not derive
        // its IVs from the counter and so might repeat one.
        let expected_iv = counter_iv(&self.keys, block.counter());
        if !bool::from(expected_iv.ct_eq(&iv)) {
            return Err(OpenError(()));
        }
        Ok(block)
    }
}

/// Parses and opens a sealed block in one step, for callers that know the key up front.
pub fn open(bytes: &[u8], key: &DeviceKey) -> Result<Block, OpenError> {
    Envelope::parse(bytes)?.open(key)
}

/// Seals a block with the device's key. Deterministic: the IV comes from the block counter,
/// so the same block and key always give the same bytes, and the logger's strictly increasing
/// counter guarantees that no IV is ever used twice.
pub fn seal(block: &Block, key: &DeviceKey, key_generation: KeyGeneration) -> Vec<u8> {
    seal_plaintext(block.serial(), block.counter(), &encode_plaintext(block), key, key_generation)
}

/// Seals any plaintext as [`seal`] seals an encoded block: the IV from `counter`, then
/// AES-128-CBC and the tag. For other encoders and conformance tests (a receiver still decodes
/// what it opens, so this cannot smuggle a malformed block past it; it can only make an
/// authentic one that is refused).
pub fn seal_plaintext(
    serial: &Serial,
    counter: u64,
    plaintext: &[u8],
    key: &DeviceKey,
    key_generation: KeyGeneration,
) -> Vec<u8> {
    let keys = key.derive();
    let serial = serial.as_str().as_bytes();
    let padded_len = (plaintext.len() / AES_BLOCK + 1) * AES_BLOCK;
    let total_len = FIXED_HEADER_LEN + serial.len() + IV_LEN + padded_len + TAG_LEN;

    let mut out = Vec::with_capacity(total_len);
    out.push(FORMAT_VERSION);
    out.push(CipherSuite::Aes128CbcHmacSha256.id());
    out.push(key_generation.0);
    // A Serial is at most 32 bytes.
    out.push(serial.len() as u8);
    out.extend_from_slice(serial);
    let iv = counter_iv(&keys, counter);
    out.extend_from_slice(&iv);

    let ciphertext_start = out.len();
    out.extend_from_slice(plaintext);
    out.resize(ciphertext_start + padded_len, 0);
    let encryptor = cbc::Encryptor::<Aes128>::new(&keys.enc.into(), &iv.into());
    let buffer = out.get_mut(ciphertext_start..).unwrap_or_default();
    // The buffer has exactly the room PKCS#7 needs, so padding cannot fail.
    let padded = encryptor.encrypt_padded::<Pkcs7>(buffer, plaintext.len()).map(<[u8]>::len);
    debug_assert!(matches!(padded, Ok(len) if len == padded_len));

    let mut mac = new_mac(&keys);
    mac.update(&out);
    let tag = mac.finalize().into_bytes();
    out.extend_from_slice(tag.get(..TAG_LEN).unwrap_or_default());
    out
}

/// IV = AES-128(iv key, 0^64 ‖ counter as big-endian u64): unpredictable without the key,
/// distinct for distinct counters, and computable on a device without a random source
/// (NIST SP 800-38A, Appendix C, with a key of its own).
fn counter_iv(keys: &DerivedKeys, counter: u64) -> [u8; IV_LEN] {
    let mut block = [0u8; IV_LEN];
    block[8..].copy_from_slice(&counter.to_be_bytes());
    let cipher = Aes128::new(&keys.iv.into());
    let mut block = block.into();
    cipher.encrypt_block(&mut block);
    block.into()
}

fn new_mac(keys: &DerivedKeys) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new(&keys.mac.into())
}

/// The sealed size of a block, without sealing it: useful to check a QR budget.
pub fn sealed_len(block: &Block) -> usize {
    let plaintext_len = encode_plaintext(block).len();
    FIXED_HEADER_LEN + block.serial().as_str().len() + IV_LEN + (plaintext_len / AES_BLOCK + 1) * AES_BLOCK + TAG_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_block_count_matches_pkcs7() {
        // PKCS#7 always adds 1..=16 bytes.
        for len in [0usize, 1, 15, 16, 17, 31, 32] {
            assert_eq!((len / AES_BLOCK + 1) * AES_BLOCK - len, 16 - len % 16);
        }
    }

    #[test]
    fn a_truncated_tag_check_rejects_a_wrong_tag() {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&[7u8; 64].into());
        mac.update(b"x");
        assert!(mac.verify_truncated_left(&[0u8; TAG_LEN]).is_err());
    }
}
