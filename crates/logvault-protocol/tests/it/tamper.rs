//! Tampering: every altered block is rejected, always with the same opaque error.
//!
//! Some cases forge a block with a *valid* tag around a bad padding or a malformed
//! plaintext, using the key schedule documented in `docs/protocol.md` with the raw
//! primitives, to show that checks after the MAC fail in the same way as the MAC itself.

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, BlockModeEncrypt, KeyInit, KeyIvInit, block_padding::NoPadding};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use logvault_protocol::{DeviceKey, Envelope, KeyGeneration, OpenError, encode_plaintext, open, seal};
use sha2::Sha256;

use crate::fixtures::{fridge_block, key};

fn sealed_sample() -> Vec<u8> {
    seal(&fridge_block(40, 300, true, 9), &key(), KeyGeneration(1))
}

/// The one error every failure must produce.
fn rejected(result: Result<logvault_protocol::Block, OpenError>) -> Option<OpenError> {
    result.err()
}

#[test]
fn every_single_bit_flip_is_rejected_with_the_one_error() {
    let sealed = sealed_sample();
    let reference = rejected(open(&[], &key())).unwrap_or_else(|| panic!("empty input opened"));
    for bit_idx in 0..sealed.len() * 8 {
        let mut tampered = sealed.clone();
        tampered[bit_idx / 8] ^= 1 << (bit_idx % 8);
        assert_eq!(rejected(open(&tampered, &key())), Some(reference), "bit {bit_idx} flipped");
    }
}

#[test]
fn every_truncation_and_a_one_byte_extension_are_rejected() {
    let sealed = sealed_sample();
    for len in 0..sealed.len() {
        assert_eq!(open(&sealed[..len], &key()).err(), rejected(open(&[], &key())), "truncated to {len}");
    }
    for extra in [0u8, 1, 0x10, 0xFF] {
        let mut extended = sealed.clone();
        extended.push(extra);
        assert!(open(&extended, &key()).is_err(), "extended by {extra:#04x}");
    }
}

#[test]
fn a_swapped_serial_a_changed_key_generation_or_a_wrong_key_are_rejected() {
    let sealed = sealed_sample();
    let serial_len = usize::from(sealed[3]);
    // Same length, other device.
    let mut swapped = sealed.clone();
    swapped[4..4 + serial_len].copy_from_slice(b"LV-000043");
    assert!(open(&swapped, &key()).is_err());
    // Other length.
    let mut longer = sealed[..4].to_vec();
    longer[3] += 1;
    longer.extend_from_slice(b"LV-0000420");
    longer.extend_from_slice(&sealed[4 + serial_len..]);
    assert!(open(&longer, &key()).is_err());
    // Key generation is authenticated.
    let mut generation = sealed.clone();
    generation[2] ^= 1;
    assert!(open(&generation, &key()).is_err());
    // Wrong key.
    assert!(open(&sealed, &DeviceKey::from_bytes([0x55; 16])).is_err());
}

#[test]
fn unknown_versions_and_suites_are_rejected_before_any_key_is_needed() {
    let mut sealed = sealed_sample();
    assert!(Envelope::parse(&sealed).is_ok());
    sealed[0] = 2;
    assert!(Envelope::parse(&sealed).is_err());
    sealed[0] = 1;
    sealed[1] = 2;
    assert!(Envelope::parse(&sealed).is_err());
}

#[test]
fn the_envelope_reveals_serial_and_key_generation_for_the_key_lookup() {
    let sealed = sealed_sample();
    let envelope = Envelope::parse(&sealed).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(envelope.serial().as_str(), "LV-000042");
    assert_eq!(envelope.key_generation(), KeyGeneration(1));
    assert_eq!(envelope.open(&key()).map(|block| block.counter()), Ok(7));
}

/// Builds a sealed block around an arbitrary (already padded or not) byte string, with a
/// valid tag, following the documented construction.
fn forge_with_valid_tag(serial: &[u8], counter: u64, cipher_input: &[u8]) -> Vec<u8> {
    let hkdf = Hkdf::<Sha256>::new(Some(b"logvault block v1"), key().expose_secret());
    let mut enc = [0u8; 16];
    let mut mac_key = [0u8; 32];
    let mut iv_key = [0u8; 16];
    hkdf.expand(b"logvault v1 aes-128-cbc key", &mut enc).unwrap_or_else(|err| panic!("{err}"));
    hkdf.expand(b"logvault v1 hmac-sha-256 key", &mut mac_key).unwrap_or_else(|err| panic!("{err}"));
    hkdf.expand(b"logvault v1 iv key", &mut iv_key).unwrap_or_else(|err| panic!("{err}"));
    let mut iv = [0u8; 16];
    iv[8..].copy_from_slice(&counter.to_be_bytes());
    let mut iv_block = iv.into();
    Aes128::new(&iv_key.into()).encrypt_block(&mut iv_block);
    let iv: [u8; 16] = iv_block.into();
    let mut out = vec![1, 1, 0, serial.len() as u8];
    out.extend_from_slice(serial);
    out.extend_from_slice(&iv);
    let mut buffer = cipher_input.to_vec();
    let len = buffer.len();
    cbc::Encryptor::<Aes128>::new(&enc.into(), &iv.into())
        .encrypt_padded::<NoPadding>(&mut buffer, len)
        .unwrap_or_else(|err| panic!("{err:?}"));
    out.extend_from_slice(&buffer);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).unwrap_or_else(|err| panic!("{err}"));
    mac.update(&out);
    out.extend_from_slice(&mac.finalize().into_bytes()[..16]);
    out
}

