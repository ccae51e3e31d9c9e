//! The server's export-signing key: an Ed25519 key made on first start, its seed kept sealed (AES-256-GCM) under a
//! key derived from the master key, its public half published at `GET /api/v1/signing-key`.
//!
//! The oldest key in the store signs. Two servers on one PostgreSQL database that start at the same moment may both
//! add a key; both then sign with the older one, and the other stays harmless. Keys are never changed or removed
//! (the database refuses it), so every export ever signed stays verifiable against what the server published.

use anyhow::Context;
use logvault_core::{MasterKey, envelope};
use logvault_export::{PublicKey, SigningKey};
use logvault_store::{Store, StoreError};

/// The master key derivation label of the key sealing the signing key's seed.
pub const SIGNING_SEAL_PURPOSE: &str = "logvault/export-signing-seal/v1";
/// Additional data bound to the sealed seed, so it cannot be swapped with another sealed value.
const SEED_AAD: &[u8] = b"logvault export signing key seed v1";

/// The signing key, and every public key the server has signed with (oldest first).
#[derive(Debug)]
pub struct SigningKeys {
    pub signing: SigningKey,
    pub published: Vec<PublicKey>,
}

/// Loads the server's signing key, making one if there is none yet.
pub async fn load_or_create(store: &dyn Store, master_key: &MasterKey) -> anyhow::Result<SigningKeys> {
    let seal_key = master_key.derive(SIGNING_SEAL_PURPOSE);
    let mut records = store.signing_keys().await.context("could not read the signing keys")?;
    if records.is_empty() {
        let (key, seed) = SigningKey::generate().context("could not make a signing key")?;
        let sealed = envelope::seal(&seal_key, SEED_AAD, seed.as_slice())
            .map_err(|_| anyhow::anyhow!("could not seal the signing key"))?;
        match store.add_signing_key(key.public_key().as_bytes(), &sealed, crate::auth::now_us()).await {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(err) => return Err(err).context("could not keep the signing key"),
        }
        records = store.signing_keys().await.context("could not read the signing keys")?;
    }
    let oldest = records.first().context("no signing key after adding one")?;
    let seed = envelope::open(&seal_key, SEED_AAD, &oldest.seed_sealed)
        .map_err(|_| anyhow::anyhow!("the signing key does not open under this master key"))?;
    anyhow::ensure!(seed.len() == 32, "the sealed signing key is not 32 bytes");
    let mut seed_array = zeroize::Zeroizing::new([0u8; 32]);
    seed_array.copy_from_slice(&seed);
    let signing = SigningKey::from_seed(&seed_array).context("the stored signing key is not an Ed25519 seed")?;
    anyhow::ensure!(
        signing.public_key().as_bytes().as_slice() == oldest.public_key.as_slice(),
        "the stored signing key does not match its public key"
    );
    let published = records
        .iter()
        .filter_map(|record| <[u8; 32]>::try_from(record.public_key.as_slice()).ok().map(PublicKey::from_bytes))
        .collect();
    Ok(SigningKeys { signing, published })
}
