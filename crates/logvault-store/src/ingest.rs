//! The engine-independent part of keeping a block: which samples are new, and the block's link in its device's
//! chain. Both engines run this inside their write transaction, on what they read there.

use std::collections::BTreeMap;

use logvault_core::blockchain::{self, GENESIS};

use crate::{IncomingBlock, IncomingSample, IngestOutcome};

/// Measurement rows per INSERT statement (6 bound values each: within both engines' limits on parameters).
pub(crate) const ROWS_PER_INSERT: usize = 1_000;

/// What a block adds: its samples not stored before (with their ordinal within their second), and how many it
/// repeats.
pub(crate) struct Plan {
    pub new: Vec<(i64, i32, Vec<i32>)>,
    pub duplicates: u64,
}

impl Plan {
    /// One row per channel value: `(t_s, ordinal, channel, value)`.
    pub fn rows(&self) -> impl Iterator<Item = (i64, i32, i32, i32)> + '_ {
        self.new.iter().flat_map(|(t_s, ordinal, values)| {
            values
                .iter()
                .enumerate()
                .map(move |(channel, value)| (*t_s, *ordinal, i32::try_from(channel).unwrap_or(i32::MAX), *value))
        })
    }
}

/// One measurement row as ingest keeps it, with the chain position of the block that brought it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptRow {
    pub seq: i64,
    pub t_s: i64,
    pub ordinal: i32,
    pub channel: i32,
    pub value: i32,
}

/// The measurement rows a device's blocks produce when kept in chain order, exactly as ingest keeps them: what
/// `logvault verify` compares the stored rows with, so a removed, added or changed row is found.
pub fn replay(blocks: &[(i64, Vec<IncomingSample>)]) -> Vec<KeptRow> {
    // (t_s, ordinal, channel) → (seq, value), so each block reads its time range only.
    let mut kept: BTreeMap<(i64, i32, i32), (i64, i32)> = BTreeMap::new();
    for (seq, samples) in blocks {
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else { continue };
        let stored: Vec<(i64, i32, i32, i32)> = kept
            .range((first.t_s, i32::MIN, i32::MIN)..=(last.t_s, i32::MAX, i32::MAX))
            .map(|((t_s, ordinal, channel), (_, value))| (*t_s, *ordinal, *channel, *value))
            .collect();
        let plan = plan_samples(samples, &stored);
        for (t_s, ordinal, channel, value) in plan.rows() {
            kept.insert((t_s, ordinal, channel), (*seq, value));
        }
    }
    kept.into_iter()
        .map(|((t_s, ordinal, channel), (seq, value))| KeptRow { seq, t_s, ordinal, channel, value })
        .collect()
}

/// The block a device keeps under a counter, found by the block's identity: `(device_id, counter)` is the unique key
/// of `blocks`, so this is one lookup in that key's index however long the chain (`tests/it/plans.rs` checks each
/// engine's plan).
pub const KEPT_BLOCK_SQL: &str = "SELECT raw FROM blocks WHERE device_id = $1 AND counter = $2";

/// The rows stored for a device's first `n_channels` channels in a time range, ordered by time, ordinal and channel:
/// `$1` the device, `$2`..`$3` the range, then one placeholder per channel (`0..n_channels`). Naming every channel
/// makes the condition a prefix of the primary key `(device_id, channel, t_s, ordinal)`, so the read touches the
/// block's window only, never the device's history (`tests/it/plans.rs`). `None` for no channels.
pub fn stored_samples_sql(n_channels: usize) -> Option<String> {
    if n_channels == 0 {
        return None;
    }
    let channels: Vec<String> = (0..n_channels).map(|channel| format!("${}", channel + 4)).collect();
    Some(format!(
        "SELECT t_s, ordinal, channel, value FROM measurements WHERE device_id = $1 AND channel IN ({}) \
         AND t_s BETWEEN $2 AND $3 ORDER BY t_s, ordinal, channel",
        channels.join(", ")
    ))
}

/// How many channels the block's samples carry (each sample one value per channel).
pub(crate) fn n_channels(block: &IncomingBlock) -> usize {
    block.samples.first().map_or(0, |sample| sample.values.len())
}

/// The block's new link: its position and hashes.
pub(crate) struct Link {
    pub seq: i64,
    pub prev_hash: [u8; 32],
    pub block_hash: [u8; 32],
}

/// A block whose counter is already kept: the same block again, or another one reusing the counter.
pub(crate) fn repeated(stored_raw: &[u8], block: &IncomingBlock) -> IngestOutcome {
    if stored_raw == block.raw.as_slice() {
        IngestOutcome::Duplicate { samples: count_u64(block.samples.len()) }
    } else {
        IngestOutcome::CounterReused
    }
}

/// Whether the block's counter fits its time among the device's kept blocks, given the last-sample times of the
/// nearest kept blocks with samples below (`lower_last`) and above (`higher_last`) its counter.
///
/// The rule: **a higher counter never has an earlier last sample.** A logger issues counters in order, one per
/// block, and each block carries its memory at issue time, so its last sample is the newest one recorded then; the
/// logger refuses a reading older than its last recorded one (`ClockWentBackwards`), a full memory in
/// `StopWhenFull` keeps its last sample, and a cleared memory only fills with newer ones. So across a device's blocks
/// the last-sample time never decreases as the counter increases — in whatever order a gateway delivers them. A
/// block without samples says nothing about time and is always plausible. Equal times are allowed (no sample in
/// between, or a full memory).
///
/// Kept blocks satisfy the rule among themselves, so comparing with the two nearest neighbours is comparing with
/// every kept block.
pub(crate) fn counter_plausible(block: &IncomingBlock, lower_last: Option<i64>, higher_last: Option<i64>) -> bool {
    let Some((_, last)) = time_range(block) else { return true };
    lower_last.is_none_or(|lower| lower <= last) && higher_last.is_none_or(|higher| last <= higher)
}

