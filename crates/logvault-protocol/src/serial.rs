//! The device serial number: the only device identity sent in clear.

use alloc::string::{String, ToString};
use core::fmt;
use core::str::FromStr;

use crate::error::SerialError;

/// A device serial: 1–32 characters of `A-Z a-z 0-9 -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct Serial(String);

impl Serial {
    /// Longest serial, in bytes.
    pub const MAX_LEN: usize = 32;

    pub fn parse(text: &str) -> Result<Self, SerialError> {
        Self::from_bytes(text.as_bytes())
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, SerialError> {
        let valid_len = (1..=Self::MAX_LEN).contains(&bytes.len());
        let valid_chars = bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-');
        if !(valid_len && valid_chars) {
            return Err(SerialError);
        }
        // Checked above: ASCII only.
        core::str::from_utf8(bytes).map(|s| Self(s.to_string())).map_err(|_| SerialError)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Serial {
    type Err = SerialError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Serial {
    type Error = SerialError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Serial> for String {
    fn from(serial: Serial) -> Self {
        serial.0
    }
}
