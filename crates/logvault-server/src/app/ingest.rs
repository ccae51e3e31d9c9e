//! Ingest, whatever the transport: verify → validate → keep one sealed block.
//!
//! The serial (the only clear field) finds the device and its sealed key; only the newest key generation
//! authenticates; the organisation's data key opens the device key; the tag is verified in constant time before
//! anything is decrypted; the opened block is validated (times, values, counter, logger model); and the store keeps
//! it as the next link of the device's chain and each of its samples once. Unknown serial, bad MAC and undecodable
//! input do the same work (a dummy verification under a key nobody has), and every refusal is audited with its
//! [`IngestRejection`] — never the payload. The HTTP route, and later MQTT, LoRaWAN or the command line, frame the
//! bytes, throttle their clients and render the answer.

use std::sync::Arc;

use logvault_core::SubKey;
use logvault_core::audit::{AuditAction, INSTANCE_CHAIN, NewEntry, Outcome};
use logvault_core::blockchain::Source;
use logvault_core::custody;
use logvault_protocol::{DeviceKey, Envelope, Quantity};
use logvault_store::{IncomingBlock, IncomingSample, IngestOutcome, Store, StoreError};

use crate::auth::now_us;

/// How far ahead of the server's clock a device's sample time may be.
pub const CLOCK_SKEW_S: i64 = 300;
/// No logger sampled before 2000-01-01.
const EARLIEST_S: i64 = 946_684_800;

/// Why a block was refused. The strings are stable: they reach the audit log (`reason:…`) and the ingest metric.
/// Never shown to the client, who gets one and the same answer for every refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestRejection {
    /// Not a sealed block (bad framing, bad link text, truncated envelope).
    Undecodable,
    UnknownDevice,
    /// Sealed with an older key generation and not a block already kept: rotating a key retires the old one for new
    /// blocks (an identical, already kept block is answered as a duplicate instead).
    RetiredKey,
    UnknownKey,
    /// The tag did not verify under the device's key.
    AuthenticationFailed,
    /// The tag verified, but decryption, padding, decoding or the IV check failed: a firmware bug or a leaked key,
    /// not a forgery by someone without the key.
    Malformed,
    /// More samples than the logger model's memory holds.
    MemoryCapacityExceeded,
    ImplausibleCounter,
    ImplausibleTime,
    ValueOutOfRange,
    ChannelsDifferFromModel,
    /// The counter was used before by a block with other content (a cloned device or a replayed forgery).
    CounterReused,
    /// The counter contradicts the block's time (a reordered forgery or a firmware bug).
    CounterTimeMismatch,
    ChannelLayoutChanged,
}

/// A refused block: the reason, and the serial and organisation when the envelope named a registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub serial: Option<String>,
    pub org_id: Option<i64>,
    pub reason: IngestRejection,
}

/// What an accepted block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub serial: String,
    /// Samples stored for the first time.
    pub new: u64,
    /// Samples already stored (from an overlapping block).
    pub duplicates: u64,
    /// The very block was already kept (a phone or gateway sent it again): nothing was written.
    pub repeated: bool,
}

/// Who handed the block over, for the chain and the audit entry.
#[derive(Debug, Clone)]
pub struct Client {
    pub source: Source,
    pub request_id: Option<String>,
}

