//! Segment codec benchmark: bytes per sample of the chosen encoding against the candidates it was chosen from, and
//! encode/decode/window-read speed against a plain copy and a raw fixed-width row encoding, in the same run.
//!
//! Run: `cargo bench -p logvault-core --bench segment` (prints Markdown for docs/PERFORMANCE.md). Plain `std::time`:
//! each figure is the best of five rounds of at least 0.3 s. The series are deterministic (a fixed-seed generator).

use std::hint::black_box;
use std::time::{Duration, Instant};

use logvault_core::segment::{Segment, SegmentSample, read_window};
use logvault_protocol::bits::{AdaptiveRice, BitWriter, zigzag};

fn main() {
    let datasets = datasets();
    println!(
        "| series | segments × samples | chosen B/sample | Rice times only | Gorilla (Δ² + XOR) | Gorilla Δ² + Rice values | zigzag varint | raw rows (16 B) |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for (name, segments) in &datasets {
        let n_samples: usize = segments.iter().map(Segment::len).sum();
        let per_sample = |bytes: usize| format!("{:.3}", bytes as f64 / n_samples as f64);
        let chosen: usize = segments.iter().map(|segment| segment.encode().len()).sum();
        let sized = |size: fn(&[SegmentSample]) -> u64| {
            per_sample(segments.iter().map(|segment| size(segment.samples()).div_ceil(8) as usize).sum())
        };
        println!(
            "| {name} | {} × {} | {} | {} | {} | {} | {} | {} |",
            segments.len(),
            n_samples / segments.len(),
            per_sample(chosen),
            sized(rice_times_bits),
            sized(gorilla_bits),
            sized(gorilla_times_rice_values_bits),
            sized(varint_bits),
            per_sample(n_samples * 16),
        );
    }
    println!();

    // Speed, on the first series: a month of one-minute temperatures in segments of a day.
    let (name, segments) = &datasets[0];
    let n_samples: usize = segments.iter().map(Segment::len).sum();
    let encoded: Vec<Vec<u8>> = segments.iter().map(Segment::encode).collect();
    let pairs: Vec<Vec<(i64, i32)>> =
        segments.iter().map(|segment| segment.samples().iter().map(|s| (s.t_s, s.value)).collect()).collect();
    let rows: Vec<Vec<u8>> = segments.iter().map(|segment| raw_rows(segment.samples())).collect();
    for (segment, bytes) in segments.iter().zip(&encoded) {
        assert_eq!(Segment::decode(bytes).as_ref(), Ok(segment));
    }
    let copy = timed(|| pairs.iter().map(|pairs| black_box(pairs.clone()).len()).sum());
    let raw_encode = timed(|| segments.iter().map(|segment| black_box(raw_rows(segment.samples())).len()).sum());
    let raw_decode = timed(|| rows.iter().map(|bytes| black_box(from_raw_rows(bytes)).len()).sum());
    let encode = timed(|| segments.iter().map(|segment| black_box(segment.encode()).len()).sum());
    let decode = timed(|| encoded.iter().map(|bytes| Segment::decode(bytes).map_or(0, |segment| segment.len())).sum());
    let first = segments[0].first_t_s();
    let week = timed(|| {
        read_window(encoded.iter().map(Vec::as_slice), first + 7 * 86_400, first + 14 * 86_400 - 1)
            .map_or(0, |samples| samples.len())
    });
    let week_samples = 7 * 1_440;
    let rate = |duration: Duration, n: usize| format!("{:.1} M", n as f64 / duration.as_secs_f64() / 1e6);
    let ratio = |duration: Duration| format!("{:.2}×", copy.as_secs_f64() / duration.as_secs_f64());
    println!("{name}, {n_samples} samples; samples/s, and speed relative to the plain copy:");
    println!();
    println!("| operation | samples/s | vs copy |");
    println!("|---|--:|--:|");
    println!("| copy of `Vec<(i64, i32)>` (baseline) | {} | 1.00× |", rate(copy, n_samples));
    println!("| raw rows, encode (16 B LE per sample) | {} | {} |", rate(raw_encode, n_samples), ratio(raw_encode));
    println!("| raw rows, decode | {} | {} |", rate(raw_decode, n_samples), ratio(raw_decode));
    println!("| segment encode | {} | {} |", rate(encode, n_samples), ratio(encode));
    println!("| segment decode (strict, re-encodes to check) | {} | {} |", rate(decode, n_samples), ratio(decode));
    println!(
        "| window read of a week out of the month (decodes 7 of {} segments, merges) | {} | — |",
        segments.len(),
        rate(week, week_samples)
    );
}

