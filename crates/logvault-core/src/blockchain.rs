//! The per-device hash chain over accepted blocks:
//! `block_hash = SHA-256(prev_hash ‖ "logvault-block-v1" ‖ receipt metadata ‖ raw block)`.
//!
//! Each accepted block links to the one accepted before it for the same device, so a removed, inserted, reordered
//! or altered block breaks the chain at that point, and [`verify_chain`] names it.

use sha2::{Digest, Sha256};

/// The `prev_hash` of a device's first block.
pub const GENESIS: [u8; 32] = [0; 32];

/// Where a block came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A phone that opened a logger's QR link.
    Qr,
    /// A gateway posting a batch.
    Gateway,
    /// A direct API upload.
    Api,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Qr => "qr",
            Source::Gateway => "gateway",
            Source::Api => "api",
        }
    }

    pub fn parse(raw: &str) -> Option<Source> {
        match raw {
            "qr" => Some(Source::Qr),
            "gateway" => Some(Source::Gateway),
            "api" => Some(Source::Api),
            _ => None,
        }
    }
}

/// One link of a device's chain, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedBlock {
    pub serial: String,
    /// Position in the device's chain, from 1.
    pub seq: i64,
    pub counter: i64,
    pub key_generation: u8,
    pub received_at_us: i64,
    pub source: Source,
    pub raw: Vec<u8>,
    pub prev_hash: [u8; 32],
    pub block_hash: [u8; 32],
}

/// The hash of a block given the previous link's hash and its receipt metadata.
#[allow(clippy::too_many_arguments, reason = "each field is hashed; a struct would only rename them")]
pub fn block_hash(
    prev_hash: &[u8; 32],
    serial: &str,
    seq: i64,
    counter: i64,
    key_generation: u8,
    received_at_us: i64,
    source: Source,
    raw: &[u8],
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(b"logvault-block-v1");
    for field in [serial.as_bytes(), source.as_str().as_bytes()] {
        hasher.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
        hasher.update(field);
    }
    hasher.update(seq.to_be_bytes());
    hasher.update(counter.to_be_bytes());
    hasher.update([key_generation]);
    hasher.update(received_at_us.to_be_bytes());
    hasher.update(u64::try_from(raw.len()).unwrap_or(u64::MAX).to_be_bytes());
    hasher.update(raw);
    hasher.finalize().into()
}

impl ChainedBlock {
    pub fn compute_hash(&self) -> [u8; 32] {
        block_hash(
            &self.prev_hash,
            &self.serial,
            self.seq,
            self.counter,
            self.key_generation,
            self.received_at_us,
            self.source,
            &self.raw,
        )
    }
}

/// Where a device's chain starts after a retention purge removed its oldest blocks: the first retained block's
/// position and the hash it must link to (the hash of the last purged block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainAnchor {
    /// The first retained position; the head's position plus one if every block was purged.
    pub seq: i64,
    /// The `prev_hash` the block at `seq` carries.
    pub prev_hash: [u8; 32],
    /// The last sample time of the purged blocks: measurement rows up to here may have left with them.
    pub purged_through_s: i64,
}

/// Where a device's chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockChainBreak {
    #[error("device {serial}: block {seq} (counter {counter}) was changed")]
    Altered { serial: String, seq: i64, counter: i64 },
    #[error("device {serial}: block {expected} is missing or out of order (found block {found} in its place)")]
    Gap { serial: String, expected: i64, found: i64 },
    #[error("device {serial}: block {seq} does not link to block {previous} (removed, inserted or reordered)")]
    BadLink { serial: String, seq: i64, previous: i64 },
    #[error("device {serial}: the chain ends at block {last} but its head says {head} (blocks removed at the end)")]
    Truncated { serial: String, last: i64, head: i64 },
    #[error("device {serial}: the last block's hash does not match the chain head")]
    HeadMismatch { serial: String },
}

/// Checks a device's blocks, in `seq` order, against each other and the stored head, from the genesis.
pub fn verify_chain(
    serial: &str,
    blocks: &[ChainedBlock],
    head: Option<(i64, [u8; 32])>,
) -> Result<(), BlockChainBreak> {
    verify_chain_from(serial, None, blocks, head)
}