/// Why ingest failed on the server's side (not the block's fault).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("database error")]
    Store(#[from] StoreError),
    #[error("key custody failed")]
    Custody(#[source] anyhow::Error),
    #[error("the device's stored logger model does not parse")]
    Model(#[source] serde_json::Error),
}

/// The ingest service: cheap to clone, one per server.
#[derive(Clone)]
pub struct Ingest {
    store: Arc<dyn Store>,
    data_key_wrap: Arc<SubKey>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The wrapping key stays out of every log line.
        f.debug_struct("Ingest").field("store", &self.store).finish_non_exhaustive()
    }
}

impl IngestRejection {
    /// The stable string of the audit detail and the metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            IngestRejection::Undecodable => "undecodable",
            IngestRejection::UnknownDevice => "unknown-device",
            IngestRejection::RetiredKey => "retired-key",
            IngestRejection::UnknownKey => "unknown-key",
            IngestRejection::AuthenticationFailed => "authentication-failed",
            IngestRejection::Malformed => "malformed",
            IngestRejection::MemoryCapacityExceeded => "memory-capacity-exceeded",
            IngestRejection::ImplausibleCounter => "implausible-counter",
            IngestRejection::ImplausibleTime => "implausible-time",
            IngestRejection::ValueOutOfRange => "value-out-of-range",
            IngestRejection::ChannelsDifferFromModel => "channels-differ-from-model",
            IngestRejection::CounterReused => "counter-reused",
            IngestRejection::CounterTimeMismatch => "counter-time-mismatch",
            IngestRejection::ChannelLayoutChanged => "channel-layout-changed",
        }
    }

    /// The audit action of the refusal: a reused counter and a counter that contradicts the block's time are security
    /// events of their own.
    pub const fn audit_action(self) -> AuditAction {
        match self {
            IngestRejection::CounterReused => AuditAction::IngestCounterReused,
            IngestRejection::CounterTimeMismatch => AuditAction::IngestCounterImplausible,
            _ => AuditAction::IngestRejected,
        }
    }
}

impl std::fmt::Display for IngestRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Refused {
    fn anonymous(reason: IngestRejection) -> Refused {
        Refused { serial: None, org_id: None, reason }
    }
}

impl Ingest {
    pub fn new(store: Arc<dyn Store>, data_key_wrap: Arc<SubKey>) -> Ingest {
        Ingest { store, data_key_wrap }
    }

    /// Verifies, opens, validates and keeps one block received at `now` (Unix µs). A refusal is audited before it is
    /// returned; an `Err` is the server's failure, and nothing about the block was recorded.
    pub async fn keep(
        &self,
        raw: Vec<u8>,
        client: &Client,
        now: i64,
    ) -> Result<Result<Accepted, Refused>, IngestError> {
        match self.verify_and_keep(raw, client.source, now).await? {
            Ok(accepted) => Ok(Ok(accepted)),
            Err(refused) => {
                self.record_refusal(&refused, client).await?;
                Ok(Err(refused))
            }
        }
    }

    /// Verifies, opens, validates and keeps one block like [`Ingest::keep`], but records nothing about a refusal:
    /// for a client whose failure allowance is spent, whose refusals are answered `429` and no longer audited one by
    /// one (so a flood of forgeries cannot fill the audit trail), while a block that verifies is still kept.
    pub async fn keep_unaudited(
        &self,
        raw: Vec<u8>,
        client: &Client,
        now: i64,
    ) -> Result<Result<Accepted, Refused>, IngestError> {
        self.verify_and_keep(raw, client.source, now).await
    }

    /// Refuses, and audits, input the transport could not even frame as bytes of a block (e.g. a bad link text).
    pub async fn refuse_undecodable(&self, client: &Client) -> Result<Refused, IngestError> {
        let refused = Refused::anonymous(IngestRejection::Undecodable);
        self.record_refusal(&refused, client).await?;
        Ok(refused)
    }

