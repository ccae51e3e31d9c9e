//! Segment codec, merge and window read: table-driven cases and property tests against naive references.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn sample(t_s: i64, ordinal: u32, value: i32) -> SegmentSample {
    SegmentSample { t_s, ordinal, value }
}

fn segment(samples: &[(i64, u32, i32)]) -> Segment {
    Segment::new(samples.iter().map(|&(t_s, ordinal, value)| sample(t_s, ordinal, value)).collect())
        .unwrap_or_else(|err| panic!("{err}"))
}

/// A day of one-minute temperatures in 0.1 °C grid codes: a slow swing plus ±1 code of deterministic noise.
fn minute_day() -> Segment {
    let mut state = 7u64;
    let samples = (0..1_440)
        .map(|minute| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let noise = (state >> 62) as i32 - 1;
            let swing = (20.0 * (f64::from(minute) / 1_440.0 * std::f64::consts::TAU).sin()) as i32;
            sample(1_780_000_000 + i64::from(minute) * 60, 0, 450 + swing + noise)
        })
        .collect();
    Segment::new(samples).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn series_of_every_shape_round_trip() {
    let cases: Vec<(&str, Segment)> = vec![
        ("one sample", segment(&[(0, 0, 0)])),
        ("one sample at the extremes", segment(&[(i64::MIN, u32::MAX, i32::MIN)])),
        ("the widest span and value swing", segment(&[(i64::MIN, 0, i32::MIN), (i64::MAX, 0, i32::MAX)])),
        ("regular minutes", segment(&[(60, 0, 5), (120, 0, 5), (180, 0, 6), (240, 0, 4)])),
        ("irregular gaps", segment(&[(0, 0, 1), (600, 0, 2), (1_800, 0, 2), (1_801, 0, 3), (90_000, 0, -4)])),
        ("several samples in one second", segment(&[(10, 0, 1), (10, 1, 2), (10, 5, 3), (11, 0, 3), (11, 2, 3)])),
        ("a first ordinal that is not 0", segment(&[(10, 3, 1), (20, 0, 1)])),
        ("a drifting interval", segment(&[(0, 0, 0), (60, 0, 0), (121, 0, 0), (183, 0, 0), (246, 0, 0), (310, 0, 0)])),
        ("a day of minute temperatures", minute_day()),
    ];
    for (name, segment) in cases {
        let bytes = segment.encode();
        assert_eq!(Segment::decode(&bytes).as_ref(), Ok(&segment), "{name}");
        assert_eq!(SegmentHeader::peek(&bytes), Ok(segment.header()), "{name}");
    }
}

#[test]
fn a_day_of_minute_temperatures_costs_well_under_a_byte_per_sample() {
    let day = minute_day();
    let n_bytes = day.encode().len();
    // 1,440 samples: regular times cost nothing, a 0/±1 value step 1-3 bits.
    assert!(n_bytes * 2 < day.len(), "{n_bytes} bytes for {} samples", day.len());
}

#[test]
fn samples_that_are_not_strictly_increasing_are_refused() {
    assert_eq!(Segment::new(Vec::new()), Err(SegmentError::Empty));
    assert_eq!(Segment::new(vec![sample(5, 0, 0), sample(4, 0, 0)]), Err(SegmentError::NotIncreasing { index: 1 }));
    assert_eq!(Segment::new(vec![sample(5, 1, 0), sample(5, 0, 0)]), Err(SegmentError::NotIncreasing { index: 1 }));
    assert_eq!(
        Segment::new(vec![sample(4, 0, 0), sample(5, 2, 1), sample(5, 2, 1)]),
        Err(SegmentError::Duplicate { t_s: 5, ordinal: 2 })
    );
    let too_many = (0..=MAX_SEGMENT_SAMPLES as i64).map(|t_s| sample(t_s, 0, 0)).collect();
    assert_eq!(Segment::new(too_many), Err(SegmentError::TooManySamples(MAX_SEGMENT_SAMPLES + 1)));
}