fn pkcs7(mut bytes: Vec<u8>) -> Vec<u8> {
    let pad = 16 - bytes.len() % 16;
    bytes.extend(std::iter::repeat_n(pad as u8, pad));
    bytes
}

#[test]
fn the_forging_helper_reproduces_seal_exactly() {
    let block = fridge_block(30, 300, false, 4);
    let forged = forge_with_valid_tag(b"LV-000042", 7, &pkcs7(encode_plaintext(&block)));
    assert_eq!(forged, seal(&block, &key(), KeyGeneration(0)));
}

#[test]
fn authentic_blocks_with_bad_padding_bad_plaintext_or_a_foreign_iv_fail_like_a_bad_mac() {
    let block = fridge_block(30, 300, false, 4);
    let plaintext = encode_plaintext(&block);
    let bad_mac = open(&[1, 1, 0, 1, b'X'], &key()).err();
    let mut bad_padding = plaintext.clone();
    bad_padding.resize(plaintext.len().div_ceil(16) * 16 + 16, 0);
    let mut trailing = plaintext.clone();
    trailing.push(0);
    let mut truncated_plaintext = plaintext.clone();
    truncated_plaintext.truncate(plaintext.len() - 3);
    let cases = [
        ("padding of zeros", forge_with_valid_tag(b"LV-000042", 7, &bad_padding)),
        ("a trailing byte", forge_with_valid_tag(b"LV-000042", 7, &pkcs7(trailing))),
        ("a cut plaintext", forge_with_valid_tag(b"LV-000042", 7, &pkcs7(truncated_plaintext))),
        ("an IV of another counter", forge_with_valid_tag(b"LV-000042", 8, &pkcs7(plaintext.clone()))),
        ("an empty plaintext", forge_with_valid_tag(b"LV-000042", 7, &pkcs7(Vec::new()))),
    ];
    for (what, forged) in cases {
        assert_eq!(open(&forged, &key()).err(), bad_mac, "{what}");
    }
}

#[test]
fn the_error_message_says_nothing_about_the_cause() {
    let message = open(&[], &key()).err().map(|err| err.to_string());
    assert_eq!(message.as_deref(), Some("block rejected: not authentic or malformed"));
}

#[test]
fn a_block_with_a_valid_tag_around_a_malformed_plaintext_verifies_but_does_not_open() {
    let block = fridge_block(4, 300, false, 3);
    let mut plaintext = encode_plaintext(&block);
    plaintext.push(0); // a trailing byte: malformed, but sealed with the right key
    let sealed =
        logvault_protocol::seal_plaintext(block.serial(), block.counter(), &plaintext, &key(), KeyGeneration(1));
    let envelope = Envelope::parse(&sealed).expect("a well-formed header");
    let authentic = envelope.verify(&key()).expect("the tag is valid");
    assert_eq!(authentic.open().err(), rejected(open(&[], &key())));
    assert!(envelope.verify(&DeviceKey::from_bytes([7; 16])).is_err(), "a wrong key does not verify");
    // The canonical plaintext sealed the same way is exactly `seal`.
    let canonical = encode_plaintext(&block);
    assert_eq!(
        logvault_protocol::seal_plaintext(block.serial(), block.counter(), &canonical, &key(), KeyGeneration(1)),
        seal(&block, &key(), KeyGeneration(1))
    );
}

#[test]
fn the_claimed_serial_is_read_from_the_header_layout_whatever_the_version_says() {
    let mut sealed = sealed_sample();
    let serial = Envelope::parse(&sealed).expect("parses").serial().clone();
    sealed[0] = 2; // version 2: not an envelope this crate parses
    assert!(Envelope::parse(&sealed).is_err());
    assert_eq!(Envelope::claimed_serial(&sealed), Some(serial));
    assert_eq!(Envelope::claimed_serial(&[1, 1, 0, 5, b'A']), None, "shorter than its serial length");
    assert_eq!(Envelope::claimed_serial(&[1, 1, 0, 1, b'%']), None, "not a serial");
}
