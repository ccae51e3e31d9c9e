//! Keys and manifests: seeds, public key forms, the encoding and its canonical-form check.

use logvault_export::{ManifestError, PublicKey, SignedManifest, SigningKey};

use crate::{csv_export, server_key};

#[test]
fn a_generated_key_comes_back_from_its_seed() {
    let (key, seed) = SigningKey::generate().unwrap();
    let (other, other_seed) = SigningKey::generate().unwrap();
    assert_ne!(*seed, *other_seed);
    assert_ne!(key.public_key(), other.public_key());
    assert_eq!(SigningKey::from_seed(&seed).unwrap().public_key(), key.public_key());
}

#[test]
fn a_signing_keys_debug_shows_its_fingerprint_and_not_its_seed() {
    let seed = [0xA5u8; 32];
    let key = SigningKey::from_seed(&seed).unwrap();
    let debug = format!("{key:?}");
    assert!(debug.contains(&key.public_key().fingerprint()), "{debug}");
    assert!(!debug.contains(&hex::encode(seed)) && !debug.to_lowercase().contains("a5a5"), "{debug}");
}

#[test]
fn public_keys_parse_from_base64url_and_from_hex() {
    let key = server_key().public_key();
    let base64 = key.to_base64();
    assert_eq!(base64.len(), 43);
    assert_eq!(PublicKey::parse(&base64).unwrap(), key);
    assert_eq!(PublicKey::parse(&hex::encode(key.as_bytes())).unwrap(), key);
    assert_eq!(PublicKey::parse(&hex::encode(key.as_bytes()).to_uppercase()).unwrap(), key);
    assert_eq!(PublicKey::parse(&format!(" {base64}\n")).unwrap(), key);
    for bad in ["", "abc", &base64[..42], &format!("{base64}AA"), &"0".repeat(63), "ż".repeat(43).as_str()] {
        assert_eq!(PublicKey::parse(bad), Err(ManifestError::BadPublicKey), "{bad:?}");
    }
}

#[test]
fn a_fingerprint_is_the_first_16_hex_digits_of_the_keys_sha256() {
    use sha2::{Digest as _, Sha256};
    let key = server_key().public_key();
    assert_eq!(key.fingerprint(), hex::encode(Sha256::digest(key.as_bytes()))[..16]);
}

#[test]
fn an_encoded_manifest_decodes_to_the_same_manifest_and_signature() {
    let bytes = csv_export(&server_key());
    let text = std::str::from_utf8(&bytes).unwrap();
    let token = text.rsplit_once("#logvault-manifest,").unwrap().1.trim_end().trim_end_matches(',');
    let signed = SignedManifest::decode(token).unwrap();
    assert_eq!(signed.encode(), token);
    let resigned = SignedManifest::sign(signed.manifest.clone(), &server_key()).unwrap();
    assert_eq!(resigned, signed, "Ed25519 signatures are deterministic");
}

#[test]
fn a_manifest_of_another_version_is_reported_as_such() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes = csv_export(&server_key());
    let text = std::str::from_utf8(&bytes).unwrap();
    let token = text.rsplit_once("#logvault-manifest,").unwrap().1.trim_end().trim_end_matches(',');
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap();
    let future = URL_SAFE_NO_PAD.encode(json.replacen("\"version\":1", "\"version\":2", 1));
    assert_eq!(SignedManifest::decode(&future), Err(ManifestError::UnsupportedVersion(2)));
    let extra = URL_SAFE_NO_PAD.encode(json.replacen("\"version\":1", "\"version\":1,\"extra\":0", 1));
    assert!(matches!(SignedManifest::decode(&extra), Err(ManifestError::Malformed(_))));
    assert!(matches!(SignedManifest::decode("not base64!"), Err(ManifestError::Malformed(_))));
}