fn timed(mut op: impl FnMut() -> usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let mut runs = 0u32;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            black_box(op());
            runs += 1;
        }
        best = best.min(start.elapsed() / runs);
    }
    best
}

/// A fixed-seed generator (PCG-style LCG, high bits), so every run measures the same series.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A value in `-spread..=spread`, peaked at 0 (the sum of two uniforms).
    fn around_zero(&mut self, spread: i32) -> i32 {
        let width = 2 * u64::try_from(spread).unwrap_or(0) + 1;
        let a = (self.next() % width) as i32 - spread;
        let b = (self.next() % width) as i32 - spread;
        (a + b) / 2
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn seg(samples: Vec<SegmentSample>) -> Segment {
    Segment::new(samples).unwrap_or_else(|err| panic!("{err}"))
}

/// A smooth daily swing (amplitude in codes) plus sensor noise, on the grid.
fn swing(t_s: i64, centre: i32, amplitude: f64, noise: &mut Noise, spread: i32) -> i32 {
    let phase = (t_s % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
    centre + (amplitude * phase.sin()) as i32 + noise.around_zero(spread)
}

const START: i64 = 1_798_761_600;

fn datasets() -> Vec<(&'static str, Vec<Segment>)> {
    let mut noise = Noise(1);
    // 0.1 °C codes: a fridge at 5 °C (code 450 on a −40 °C origin), ±2 °C a day, ±0.1 °C noise.
    let minute: Vec<Segment> = (0..30)
        .map(|day| {
            seg((0..1_440)
                .map(|minute| {
                    let t_s = START + day * 86_400 + minute * 60;
                    SegmentSample { t_s, ordinal: 0, value: swing(t_s, 450, 20.0, &mut noise, 1) }
                })
                .collect())
        })
        .collect();
    let ten_s: Vec<Segment> = (0..42)
        .map(|block| {
            seg((0..1_440)
                .map(|idx| {
                    let t_s = START + block * 14_400 + idx * 10;
                    SegmentSample { t_s, ordinal: 0, value: swing(t_s, 450, 20.0, &mut noise, 1) }
                })
                .collect())
        })
        .collect();
    // LoRaWAN: a sample every 5 min, six per uplink, one uplink in ten lost, the device clock corrected by a second
    // now and then; kept as one segment per uplink (what ingest would write) and compacted per day.
    let mut frames: Vec<Vec<SegmentSample>> = Vec::new();
    let mut clock = START;
    for _ in 0..(30 * 48) {
        let frame: Vec<SegmentSample> = (0..6)
            .map(|_| {
                clock += 300;
                if noise.chance(3) {
                    clock += if noise.chance(50) { 1 } else { -1 };
                }
                SegmentSample { t_s: clock, ordinal: 0, value: swing(clock, 450, 20.0, &mut noise, 1) }
            })
            .collect();
        if !noise.chance(10) {
            frames.push(frame);
        }
    }
    let lorawan_frames: Vec<Segment> = frames.iter().cloned().map(seg).collect();
    let mut lorawan_days: Vec<Segment> = Vec::new();
    for day in frames.chunk_by(|a, b| (a[0].t_s - START) / 86_400 == (b[0].t_s - START) / 86_400) {
        lorawan_days.push(seg(day.concat()));
    }
    // 0.1 %RH codes: 55 %RH ± 10 a day, ±0.3 %RH noise.
    let humidity: Vec<Segment> = (0..30)
        .map(|day| {
            seg((0..1_440)
                .map(|minute| {
                    let t_s = START + day * 86_400 + minute * 60;
                    SegmentSample { t_s, ordinal: 0, value: swing(t_s, 550, 100.0, &mut noise, 3) }
                })
                .collect())
        })
        .collect();
    vec![
        ("temperature, 1 min, 0.1 °C, 30 days", minute),
        ("temperature, 10 s, 0.1 °C, 7 days", ten_s),
        ("LoRaWAN, 5 min, 10 % frames lost, one segment per 6-sample frame", lorawan_frames),
        ("LoRaWAN, the same compacted per day", lorawan_days),
        ("humidity, 1 min, 0.1 %RH, 30 days", humidity),
    ]
}

/// Header every candidate pays alike: version, count, first time, span, flags, first value (as the chosen format).
fn header_bits(samples: &[SegmentSample]) -> u64 {
    let mut writer = BitWriter::default();
    writer.write_u8(1);
    writer.write_varint(samples.len() as u64);
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        writer.write_zigzag(first.t_s);
        writer.write_varint((last.t_s - first.t_s) as u64);
        writer.write_u8(0);
        writer.write_zigzag(i64::from(first.value));
    }
    writer.finish().len() as u64 * 8
}

fn deltas(samples: &[SegmentSample]) -> impl Iterator<Item = (i64, i64)> + '_ {
    samples.windows(2).map(|pair| (pair[1].t_s - pair[0].t_s, i64::from(pair[1].value) - i64::from(pair[0].value)))
}

