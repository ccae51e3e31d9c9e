//! `logvault verify`: re-checks everything ingest kept, from the stored raw blocks alone.
//!
//! For each device: every link of its hash chain (a changed, removed, inserted or reordered block breaks it), every
//! stored block's MAC under the device key of its generation (a block altered and re-chained by someone without the
//! key fails here), and the stored measurements against what the blocks produce when kept again in chain order, row
//! for row (a changed, removed or added measurement differs).

use logvault_core::SubKey;
use logvault_core::blockchain::{self, ChainedBlock};
use logvault_core::custody;
use logvault_protocol::{DeviceKey, Envelope};
use logvault_store::ingest::{self, KeptRow};
use logvault_store::{Device, IncomingSample, SealedKey, Store, StoreError};

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
    #[error("device {serial}: the measurement at {t_s} (channel {channel}) of block {seq} is missing")]
    MissingMeasurement { serial: String, seq: i64, t_s: i64, channel: i32 },
    #[error(
        "device {serial}: a measurement at {t_s} (channel {channel}) attributed to block {seq} is not in any block"
    )]
    ExtraMeasurement { serial: String, seq: i64, t_s: i64, channel: i32 },
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

pub async fn verify_device(store: &dyn Store, wrapping_key: &SubKey, device: &Device) -> anyhow::Result<DeviceReport> {
    let logvault_store::DeviceChain { blocks: chain, head, anchor } = store.device_chain(device.id).await?;
    let report = |finding| DeviceReport { serial: device.serial.clone(), blocks: chain.len(), finding };
    if let Err(broken) = blockchain::verify_chain_from(&device.serial, anchor.as_ref(), &chain, head) {
        return Ok(report(Some(broken.into())));
    }
    let Some(custody) = store.ingest_device(&device.serial).await? else {
        return Err(StoreError::NotFound { entity: "device" }.into());
    };
    let mut opened = Vec::with_capacity(chain.len());
    if !chain.is_empty() {
        let data_key = crate::app::devices::ingest_data_key(wrapping_key, &custody)?;
        for block in &chain {
            match open_block(&data_key, device, &custody.keys, block)? {
                Ok(samples) => opened.push((block.seq, samples)),
                Err(finding) => return Ok(report(Some(finding))),
            }
        }
    }
    // What ingest would have kept from these blocks, row for row, against what is stored.
    let expected = ingest::replay(&opened);
    let stored = store.device_measurements(device.id).await?;
    let Some(anchor) = anchor else { return Ok(report(compare(&device.serial, &expected, &stored))) };
    // Up to the last purged sample, a retained block may repeat samples whose rows left with the purged block that
    // kept them first: there, every stored row must come from its block, but a row the blocks produce may be gone.
    let edge = |row: &KeptRow| row.t_s <= anchor.purged_through_s;
    let (expected_edge, expected): (Vec<KeptRow>, Vec<KeptRow>) = expected.into_iter().partition(edge);
    let (stored_edge, stored): (Vec<KeptRow>, Vec<KeptRow>) = stored.into_iter().partition(edge);
    let finding = compare_edge(&device.serial, &expected_edge, &stored_edge)
        .or_else(|| compare(&device.serial, &expected, &stored));
    Ok(report(finding))
}

/// Before the purged point: each stored row must be one the retained blocks produce (same block, time, channel and
/// value; the ordinal may differ where the purged block held other samples of that second).
fn compare_edge(serial: &str, expected: &[KeptRow], stored: &[KeptRow]) -> Option<Finding> {
    let mut unmatched: std::collections::BTreeMap<(i64, i64, i32, i32), usize> = std::collections::BTreeMap::new();
    for row in expected {
        *unmatched.entry((row.seq, row.t_s, row.channel, row.value)).or_default() += 1;
    }
    for row in stored {
        match unmatched.get_mut(&(row.seq, row.t_s, row.channel, row.value)) {
            Some(count) if *count > 0 => *count -= 1,
            _ => {
                return Some(Finding::ExtraMeasurement {
                    serial: serial.to_owned(),
                    seq: row.seq,
                    t_s: row.t_s,
                    channel: row.channel,
                });
            }
        }
    }
    None
}

/// Opens one stored block under the key of its generation: its samples, or why it does not open.
fn open_block(
    data_key: &SubKey,
    device: &Device,
    keys: &[SealedKey],
    block: &ChainedBlock,
) -> anyhow::Result<Result<Vec<IncomingSample>, Finding>> {
    let serial = device.serial.clone();
    let Some(sealed) = keys.iter().find(|key| key.generation == block.key_generation).map(|key| &key.key_sealed) else {
        return Ok(Err(Finding::MissingKey { serial, seq: block.seq, generation: block.key_generation }));
    };
    let key = custody::open_device_key(data_key, device.org_id, &device.serial, block.key_generation, sealed)?;
    let opened = Envelope::parse(&block.raw).and_then(|envelope| envelope.open(&DeviceKey::from_bytes(*key)));
    let Ok(opened) = opened else {
        return Ok(Err(Finding::Unauthentic { serial, seq: block.seq, counter: block.counter }));
    };
    Ok(Ok(opened.samples().iter().map(|s| IncomingSample { t_s: s.time, values: s.values.clone() }).collect()))
}

/// The first difference between the rows the blocks produce and the rows stored, both ordered by
/// (time, ordinal, channel).
fn compare(serial: &str, expected: &[KeptRow], stored: &[KeptRow]) -> Option<Finding> {
    // Where a row stands in that order.
    let place = |row: &KeptRow| (row.t_s, row.ordinal, row.channel);
    let serial = serial.to_owned();
    let mut expected = expected.iter().peekable();
    let mut stored = stored.iter().peekable();
    loop {
        match (expected.peek(), stored.peek()) {
            (None, None) => return None,
            (Some(e), Some(s)) if e == s => {
                expected.next();
                stored.next();
            }
            (Some(e), Some(s)) if place(e) == place(s) => {
                return Some(Finding::ChangedMeasurement { serial, seq: s.seq, t_s: s.t_s, channel: s.channel });
            }
            (Some(e), Some(s)) if place(e) < place(s) => {
                return Some(Finding::MissingMeasurement { serial, seq: e.seq, t_s: e.t_s, channel: e.channel });
            }
            (Some(e), None) => {
                return Some(Finding::MissingMeasurement { serial, seq: e.seq, t_s: e.t_s, channel: e.channel });
            }
            (_, Some(s)) => {
                return Some(Finding::ExtraMeasurement { serial, seq: s.seq, t_s: s.t_s, channel: s.channel });
            }
        }
    }
}
