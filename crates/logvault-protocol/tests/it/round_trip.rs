//! Round trips: whatever block is sealed opens to exactly the same block.

use logvault_protocol::{
    Block, Channel, KeyGeneration, Quantity, ResolutionTable, Sample, Serial, decode_plaintext, encode_plaintext, open,
    seal,
};
use proptest::prelude::*;

use crate::fixtures::{fridge_block, key};

#[test]
fn a_sealed_fridge_series_opens_to_the_same_block() {
    for (n_samples, with_humidity) in [(0, false), (1, false), (2, true), (1500, false), (1500, true)] {
        let block = fridge_block(n_samples, 300, with_humidity, 1);
        let sealed = seal(&block, &key(), KeyGeneration(3));
        assert_eq!(open(&sealed, &key()).as_ref(), Ok(&block), "{n_samples} samples");
    }
}

#[test]
fn a_slowly_varying_temperature_series_costs_well_under_one_and_a_half_bytes_per_sample() {
    let block = fridge_block(1500, 300, false, 1);
    let bytes_per_sample = encode_plaintext(&block).len() as f64 / 1500.0;
    assert!(bytes_per_sample < 0.5, "{bytes_per_sample} bytes/sample");
}

#[test]
fn sealing_is_deterministic_and_the_counter_changes_the_iv() {
    let block = fridge_block(10, 60, true, 2);
    let key = key();
    assert_eq!(seal(&block, &key, KeyGeneration(0)), seal(&block, &key, KeyGeneration(0)));
    let next =
        Block::new(block.serial().clone(), block.counter() + 1, block.channels().to_vec(), block.samples().to_vec())
            .unwrap_or_else(|err| panic!("{err}"));
    let iv = |sealed: &[u8]| sealed[4 + 9..4 + 9 + 16].to_vec();
    assert_ne!(iv(&seal(&block, &key, KeyGeneration(0))), iv(&seal(&next, &key, KeyGeneration(0))));
}

/// A table of 1–4 ranges with small random steps and spans.
fn table_strategy() -> impl Strategy<Value = ResolutionTable> {
    (-100_000i32..100_000, prop::collection::vec((1u32..700, 1u32..60), 1..5)).prop_map(|(lowest, ranges)| {
        let mut upper = lowest;
        let pairs: Vec<(u32, i32)> = ranges
            .into_iter()
            .map(|(step, n_steps)| {
                upper += (step * n_steps) as i32;
                (step, upper)
            })
            .collect();
        ResolutionTable::new(lowest, &pairs).unwrap_or_else(|err| panic!("{err}"))
    })
}

/// A code biased towards the table's ends and range edges.
fn code_for(table: &ResolutionTable, pick: u64) -> u32 {
    let n_codes = table.n_codes();
    let mut edges = vec![0, n_codes - 1];
    let mut code = 0;
    for range in table.ranges() {
        edges.push(code);
        code += (range.upper - range.lower) as u32 / range.step;
        edges.push(code.saturating_sub(1));
    }
    if pick.is_multiple_of(3) {
        edges[(pick / 3) as usize % edges.len()]
    } else {
        (pick / 3 % u64::from(n_codes)) as u32
    }
}

fn time_deltas() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => Just(300u64),
        2 => Just(0u64),
        2 => 0u64..100_000,
        1 => any::<u64>().prop_map(|d| d >> 20),
    ]
}

prop_compose! {
    fn block_strategy()(
        channels in prop::collection::vec((prop_oneof![Just(Quantity::Temperature), Just(Quantity::RelativeHumidity)], table_strategy()), 1..5),
        counter in any::<u64>(),
        serial in "[A-Za-z0-9-]{1,32}",
        start in prop_oneof![Just(0i64), Just(i64::MIN), any::<i64>().prop_map(|t| t >> 2), Just(1_767_225_600i64)],
        deltas in prop::collection::vec(time_deltas(), 0..200),
        picks in prop::collection::vec(any::<u64>(), 0..800),
    ) -> Block {
        let channels: Vec<Channel> = channels.into_iter().map(|(quantity, resolution)| Channel { quantity, resolution }).collect();
        let mut time = start;
        let mut pick_iter = picks.into_iter().cycle();
        let mut samples = Vec::new();
        for (idx, delta) in std::iter::once(0).chain(deltas).enumerate() {
            if idx > 0 {
                match time.checked_add_unsigned(delta) { Some(t) => time = t, None => break }
            }
            let values = channels
                .iter()
                .map(|channel| {
                    let code = code_for(&channel.resolution, pick_iter.next().unwrap_or(idx as u64));
                    channel.resolution.value_of(code).unwrap_or_else(|| panic!("code {code}"))
                })
                .collect();
            samples.push(Sample { time, values });
        }
        let serial = Serial::parse(&serial).unwrap_or_else(|err| panic!("{err}"));
        Block::new(serial, counter, channels, samples).unwrap_or_else(|err| panic!("{err}"))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_block_opens_to_exactly_what_was_sealed(block in block_strategy(), generation in any::<u8>()) {
        let sealed = seal(&block, &key(), KeyGeneration(generation));
        prop_assert_eq!(open(&sealed, &key()), Ok(block.clone()));
        let plaintext = encode_plaintext(&block);
        prop_assert_eq!(decode_plaintext(&plaintext, block.serial().clone()), Ok(block));
    }

    #[test]
    fn the_plaintext_decoder_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let serial = Serial::parse("X").unwrap_or_else(|err| panic!("{err}"));
        if let Ok(block) = decode_plaintext(&bytes, serial.clone()) {
            // Whatever decodes must re-encode to something that decodes to the same block.
            prop_assert_eq!(decode_plaintext(&encode_plaintext(&block), serial), Ok(block));
        }
    }
}