    async fn verify_and_keep(
        &self,
        raw: Vec<u8>,
        source: Source,
        now: i64,
    ) -> Result<Result<Accepted, Refused>, IngestError> {
        let Ok(envelope) = Envelope::parse(&raw) else {
            return Ok(Err(self.refuse_unparsable(&raw).await?));
        };
        let serial = envelope.serial().as_str().to_owned();
        let generation = envelope.key_generation().0;
        let Some(device) = self.store.ingest_device(&serial).await? else {
            // The same work as for a known device: one MAC verification, under a key nobody has.
            let _ = envelope.open(&DeviceKey::from_bytes([0; 16]));
            return Ok(Err(Refused { serial: Some(serial), org_id: None, reason: IngestRejection::UnknownDevice }));
        };
        // Only the newest key generation authenticates new blocks: rotating a key retires the old one (kept to verify
        // the blocks it sealed, and to recognise one of them sent again).
        let newest = device.keys.iter().map(|key| key.generation).max();
        let retired = newest != Some(generation);
        let refused = |reason| Refused { serial: Some(serial.clone()), org_id: Some(device.org_id), reason };
        let Some(sealed) =
            device.keys.iter().find(|key| key.generation == generation).map(|key| key.key_sealed.clone())
        else {
            let _ = envelope.open(&DeviceKey::from_bytes([0; 16]));
            return Ok(Err(refused(IngestRejection::UnknownKey)));
        };
        let data_key = crate::app::devices::ingest_data_key(&self.data_key_wrap, &device)
            .map_err(|err| IngestError::Custody(err.into()))?;
        let key = custody::open_device_key(&data_key, device.org_id, &serial, generation, &sealed)
            .map_err(|err| IngestError::Custody(err.into()))?;
        let key = DeviceKey::from_bytes(*key);
        let Ok(authentic) = envelope.verify(&key) else {
            return Ok(Err(refused(IngestRejection::AuthenticationFailed)));
        };
        let Ok(block) = authentic.open() else {
            return Ok(Err(refused(IngestRejection::Malformed)));
        };
        if retired {
            // A retired generation adds nothing; the very bytes of a block already kept (a QR code shown before the
            // rotation, scanned again) get the answer they got the first time.
            return Ok(match self.already_kept(device.device_id, block.counter(), &raw).await? {
                true => Ok(Accepted { serial, new: 0, duplicates: count(block.samples().len()), repeated: true }),
                false => Err(refused(IngestRejection::RetiredKey)),
            });
        }
        let Ok(counter) = i64::try_from(block.counter()) else {
            return Ok(Err(refused(IngestRejection::ImplausibleCounter)));
        };
        let newest_allowed = now / 1_000_000 + CLOCK_SKEW_S;
        if block.samples().iter().any(|s| s.time > newest_allowed || s.time < EARLIEST_S) {
            return Ok(Err(refused(IngestRejection::ImplausibleTime)));
        }
        let ranges: Vec<(i32, i32)> = block.channels().iter().map(|c| sensor_range(c.quantity)).collect();
        let out_of_range =
            block.samples().iter().any(|s| s.values.iter().zip(&ranges).any(|(v, (lo, hi))| v < lo || v > hi));
        if out_of_range {
            return Ok(Err(refused(IngestRejection::ValueOutOfRange)));
        }
        // A device registered with a logger model accepts exactly its channels and resolution tables.
        if let Some(model) = device.model.as_deref() {
            let model: crate::devices::DeviceModel = serde_json::from_str(model).map_err(IngestError::Model)?;
            if !model.matches(block.channels()) {
                return Ok(Err(refused(IngestRejection::ChannelsDifferFromModel)));
            }
            // A block is a window of the logger's memory, so it never holds more samples than that memory.
            if block.samples().len() > usize::try_from(model.memory.capacity).unwrap_or(usize::MAX) {
                return Ok(Err(refused(IngestRejection::MemoryCapacityExceeded)));
            }
        }
        let channel_layout = block.channels().iter().map(|c| quantity_name(c.quantity)).collect::<Vec<_>>().join(",");
        let samples =
            block.samples().iter().map(|s| IncomingSample { t_s: s.time, values: s.values.clone() }).collect();
        let incoming = IncomingBlock {
            device_id: device.device_id,
            serial: serial.clone(),
            counter,
            key_generation: generation,
            raw,
            received_at_us: now,
            source,
            channel_layout,
            samples,
        };
        let accepted = match self.store.store_block(incoming).await? {
            IngestOutcome::Stored { new, duplicates } => Accepted { serial, new, duplicates, repeated: false },
            IngestOutcome::Duplicate { samples } => Accepted { serial, new: 0, duplicates: samples, repeated: true },
            IngestOutcome::CounterReused => return Ok(Err(refused(IngestRejection::CounterReused))),
            IngestOutcome::CounterImplausible => return Ok(Err(refused(IngestRejection::CounterTimeMismatch))),
            IngestOutcome::LayoutChanged => return Ok(Err(refused(IngestRejection::ChannelLayoutChanged))),
        };
        Ok(Ok(accepted))
    }

