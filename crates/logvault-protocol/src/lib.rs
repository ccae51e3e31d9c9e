//! Logvault logger wire format: compressed, authenticated, encrypted measurement blocks.
//!
//! A logger builds a [`Block`] (serial, counter, channel layout with resolution tables,
//! samples), [`seal`]s it with its [`DeviceKey`] and hands the bytes over as a QR link
//! ([`to_link`]) or raw. A receiver parses the cleartext [`Envelope`] to learn the serial and
//! key generation, looks up the key, and [`Envelope::open`]s it: the tag is checked in
//! constant time before any decryption, and every failure is the same opaque [`OpenError`].
//!
//! The crate performs no IO and builds for `no_std + alloc`; `std`, `serde` and `qr` are
//! features. The format is specified byte by byte in `docs/protocol.md`.

#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod bits;
mod block;
mod codec;
mod envelope;
mod error;
mod key;
mod link;
#[cfg(feature = "qr")]
pub mod qr;
mod resolution;
mod serial;

pub use block::{Block, Channel, MAX_CHANNELS, MAX_SAMPLES, Quantity, Sample};
pub use codec::{decode_plaintext, encode_plaintext};
pub use envelope::{
    Authentic, CipherSuite, Envelope, FORMAT_VERSION, IV_LEN, TAG_LEN, open, seal, seal_plaintext, sealed_len,
};
pub use error::{BlockError, KeyError, LinkError, OpenError, ResolutionError, SerialError};
pub use key::{DeviceKey, KeyGeneration};
pub use link::{LINK_PATH, from_link, to_link, to_payload_text};
pub use resolution::{MAX_CODES, MAX_RANGES, ResolutionRange, ResolutionTable};
pub use serial::Serial;
