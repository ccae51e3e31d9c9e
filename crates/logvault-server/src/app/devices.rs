//! Registering devices with their keys in custody, shared by the API and `logvault device add`.
//!
//! A new device gets a random 128-bit key from the operating system. It is sealed under the organisation's data key
//! (created, wrapped under the master-derived wrapping key, on the organisation's first device) and handed back once
//! for the firmware or simulator; nothing else ever returns it.

use logvault_core::custody::{self, CustodyError, DEVICE_KEY_LEN};
use logvault_core::{SubKey, envelope};
use logvault_protocol::Serial;
use logvault_store::{Device, NewDevice, OrgScope, Store, StoreError};
use zeroize::Zeroizing;

use crate::devices::DeviceModel;

/// Why a device could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("a serial is 1 to 32 characters of A-Z, a-z, 0-9 and -")]
    Serial,
    #[error("a device name is at most 100 printable characters")]
    Name,
    #[error("a device with this serial is already registered")]
    Taken,
    #[error("no such site in this organisation")]
    Site,
    #[error("invalid logger model: {0}")]
    Model(String),
    #[error("key custody failed")]
    Custody(#[source] CustodyError),
    #[error("database error")]
    Store(#[source] StoreError),
}

impl From<CustodyError> for RegisterError {
    fn from(err: CustodyError) -> RegisterError {
        RegisterError::Custody(err)
    }
}

impl From<envelope::EnvelopeError> for RegisterError {
    fn from(_: envelope::EnvelopeError) -> RegisterError {
        RegisterError::Custody(CustodyError::Open)
    }
}

/// The organisation's data key: unwrapped from storage, or made and stored on first use (if two requests race, both
/// use the one that was stored first).
pub async fn data_key(store: &dyn Store, wrapping_key: &SubKey, scope: &OrgScope) -> Result<SubKey, RegisterError> {
    let wrapped = match store.org_data_key(scope).await.map_err(RegisterError::Store)? {
        Some(wrapped) => wrapped,
        None => {
            let (_, wrapped) = custody::new_data_key(wrapping_key, scope.org_id())?;
            let now = crate::auth::now_us();
            store.put_org_data_key(scope, &wrapped, now).await.map_err(RegisterError::Store)?
        }
    };
    Ok(custody::unwrap_data_key(wrapping_key, scope.org_id(), &wrapped)?)
}

/// The organisation's existing data key, for paths that only read device keys (ingest, rotation, export,
/// verification): a missing one is an error, never a reason to make a new key (which would orphan every sealed key).
pub async fn existing_data_key(
    store: &dyn Store,
    wrapping_key: &SubKey,
    scope: &OrgScope,
) -> Result<SubKey, RegisterError> {
    let wrapped = store
        .org_data_key(scope)
        .await
        .map_err(RegisterError::Store)?
        .ok_or(RegisterError::Custody(CustodyError::Open))?;
    Ok(custody::unwrap_data_key(wrapping_key, scope.org_id(), &wrapped)?)
}

/// The data key of an ingest device's organisation, unwrapped from what the device lookup read along.
pub fn ingest_data_key(wrapping_key: &SubKey, device: &logvault_store::IngestDevice) -> Result<SubKey, RegisterError> {
    let wrapped = device.wrapped_data_key.as_deref().ok_or(RegisterError::Custody(CustodyError::Open))?;
    Ok(custody::unwrap_data_key(wrapping_key, device.org_id, wrapped)?)
}

/// Registers a device in `scope` with a fresh key; returns the device and its key, to be shown once.
pub async fn register(
    store: &dyn Store,
    wrapping_key: &SubKey,
    scope: &OrgScope,
    serial: &str,
    name: Option<&str>,
    site_id: Option<i64>,
    model: Option<&DeviceModel>,
) -> Result<(Device, Zeroizing<[u8; DEVICE_KEY_LEN]>), RegisterError> {
    if let Some(model) = model {
        model.validate().map_err(RegisterError::Model)?;
    }
    let model = model.map(serde_json::to_string).transpose().map_err(|err| RegisterError::Model(err.to_string()))?;
    let serial = Serial::parse(serial).map_err(|_| RegisterError::Serial)?;
    let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(serial.as_str()).to_owned();
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(RegisterError::Name);
    }
    let data_key = data_key(store, wrapping_key, scope).await?;
    let key = custody::new_device_key()?;
    let key_sealed = custody::seal_device_key(&data_key, scope.org_id(), serial.as_str(), 0, &key)?;
    let new = NewDevice {
        serial: serial.as_str().to_owned(),
        name,
        site_id,
        model,
        key_sealed,
        now_us: crate::auth::now_us(),
    };
    let device = match store.create_device(scope, new).await {
        Ok(device) => device,
        Err(StoreError::Conflict { .. }) => return Err(RegisterError::Taken),
        Err(StoreError::NotFound { entity: "site" }) => return Err(RegisterError::Site),
        Err(err) => return Err(RegisterError::Store(err)),
    };
    Ok((device, key))
}