    /// The refusal of bytes that are not a version-1 envelope. If they name a registered serial where version 1 puts
    /// it, the refusal goes to that device's organisation's audit trail (as API.md promises for every refusal of a
    /// registered serial); otherwise it stays anonymous on the instance chain.
    async fn refuse_unparsable(&self, raw: &[u8]) -> Result<Refused, IngestError> {
        let Some(serial) = Envelope::claimed_serial(raw) else {
            return Ok(Refused::anonymous(IngestRejection::Undecodable));
        };
        let serial = serial.as_str().to_owned();
        Ok(match self.store.device_org(&serial).await? {
            Some(org_id) => {
                Refused { serial: Some(serial), org_id: Some(org_id), reason: IngestRejection::Undecodable }
            }
            None => Refused::anonymous(IngestRejection::Undecodable),
        })
    }

    /// Whether the device keeps exactly these bytes under this counter (one index lookup in the store).
    async fn already_kept(&self, device_id: i64, counter: u64, raw: &[u8]) -> Result<bool, IngestError> {
        let Ok(counter) = i64::try_from(counter) else { return Ok(false) };
        Ok(self.store.block_is_kept(device_id, counter, raw).await?)
    }

    /// An audit entry for a refused block: on the device's organisation's chain if the serial is registered, else on
    /// the instance chain.
    async fn record_refusal(&self, refused: &Refused, client: &Client) -> Result<(), IngestError> {
        let target = refused.serial.as_ref().map(|serial| format!("device:{serial}"));
        self.store
            .append_audit(NewEntry {
                chain_id: refused.org_id.unwrap_or(INSTANCE_CHAIN),
                occurred_at_us: now_us(),
                actor: "device".to_owned(),
                action: refused.reason.audit_action().into(),
                target,
                outcome: Outcome::Denied,
                request_id: client.request_id.clone(),
                detail: Some(format!("reason:{}", refused.reason)),
            })
            .await?;
        Ok(())
    }
}

/// What a sensor of this quantity can plausibly report, in thousandths of its unit.
fn sensor_range(quantity: Quantity) -> (i32, i32) {
    match quantity {
        Quantity::Temperature => (-200_000, 200_000),
        Quantity::RelativeHumidity => (0, 100_000),
        _ => (i32::MIN, i32::MAX),
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn quantity_name(quantity: Quantity) -> &'static str {
    match quantity {
        Quantity::Temperature => "temperature",
        Quantity::RelativeHumidity => "relative_humidity",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rejection_keeps_the_string_the_audit_log_and_metrics_already_hold() {
        let all = [
            (IngestRejection::Undecodable, "undecodable", AuditAction::IngestRejected),
            (IngestRejection::UnknownDevice, "unknown-device", AuditAction::IngestRejected),
            (IngestRejection::RetiredKey, "retired-key", AuditAction::IngestRejected),
            (IngestRejection::UnknownKey, "unknown-key", AuditAction::IngestRejected),
            (IngestRejection::AuthenticationFailed, "authentication-failed", AuditAction::IngestRejected),
            (IngestRejection::Malformed, "malformed", AuditAction::IngestRejected),
            (IngestRejection::MemoryCapacityExceeded, "memory-capacity-exceeded", AuditAction::IngestRejected),
            (IngestRejection::ImplausibleCounter, "implausible-counter", AuditAction::IngestRejected),
            (IngestRejection::ImplausibleTime, "implausible-time", AuditAction::IngestRejected),
            (IngestRejection::ValueOutOfRange, "value-out-of-range", AuditAction::IngestRejected),
            (IngestRejection::ChannelsDifferFromModel, "channels-differ-from-model", AuditAction::IngestRejected),
            (IngestRejection::CounterReused, "counter-reused", AuditAction::IngestCounterReused),
            (IngestRejection::CounterTimeMismatch, "counter-time-mismatch", AuditAction::IngestCounterImplausible),
            (IngestRejection::ChannelLayoutChanged, "channel-layout-changed", AuditAction::IngestRejected),
        ];
        for (rejection, text, action) in all {
            assert_eq!(rejection.as_str(), text);
            assert_eq!(rejection.to_string(), text);
            assert_eq!(rejection.audit_action(), action);
        }
    }
}
