//! Error types of the protocol crate.
//!
//! Opening a block has exactly one error, [`OpenError`], whatever went wrong: a receiver that
//! told a bad MAC apart from bad padding or a malformed plaintext would hand an attacker a
//! decryption oracle. The other errors concern inputs that the caller controls (building a
//! block, parsing a serial, a key or a link) and are precise.

use thiserror::Error;

/// A sealed block was rejected. Deliberately says nothing about why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("block rejected: not authentic or malformed")]
pub struct OpenError(pub(crate) ());

/// A serial number that is not 1–32 characters of `A-Z a-z 0-9 -`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a serial must be 1 to 32 characters of A-Z, a-z, 0-9 and '-'")]
pub struct SerialError;

/// A device key that is not 32 hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a device key must be 32 hexadecimal digits (128 bits)")]
pub struct KeyError;

/// A resolution table that cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ResolutionError {
    #[error("a resolution table needs 1 to 16 ranges")]
    RangeCount,
    #[error("range {range_idx} has a step of zero")]
    ZeroStep { range_idx: usize },
    #[error("range {range_idx} does not end above its lower bound")]
    EmptyRange { range_idx: usize },
    #[error("the step of range {range_idx} does not divide its span")]
    StepDoesNotDivideRange { range_idx: usize },
    /// More than 2^30 grid values, the closing bound included (`Σ n_steps + 1`).
    #[error("the table has more than 2^30 values")]
    TooManyCodes,
}

/// A block that cannot be built from the given parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BlockError {
    #[error("a block needs 1 to 16 channels")]
    ChannelCount,
    #[error("a block holds at most 1048576 samples")]
    TooManySamples,
    #[error("sample {sample_idx} has {n_values} values for {n_channels} channels")]
    WrongNumberOfValues { sample_idx: usize, n_values: usize, n_channels: usize },
    #[error("sample {sample_idx} is older than the sample before it")]
    TimeGoesBackwards { sample_idx: usize },
    #[error("sample {sample_idx}, channel {channel_idx}: the value is not on the channel's resolution grid")]
    ValueNotOnGrid { sample_idx: usize, channel_idx: usize },
}

/// Text that is not a Logvault link or base64url payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not a Logvault link: expected https://host/l#<base64url payload> or the bare payload")]
pub struct LinkError;