/// The first and last sample times, if the block has samples.
pub(crate) fn time_range(block: &IncomingBlock) -> Option<(i64, i64)> {
    Some((block.samples.first()?.t_s, block.samples.last()?.t_s))
}

/// Which of the block's samples are new, given the rows `(t_s, ordinal, channel, value)` stored for its time range.
///
/// Samples are compared whole (time and every channel's value) as multisets per second: a sample is a duplicate if
/// an identical one is stored at that second and not already matched. So overlapping windows store each sample
/// once, even where a window begins in the middle of a second holding several samples.
pub(crate) fn plan(block: &IncomingBlock, stored: &[(i64, i32, i32, i32)]) -> Plan {
    plan_samples(&block.samples, stored)
}

fn plan_samples(samples: &[IncomingSample], stored: &[(i64, i32, i32, i32)]) -> Plan {
    // Stored samples per second: ordinal → values by channel.
    let mut by_second: BTreeMap<i64, BTreeMap<i32, Vec<i32>>> = BTreeMap::new();
    for (t_s, ordinal, _channel, value) in stored {
        by_second.entry(*t_s).or_default().entry(*ordinal).or_default().push(*value);
    }
    let mut unmatched: BTreeMap<i64, Vec<Vec<i32>>> =
        by_second.iter().map(|(t, samples)| (*t, samples.values().cloned().collect())).collect();
    let mut next_ordinal: BTreeMap<i64, i32> = by_second
        .iter()
        .map(|(t, samples)| (*t, samples.keys().max().map_or(0, |max| max.saturating_add(1))))
        .collect();
    let mut new = Vec::new();
    let mut duplicates = 0u64;
    for sample in samples {
        let candidates = unmatched.entry(sample.t_s).or_default();
        if let Some(position) = candidates.iter().position(|values| *values == sample.values) {
            candidates.swap_remove(position);
            duplicates += 1;
        } else {
            let ordinal = next_ordinal.entry(sample.t_s).or_insert(0);
            new.push((sample.t_s, *ordinal, sample.values.clone()));
            *ordinal = ordinal.saturating_add(1);
        }
    }
    Plan { new, duplicates }
}

/// The link after `head` (the device's chain head, if it has one).
pub(crate) fn link(block: &IncomingBlock, head: Option<(i64, [u8; 32])>) -> Link {
    let (seq, prev_hash) = match head {
        Some((seq, hash)) => (seq.saturating_add(1), hash),
        None => (1, GENESIS),
    };
    let block_hash = blockchain::block_hash(
        &prev_hash,
        &block.serial,
        seq,
        block.counter,
        block.key_generation,
        block.received_at_us,
        block.source,
        &block.raw,
    );
    Link { seq, prev_hash, block_hash }
}

pub(crate) fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn count_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use logvault_core::blockchain::Source;

    use super::*;
    use crate::IncomingSample;

    fn block(samples: &[(i64, i32)]) -> IncomingBlock {
        IncomingBlock {
            device_id: 1,
            serial: "LV-1".to_owned(),
            counter: 1,
            key_generation: 0,
            raw: vec![1, 2, 3],
            received_at_us: 0,
            source: Source::Api,
            channel_layout: "temperature".to_owned(),
            samples: samples.iter().map(|(t_s, v)| IncomingSample { t_s: *t_s, values: vec![*v] }).collect(),
        }
    }

    #[test]
    fn an_overlapping_window_adds_only_its_new_samples_even_within_a_shared_second() {
        // Stored: second 10 holds two samples (ordinals 0, 1), second 20 one.
        let stored = [(10, 0, 0, 5_000), (10, 1, 0, 5_100), (20, 0, 0, 5_200)];
        // The new window starts with the second sample of second 10.
        let plan = plan(&block(&[(10, 5_100), (20, 5_200), (20, 5_300), (30, 5_400)]), &stored);
        assert_eq!(plan.duplicates, 2);
        assert_eq!(plan.new, [(20, 1, vec![5_300]), (30, 0, vec![5_400])]);
    }

    #[test]
    fn a_counter_is_plausible_between_neighbours_whose_last_samples_enclose_its_own() {
        let b = block(&[(100, 1), (200, 1)]);
        assert!(counter_plausible(&b, None, None));
        assert!(counter_plausible(&b, Some(150), Some(300)));
        assert!(counter_plausible(&b, Some(200), Some(200)), "equal last samples: nothing recorded in between");
        assert!(!counter_plausible(&b, Some(201), None), "a higher counter that ends before a lower one");
        assert!(!counter_plausible(&b, None, Some(199)), "a lower counter that ends after a higher one");
        assert!(counter_plausible(&block(&[]), Some(500), Some(1)), "a block without samples says nothing");
    }

    #[test]
    fn a_repeated_value_in_one_second_is_kept_as_often_as_it_was_sampled() {
        let plan = plan(&block(&[(10, 5_000), (10, 5_000)]), &[(10, 0, 0, 5_000)]);
        assert_eq!(plan.duplicates, 1);
        assert_eq!(plan.new, [(10, 1, vec![5_000])]);
    }
}