#[test]
fn malformed_bytes_are_each_refused() {
    let valid = segment(&[(60, 0, 5), (120, 0, 5), (180, 0, 6)]).encode();
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = valid.clone();
        edit(&mut bytes);
        bytes
    };
    let cases: Vec<(&str, Vec<u8>, SegmentError)> = vec![
        ("no bytes", Vec::new(), SegmentError::Malformed),
        ("another version", with(&|bytes| bytes[0] = 2), SegmentError::UnsupportedVersion(2)),
        ("a count of zero", with(&|bytes| bytes[1] = 0), SegmentError::Malformed),
        ("a count beyond the bits left", vec![1, 0xFF, 0xFF, 0x3F, 0, 0, 0, 0], SegmentError::Malformed),
        ("a count beyond the maximum", vec![1, 0x81, 0x80, 0x40, 0, 0, 0, 0], SegmentError::Malformed),
        ("a trailing byte", with(&|bytes| bytes.push(0)), SegmentError::Malformed),
        ("a cut-off end", with(&|bytes| _ = bytes.pop()), SegmentError::Malformed),
        ("a last time that is not the last sample's", with(&|bytes| bytes[3] += 1), SegmentError::Malformed),
        ("an unknown flag bit", with(&|bytes| bytes[4] |= 0x80), SegmentError::Malformed),
        ("time mode 3", with(&|bytes| bytes[4] |= 0b11), SegmentError::Malformed),
        ("an ordinal column of zeros", with(&|bytes| bytes[4] |= 0b100), SegmentError::Malformed),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(Segment::decode(&bytes), Err(expected), "{name}");
    }
}

#[test]
fn a_time_mode_other_than_the_cheapest_is_refused() {
    // Twenty regular minutes: the exceptions mode (no exception, one byte) is cheapest; the same times in Rice mode
    // (a bit per delta) decode to the same samples but are a second encoding of them.
    let regular =
        Segment::new((1..=20).map(|minute| sample(minute * 60, 0, 5)).collect()).unwrap_or_else(|err| panic!("{err}"));
    let canonical = regular.encode();
    // Version, count, first time, a two-byte span (1,140 s), then the flags: mode 0, no ordinals.
    assert_eq!(canonical[5], 0);
    // The same header and values, the times written by hand in a chosen mode.
    let by_hand = |mode: u8| {
        let mut writer = logvault_protocol::bits::BitWriter::default();
        for &byte in &canonical[..5] {
            writer.write_u8(byte);
        }
        writer.write_u8(mode);
        writer.write_zigzag(5);
        writer.write_varint(60);
        if mode == 0 {
            writer.write_varint(0);
        } else {
            let mut rice = logvault_protocol::bits::AdaptiveRice::new();
            for _ in 0..19 {
                rice.write(&mut writer, 0);
            }
        }
        let mut rice = logvault_protocol::bits::AdaptiveRice::new();
        for _ in 0..19 {
            rice.write(&mut writer, 0);
        }
        writer.finish()
    };
    assert_eq!(by_hand(0), canonical);
    let rice_mode = by_hand(1);
    assert_ne!(rice_mode, canonical);
    assert_eq!(Segment::decode(&rice_mode), Err(SegmentError::Malformed));
}

