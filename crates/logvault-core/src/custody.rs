//! Key custody: device keys are never stored in clear.
//!
//! Envelope encryption in two layers, both AES-256-GCM ([`crate::envelope`]):
//!
//! - each organisation has a random 256-bit **data key**, stored only wrapped under a key derived from the master
//!   key (which lives outside the database), with the organisation's id as associated data;
//! - each device key (128 random bits, one per key generation) is stored sealed under its organisation's data key,
//!   with the serial and generation as associated data, so a sealed key cannot be moved to another device, another
//!   generation or another organisation.
//!
//! A database copy without the master key therefore holds no usable device key, and rotating the master key means
//! re-wrapping one data key per organisation, not re-sealing every device key.

use zeroize::Zeroizing;

use crate::SubKey;
use crate::envelope::{self, EnvelopeError};

/// The master-key derivation label of the key that wraps organisation data keys.
pub const DATA_KEY_WRAP_PURPOSE: &str = "logvault/org-data-key-wrap/v1";

/// Length of a device key in bytes (AES-128 master key of the logger protocol).
pub const DEVICE_KEY_LEN: usize = 16;

/// A custody operation failed: the random source, or a wrapped/sealed value that does not open (wrong master key,
/// wrong organisation or device, or altered data — deliberately not told apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CustodyError {
    #[error("the operating system random number generator failed")]
    Random,
    #[error("a stored key could not be opened (wrong master key, or altered or misplaced data)")]
    Open,
}

impl From<EnvelopeError> for CustodyError {
    fn from(_: EnvelopeError) -> CustodyError {
        CustodyError::Open
    }
}

fn data_key_aad(org_id: i64) -> String {
    format!("logvault/org-data-key/v1;org:{org_id}")
}

fn device_key_aad(org_id: i64, serial: &str, generation: u8) -> String {
    format!("logvault/device-key/v1;org:{org_id};serial:{serial};generation:{generation}")
}

/// A new data key for organisation `org_id`: the key, and its wrapped form to store.
pub fn new_data_key(wrapping_key: &SubKey, org_id: i64) -> Result<(SubKey, Vec<u8>), CustodyError> {
    let data_key = SubKey::generate().map_err(|_| CustodyError::Random)?;
    let wrapped = envelope::seal(wrapping_key, data_key_aad(org_id).as_bytes(), data_key.expose())?;
    Ok((data_key, wrapped))
}

/// Unwraps organisation `org_id`'s stored data key.
pub fn unwrap_data_key(wrapping_key: &SubKey, org_id: i64, wrapped: &[u8]) -> Result<SubKey, CustodyError> {
    let bytes = envelope::open(wrapping_key, data_key_aad(org_id).as_bytes(), wrapped)?;
    let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CustodyError::Open)?;
    Ok(SubKey::from_bytes(array))
}

/// 128 random bits from the operating system: a new device key.
pub fn new_device_key() -> Result<Zeroizing<[u8; DEVICE_KEY_LEN]>, CustodyError> {
    let mut key = Zeroizing::new([0u8; DEVICE_KEY_LEN]);
    getrandom::fill(key.as_mut_slice()).map_err(|_| CustodyError::Random)?;
    Ok(key)
}

/// Seals a device key for storage under its organisation's data key.
pub fn seal_device_key(
    data_key: &SubKey,
    org_id: i64,
    serial: &str,
    generation: u8,
    key: &[u8; DEVICE_KEY_LEN],
) -> Result<Vec<u8>, CustodyError> {
    Ok(envelope::seal(data_key, device_key_aad(org_id, serial, generation).as_bytes(), key)?)
}

/// Opens a stored device key.
pub fn open_device_key(
    data_key: &SubKey,
    org_id: i64,
    serial: &str,
    generation: u8,
    sealed: &[u8],
) -> Result<Zeroizing<[u8; DEVICE_KEY_LEN]>, CustodyError> {
    let bytes = envelope::open(data_key, device_key_aad(org_id, serial, generation).as_bytes(), sealed)?;
    let array: [u8; DEVICE_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| CustodyError::Open)?;
    Ok(Zeroizing::new(array))
}

/// The master-key derivation label of the key protecting uploaded, not yet claimed loggers (their keys and claim
/// codes).
pub const MANUFACTURING_PURPOSE: &str = "logvault/manufacturing/v1";

fn unclaimed_aad(serial: &str) -> String {
    format!("logvault/unclaimed-device-key/v1;serial:{serial}")
}

/// Seals an uploaded logger's key until an organisation claims it.
pub fn seal_unclaimed_key(
    manufacturing_key: &SubKey,
    serial: &str,
    key: &[u8; DEVICE_KEY_LEN],
) -> Result<Vec<u8>, CustodyError> {
    Ok(envelope::seal(manufacturing_key, unclaimed_aad(serial).as_bytes(), key)?)
}

/// Opens an uploaded logger's key, to re-seal it for the organisation that claims it.
pub fn open_unclaimed_key(
    manufacturing_key: &SubKey,
    serial: &str,
    sealed: &[u8],
) -> Result<Zeroizing<[u8; DEVICE_KEY_LEN]>, CustodyError> {
    let bytes = envelope::open(manufacturing_key, unclaimed_aad(serial).as_bytes(), sealed)?;
    let array: [u8; DEVICE_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| CustodyError::Open)?;
    Ok(Zeroizing::new(array))
}

/// The stored form of a claim code: a keyed hash bound to the serial (compare in constant time).
pub fn claim_code_hash(manufacturing_key: &SubKey, serial: &str, claim_code: &str) -> [u8; 32] {
    crate::token::digest(&crate::token::bound_token(manufacturing_key, &format!("claim\0{serial}\0{claim_code}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MasterKey;

    fn wrapping_key() -> SubKey {
        let dir = tempfile::tempdir().unwrap();
        MasterKey::create(&dir.path().join("master.key")).unwrap().derive(DATA_KEY_WRAP_PURPOSE)
    }

    #[test]
    fn a_device_key_round_trips_only_for_its_organisation_serial_and_generation() {
        let kek = wrapping_key();
        let (data_key, wrapped) = new_data_key(&kek, 7).unwrap();
        let device_key = new_device_key().unwrap();
        let sealed = seal_device_key(&data_key, 7, "LV-0001", 0, &device_key).unwrap();
        assert!(!sealed.windows(DEVICE_KEY_LEN).any(|w| w == device_key.as_slice()), "sealed, not stored in clear");

        let unwrapped = unwrap_data_key(&kek, 7, &wrapped).unwrap();
        assert_eq!(*open_device_key(&unwrapped, 7, "LV-0001", 0, &sealed).unwrap(), *device_key);
        for (org, serial, generation) in [(8, "LV-0001", 0), (7, "LV-0002", 0), (7, "LV-0001", 1)] {
            assert_eq!(open_device_key(&unwrapped, org, serial, generation, &sealed), Err(CustodyError::Open));
        }
        assert_eq!(unwrap_data_key(&kek, 8, &wrapped).err(), Some(CustodyError::Open), "another organisation's");
        assert_eq!(unwrap_data_key(&wrapping_key(), 7, &wrapped).err(), Some(CustodyError::Open), "another master");
        let mut altered = sealed.clone();
        altered[20] ^= 1;
        assert_eq!(open_device_key(&unwrapped, 7, "LV-0001", 0, &altered), Err(CustodyError::Open));
    }

    #[test]
    fn device_keys_are_random() {
        assert_ne!(*new_device_key().unwrap(), *new_device_key().unwrap());
    }
}
