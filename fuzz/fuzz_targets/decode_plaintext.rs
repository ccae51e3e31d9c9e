//! Fuzz target: the plaintext decoder (decompressor and parser) on arbitrary bytes.
//!
//! This is the code an attacker reaches only with a valid MAC, i.e. a compromised device
//! key; it must still never panic, allocate without bound, or accept two encodings that
//! decode differently from what they re-encode to.

#![no_main]

use libfuzzer_sys::fuzz_target;
use logvault_protocol::{Serial, decode_plaintext, encode_plaintext};

fuzz_target!(|data: &[u8]| {
    let Ok(serial) = Serial::parse("FUZZ-1") else { return };
    if let Ok(block) = decode_plaintext(data, serial.clone()) {
        let again = decode_plaintext(&encode_plaintext(&block), serial);
        assert_eq!(again.as_ref(), Ok(&block), "re-encoding changed the block");
    }
});