/// Checks a device's blocks from `anchor` (the retained point after a purge) or, without one, from the genesis.
/// A chain that starts anywhere but at its anchor, or whose first block does not link to the anchor's hash, breaks.
pub fn verify_chain_from(
    serial: &str,
    anchor: Option<&ChainAnchor>,
    blocks: &[ChainedBlock],
    head: Option<(i64, [u8; 32])>,
) -> Result<(), BlockChainBreak> {
    let serial = serial.to_owned();
    let (first_seq, mut previous_hash) = anchor.map_or((1, GENESIS), |anchor| (anchor.seq, anchor.prev_hash));
    for (index, block) in blocks.iter().enumerate() {
        let expected = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(first_seq);
        if block.seq != expected {
            return Err(BlockChainBreak::Gap { serial, expected, found: block.seq });
        }
        if block.compute_hash() != block.block_hash {
            return Err(BlockChainBreak::Altered { serial, seq: block.seq, counter: block.counter });
        }
        if block.prev_hash != previous_hash {
            return Err(BlockChainBreak::BadLink { serial, seq: block.seq, previous: expected - 1 });
        }
        previous_hash = block.block_hash;
    }
    // With every block purged, the anchor's hash is the head's and the chain ends just before the anchor.
    let last = blocks.last().map_or(first_seq.saturating_sub(1), |b| b.seq);
    match head {
        None if blocks.is_empty() && anchor.is_none() => Ok(()),
        None => Err(BlockChainBreak::Truncated { serial, last, head: 0 }),
        Some((head_seq, _)) if head_seq != last => Err(BlockChainBreak::Truncated { serial, last, head: head_seq }),
        Some((_, head_hash)) if head_hash != previous_hash => Err(BlockChainBreak::HeadMismatch { serial }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<ChainedBlock> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let mut block = ChainedBlock {
                    serial: "LV-1".to_owned(),
                    seq,
                    counter: seq * 10,
                    key_generation: 0,
                    received_at_us: seq * 1_000,
                    source: Source::Qr,
                    raw: vec![u8::try_from(seq).unwrap(); 20],
                    prev_hash: prev,
                    block_hash: [0; 32],
                };
                block.block_hash = block.compute_hash();
                prev = block.block_hash;
                block
            })
            .collect()
    }

    fn head(blocks: &[ChainedBlock]) -> Option<(i64, [u8; 32])> {
        blocks.last().map(|b| (b.seq, b.block_hash))
    }

    #[test]
    fn an_intact_chain_verifies_and_each_kind_of_tampering_is_named() {
        let blocks = chain(4);
        let top = head(&blocks);
        assert_eq!(verify_chain("LV-1", &blocks, top), Ok(()));

        let mut changed = blocks.clone();
        changed[1].raw[3] ^= 1;
        assert!(matches!(verify_chain("LV-1", &changed, top), Err(BlockChainBreak::Altered { seq: 2, .. })));

        let mut removed = blocks.clone();
        removed.remove(2);
        assert!(matches!(verify_chain("LV-1", &removed, top), Err(BlockChainBreak::Gap { expected: 3, .. })));

        let mut reordered = blocks.clone();
        reordered.swap(1, 2);
        assert!(matches!(verify_chain("LV-1", &reordered, top), Err(BlockChainBreak::Gap { expected: 2, .. })));

        let truncated = &blocks[..3];
        assert!(matches!(
            verify_chain("LV-1", truncated, top),
            Err(BlockChainBreak::Truncated { last: 3, head: 4, .. })
        ));
    }

    fn anchor_before(blocks: &[ChainedBlock], seq: i64) -> ChainAnchor {
        let prev_hash =
            blocks.iter().find(|b| b.seq == seq).map_or_else(|| blocks.last().unwrap().block_hash, |b| b.prev_hash);
        ChainAnchor { seq, prev_hash, purged_through_s: 0 }
    }

    #[test]
    fn a_chain_verifies_from_its_anchor_and_still_names_tampering_after_it() {
        let blocks = chain(5);
        let top = head(&blocks);
        let anchor = anchor_before(&blocks, 3);
        let retained = &blocks[2..];
        assert_eq!(verify_chain_from("LV-1", Some(&anchor), retained, top), Ok(()));
        // Without the anchor, the retained part does not start at the genesis.
        assert!(matches!(verify_chain("LV-1", retained, top), Err(BlockChainBreak::Gap { expected: 1, found: 3, .. })));

        let mut changed = retained.to_vec();
        changed[1].raw[0] ^= 1;
        assert!(matches!(
            verify_chain_from("LV-1", Some(&anchor), &changed, top),
            Err(BlockChainBreak::Altered { seq: 4, .. })
        ));
        let mut removed_first = retained.to_vec();
        removed_first.remove(0);
        assert!(matches!(
            verify_chain_from("LV-1", Some(&anchor), &removed_first, top),
            Err(BlockChainBreak::Gap { expected: 3, found: 4, .. })
        ));
        let mut reordered = retained.to_vec();
        reordered.swap(0, 1);
        assert!(matches!(
            verify_chain_from("LV-1", Some(&anchor), &reordered, top),
            Err(BlockChainBreak::Gap { expected: 3, found: 4, .. })
        ));
        let wrong_anchor = ChainAnchor { prev_hash: [7; 32], ..anchor };
        assert!(matches!(
            verify_chain_from("LV-1", Some(&wrong_anchor), retained, top),
            Err(BlockChainBreak::BadLink { seq: 3, .. })
        ));
    }

    #[test]
    fn a_fully_purged_chain_verifies_against_its_head_only() {
        let blocks = chain(3);
        let top = head(&blocks);
        let anchor = anchor_before(&blocks, 4);
        assert_eq!(verify_chain_from("LV-1", Some(&anchor), &[], top), Ok(()));
        let wrong = ChainAnchor { prev_hash: [1; 32], ..anchor };
        assert!(matches!(verify_chain_from("LV-1", Some(&wrong), &[], top), Err(BlockChainBreak::HeadMismatch { .. })));
        assert!(matches!(verify_chain_from("LV-1", Some(&anchor), &[], None), Err(BlockChainBreak::Truncated { .. })));
    }

    #[test]
    fn the_metadata_is_part_of_the_hash() {
        let blocks = chain(1);
        let mut other_source = blocks[0].clone();
        other_source.source = Source::Gateway;
        assert_ne!(other_source.compute_hash(), blocks[0].block_hash);
        let mut other_time = blocks[0].clone();
        other_time.received_at_us += 1;
        assert_ne!(other_time.compute_hash(), blocks[0].block_hash);
    }
}