#[test]
fn every_truncation_and_bit_flip_of_a_segment_is_refused_or_canonical() {
    let cases = [minute_day(), segment(&[(10, 0, 1), (10, 1, 2), (10, 5, 3), (11, 0, 3), (700, 2, -9)])];
    for valid in cases {
        let bytes = valid.encode();
        for len in 0..bytes.len() {
            assert!(Segment::decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 0x80 >> (bit % 8);
            if let Ok(decoded) = Segment::decode(&flipped) {
                assert_eq!(decoded.encode(), flipped, "bit {bit}");
            }
        }
    }
}

#[test]
fn merge_interleaves_segments_and_refuses_a_key_found_twice() {
    let early = segment(&[(0, 0, 1), (120, 0, 3), (240, 0, 5)]);
    let late = segment(&[(60, 0, 2), (180, 0, 4), (180, 1, 4)]);
    let merged = merge(&[late.clone(), early.clone()]).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(merged, segment(&[(0, 0, 1), (60, 0, 2), (120, 0, 3), (180, 0, 4), (180, 1, 4), (240, 0, 5)]));
    assert_eq!(merge(&[early.clone(), early]), Err(SegmentError::Duplicate { t_s: 0, ordinal: 0 }));
    assert_eq!(merge(&[]), Err(SegmentError::Empty));
}

#[test]
fn a_window_read_decodes_only_the_segments_it_meets() {
    let inside = segment(&[(100, 0, 1), (200, 0, 2), (300, 0, 3)]).encode();
    // A segment whose header says 1,000-1,060 and whose body is garbage: outside the window it is never decoded.
    let mut outside = segment(&[(1_000, 0, 1), (1_060, 0, 2)]).encode();
    outside.push(0xFF);
    let read = read_window([inside.as_slice(), outside.as_slice()], 150, 999);
    assert_eq!(read, Ok(vec![sample(200, 0, 2), sample(300, 0, 3)]));
    assert_eq!(read_window([inside.as_slice(), outside.as_slice()], 150, 1_000), Err(SegmentError::Malformed));
    assert_eq!(
        read_window([inside.as_slice(), inside.as_slice()], 0, 100),
        Err(SegmentError::Duplicate { t_s: 100, ordinal: 0 })
    );
}

fn series() -> impl Strategy<Value = Segment> {
    let step = prop_oneof![
        4 => Just(60i64),
        2 => 0i64..3,
        2 => 1i64..100_000,
        1 => Just(i64::from(u32::MAX)),
    ];
    let value_step = prop_oneof![4 => -2i32..=2, 1 => any::<i16>().prop_map(i32::from), 1 => any::<i32>()];
    (any::<i32>().prop_map(i64::from), any::<i32>(), prop::collection::vec((step, value_step, 0u32..3), 0..400))
        .prop_map(|(start, first_value, steps)| {
            let mut samples = vec![sample(start, 0, first_value)];
            for (t_step, v_step, ordinal_step) in steps {
                let Some(&last) = samples.last() else { break };
                let next = if t_step == 0 {
                    sample(last.t_s, last.ordinal + 1 + ordinal_step, last.value.wrapping_add(v_step))
                } else {
                    sample(last.t_s + t_step, ordinal_step % 2, last.value.wrapping_add(v_step))
                };
                samples.push(next);
            }
            Segment::new(samples).unwrap_or_else(|err| panic!("{err}"))
        })
}

proptest! {
    #[test]
    fn random_series_round_trip(segment in series()) {
        let bytes = segment.encode();
        prop_assert_eq!(Segment::decode(&bytes), Ok(segment.clone()));
        prop_assert_eq!(SegmentHeader::peek(&bytes), Ok(segment.header()));
    }

    #[test]
    fn a_random_bit_flip_or_cut_is_refused_or_canonical(segment in series(), bit in any::<prop::sample::Index>(),
                                                       cut in any::<prop::sample::Index>()) {
        let bytes = segment.encode();
        let mut flipped = bytes.clone();
        let bit = bit.index(bytes.len() * 8);
        flipped[bit / 8] ^= 0x80 >> (bit % 8);
        if let Ok(decoded) = Segment::decode(&flipped) {
            prop_assert_eq!(decoded.encode(), flipped);
        }
        prop_assert!(Segment::decode(&bytes[..cut.index(bytes.len())]).is_err());
    }

    #[test]
    fn window_reads_over_shuffled_overlapping_segments_equal_a_naive_reference(
        keys in prop::collection::btree_map((0i64..5_000, 0u32..3), any::<i32>(), 1..600),
        owners in prop::collection::vec(0usize..6, 600),
        order in any::<u64>(),
        from in 0i64..5_000,
        len in 0i64..5_000,
    ) {
        // Deal the keys out to six segments at random (so their time ranges overlap), then shuffle the segments.
        let mut dealt: Vec<Vec<SegmentSample>> = vec![Vec::new(); 6];
        for (idx, (&(t_s, ordinal), &value)) in keys.iter().enumerate() {
            dealt[owners[idx % owners.len()]].push(sample(t_s, ordinal, value));
        }
        let mut encoded: Vec<Vec<u8>> = dealt
            .into_iter()
            .filter(|samples| !samples.is_empty())
            .map(|samples| Segment::new(samples).map(|segment| segment.encode()))
            .collect::<Result<_, _>>()
            .map_err(|err| TestCaseError::fail(err.to_string()))?;
        let n_segments = encoded.len();
        encoded.rotate_left(order as usize % n_segments);
        if order & 1 == 1 {
            encoded.reverse();
        }
        let to = from + len;
        let reference: Vec<SegmentSample> = keys
            .iter()
            .filter(|&(&(t_s, _), _)| (from..=to).contains(&t_s))
            .map(|(&(t_s, ordinal), &value)| sample(t_s, ordinal, value))
            .collect();
        let read = read_window(encoded.iter().map(Vec::as_slice), from, to);
        prop_assert_eq!(read, Ok(reference));
        let decoded: Vec<Segment> = encoded.iter().map(|bytes| Segment::decode(bytes)).collect::<Result<_, _>>()
            .map_err(|err| TestCaseError::fail(err.to_string()))?;
        let everything: BTreeMap<(i64, u32), i32> =
            merge(&decoded).map_err(|err| TestCaseError::fail(err.to_string()))?
                .samples().iter().map(|sample| (sample.key(), sample.value)).collect();
        prop_assert_eq!(everything, keys);
    }
}
