//! Device keys and the keys derived from them.
//!
//! Every logger has its own random 128-bit key. HKDF-SHA-256 (RFC 5869) turns it into three
//! independent keys: AES-128 for CBC encryption, a 256-bit HMAC-SHA-256 key, and an AES-128
//! key that turns the block counter into the IV.

use core::fmt;
use core::str::FromStr;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::KeyError;

/// A logger's secret 128-bit key. Wiped on drop; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DeviceKey([u8; 16]);

/// Which of a device's successive keys sealed a block (sent in clear so the receiver can pick
/// the key; authenticated by the MAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KeyGeneration(pub u8);

impl DeviceKey {
    pub const LEN: usize = 16;

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Parses 32 hexadecimal digits (either case; surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let digits = text.trim().as_bytes();
        if digits.len() != 32 {
            return Err(KeyError);
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_digit(pair[0]).ok_or(KeyError)?;
            let low = hex_digit(pair[1]).ok_or(KeyError)?;
            *byte = (high << 4) | low;
        }
        Ok(Self(bytes))
    }

    /// The raw key, for storing it (encrypted) on the server or in firmware.
    pub fn expose_secret(&self) -> &[u8; 16] {
        &self.0
    }

    pub(crate) fn derive(&self) -> DerivedKeys {
        let hkdf = Hkdf::<Sha256>::new(Some(KDF_SALT), &self.0);
        let mut keys = DerivedKeys { enc: [0; 16], mac: [0; 64], iv: [0; 16] };
        // The output lengths (16 and 32 bytes) are far below HKDF-SHA-256's limit of
        // 255 * 32 bytes, so `expand` cannot fail; a failure would leave an all-zero key,
        // which only makes every MAC check fail.
        let _ = hkdf.expand(INFO_ENC, &mut keys.enc);
        let _ = hkdf.expand(INFO_MAC, &mut keys.mac[..32]);
        let _ = hkdf.expand(INFO_IV, &mut keys.iv);
        keys
    }
}

/// HKDF salt: fixed, names the protocol.
pub(crate) const KDF_SALT: &[u8] = b"logvault block v1";
pub(crate) const INFO_ENC: &[u8] = b"logvault v1 aes-128-cbc key";
pub(crate) const INFO_MAC: &[u8] = b"logvault v1 hmac-sha-256 key";
pub(crate) const INFO_IV: &[u8] = b"logvault v1 iv key";

fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceKey(<redacted>)")
    }
}

impl FromStr for DeviceKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

/// Keys derived from a [`DeviceKey`]; wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct DerivedKeys {
    pub(crate) enc: [u8; 16],
    /// The 256-bit HMAC key, zero-padded to the SHA-256 block size exactly as HMAC pads a
    /// short key (RFC 2104), so that the infallible fixed-size constructor can take it.
    pub(crate) mac: [u8; 64],
    pub(crate) iv: [u8; 16],
}