fn rice_values_bits(samples: &[SegmentSample]) -> u64 {
    let mut rice = AdaptiveRice::new();
    deltas(samples).map(|(_, dv)| rice.cost(zigzag(dv))).sum()
}

/// The protocol's Rice time mode alone (no exception list, no delta of delta) with Rice value deltas.
fn rice_times_bits(samples: &[SegmentSample]) -> u64 {
    let mut sorted: Vec<i64> = deltas(samples).map(|(dt, _)| dt).collect();
    sorted.sort_unstable();
    let base = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
    let mut rice = AdaptiveRice::new();
    let times: u64 = deltas(samples).map(|(dt, _)| rice.cost(zigzag(dt - base))).sum();
    let mut base_varint = BitWriter::default();
    base_varint.write_varint(base as u64);
    header_bits(samples) + base_varint.finish().len() as u64 * 8 + times + rice_values_bits(samples)
}

/// Gorilla's timestamp code (Pelkonen et al., VLDB 2015, §4.1.1): delta of delta in '0', '10'+7, '110'+9,
/// '1110'+12 or '1111'+32 bits.
fn gorilla_times_bits(samples: &[SegmentSample]) -> u64 {
    let mut previous = 0i64;
    let mut bits = 0u64;
    for (idx, (dt, _)) in deltas(samples).enumerate() {
        if idx == 0 {
            bits += 14;
        } else {
            let dod = dt - previous;
            bits += match dod {
                0 => 1,
                -63..=64 => 2 + 7,
                -255..=256 => 3 + 9,
                -2_047..=2_048 => 4 + 12,
                _ => 4 + 32,
            };
        }
        previous = dt;
    }
    bits
}

/// Gorilla's value code (§4.1.2) applied to the 32-bit value: XOR with the previous, '0' when equal, '10' + the
/// meaningful bits when they fit the previous window, else '11' + 5 bits of leading zeros + 6 bits of length + bits.
fn gorilla_bits(samples: &[SegmentSample]) -> u64 {
    let mut bits = 0u64;
    let mut window: Option<(u32, u32)> = None;
    for pair in samples.windows(2) {
        let xor = (pair[0].value ^ pair[1].value) as u32;
        if xor == 0 {
            bits += 1;
            continue;
        }
        let (leading, trailing) = (xor.leading_zeros(), xor.trailing_zeros());
        match window {
            Some((lead, trail)) if leading >= lead && trailing >= trail => bits += 2 + u64::from(32 - lead - trail),
            _ => {
                bits += 2 + 5 + 6 + u64::from(32 - leading - trailing);
                window = Some((leading, trailing));
            }
        }
    }
    header_bits(samples) + gorilla_times_bits(samples) + bits
}

fn gorilla_times_rice_values_bits(samples: &[SegmentSample]) -> u64 {
    header_bits(samples) + gorilla_times_bits(samples) + rice_values_bits(samples)
}

/// Byte-aligned zigzag LEB128 of every time and value delta.
fn varint_bits(samples: &[SegmentSample]) -> u64 {
    let mut writer = BitWriter::default();
    for (dt, dv) in deltas(samples) {
        writer.write_zigzag(dt);
        writer.write_zigzag(dv);
    }
    header_bits(samples) + writer.finish().len() as u64 * 8
}

/// The serde/bincode-free fixed-width row: i64 time, u32 ordinal, i32 value, little endian.
fn raw_rows(samples: &[SegmentSample]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 16);
    for sample in samples {
        out.extend_from_slice(&sample.t_s.to_le_bytes());
        out.extend_from_slice(&sample.ordinal.to_le_bytes());
        out.extend_from_slice(&sample.value.to_le_bytes());
    }
    out
}

fn from_raw_rows(bytes: &[u8]) -> Vec<SegmentSample> {
    bytes
        .chunks_exact(16)
        .map(|row| {
            let word = |range: std::ops::Range<usize>| row.get(range).unwrap_or_default();
            SegmentSample {
                t_s: i64::from_le_bytes(word(0..8).try_into().unwrap_or_default()),
                ordinal: u32::from_le_bytes(word(8..12).try_into().unwrap_or_default()),
                value: i32::from_le_bytes(word(12..16).try_into().unwrap_or_default()),
            }
        })
        .collect()
}
