//! `logvault verify`: re-checks everything ingest kept, from the stored raw blocks alone.
//!
//! For each device: every link of its hash chain (a changed, removed, inserted or reordered block breaks it), every
//! stored block's MAC under the device key of its generation (a block altered and re-chained by someone without the
//! key fails here), and every stored measurement against the block it came from (a changed value is not in it).

use std::collections::BTreeMap;

use logvault_core::SubKey;
use logvault_core::blockchain::{self, ChainedBlock};
use logvault_core::custody;
use logvault_protocol::{DeviceKey, Envelope};
use logvault_store::{Device, OrgScope, Store, StoreError};

/// What is wrong with one device's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    #[error("{0}")]
    Chain(#[from] blockchain::BlockChainBreak),
    #[error("device {serial}: block {seq} (counter {counter}) fails authentication under the device key")]
    Unauthentic { serial: String, seq: i64, counter: i64 },
    #[error("device {serial}: block {seq} has no key of generation {generation}")]
    MissingKey { serial: String, seq: i64, generation: u8 },
    #[error(
        "device {serial}: the measurement at {t_s} (channel {channel}) kept from block {seq} differs from the block"
    )]
    ChangedMeasurement { serial: String, seq: i64, t_s: i64, channel: i32 },
}

/// One device's result: how many blocks were checked, and the first finding if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    pub serial: String,
    pub blocks: usize,
    pub finding: Option<Finding>,
}

/// Verifies every device.
pub async fn verify_all(store: &dyn Store, wrapping_key: &SubKey) -> anyhow::Result<Vec<DeviceReport>> {
    let mut reports = Vec::new();
    for device in store.all_devices().await? {
        reports.push(verify_device(store, wrapping_key, &device).await?);
    }
    Ok(reports)
}

async fn verify_device(store: &dyn Store, wrapping_key: &SubKey, device: &Device) -> anyhow::Result<DeviceReport> {
    let (chain, head) = store.device_chain(device.id).await?;
    let report = |finding| DeviceReport { serial: device.serial.clone(), blocks: chain.len(), finding };
    if let Err(broken) = blockchain::verify_chain(&device.serial, &chain, head) {
        return Ok(report(Some(broken.into())));
    }
    let keys = match store.ingest_device(&device.serial).await? {
        Some(found) => found.keys,
        None => return Err(StoreError::NotFound { entity: "device" }.into()),
    };
    let scope = OrgScope::for_operator(device.org_id);
    let data_key = crate::devices::data_key(store, wrapping_key, &scope).await?;
    for block in &chain {
        if let Some(finding) = check_block(store, &data_key, device, &keys, block).await? {
            return Ok(report(Some(finding)));
        }
    }
    Ok(report(None))
}

async fn check_block(
    store: &dyn Store,
    data_key: &SubKey,
    device: &Device,
    keys: &[(u8, Vec<u8>)],
    block: &ChainedBlock,
) -> anyhow::Result<Option<Finding>> {
    let serial = device.serial.clone();
    let Some((_, sealed)) = keys.iter().find(|(g, _)| *g == block.key_generation) else {
        return Ok(Some(Finding::MissingKey { serial, seq: block.seq, generation: block.key_generation }));
    };
    let key = custody::open_device_key(data_key, device.org_id, &device.serial, block.key_generation, sealed)?;
    let opened = Envelope::parse(&block.raw).and_then(|envelope| envelope.open(&DeviceKey::from_bytes(*key)));
    let Ok(opened) = opened else {
        return Ok(Some(Finding::Unauthentic { serial, seq: block.seq, counter: block.counter }));
    };
    // What the block says, as a multiset of (time, channel, value); every kept measurement must be one of them.
    let mut carried: BTreeMap<(i64, i32, i32), usize> = BTreeMap::new();
    for sample in opened.samples() {
        for (channel, value) in sample.values.iter().enumerate() {
            *carried.entry((sample.time, i32::try_from(channel).unwrap_or(i32::MAX), *value)).or_default() += 1;
        }
    }
    for kept in store.block_measurements(device.id, block.seq).await? {
        match carried.get_mut(&(kept.t_s, kept.channel, kept.value)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => {
                return Ok(Some(Finding::ChangedMeasurement {
                    serial,
                    seq: block.seq,
                    t_s: kept.t_s,
                    channel: kept.channel,
                }));
            }
        }
    }
    Ok(None)
}
