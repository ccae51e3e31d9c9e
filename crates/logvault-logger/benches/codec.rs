//! Codec benchmark: encode/decode throughput and bytes per sample of the synthetic series,
//! against two baselines measured in the same run, plus samples per QR code.
//!
//! Run: `cargo bench -p logvault-logger --bench codec` (prints Markdown for
//! docs/PERFORMANCE.md). Plain `std::time`: each figure is the best of five rounds of at
//! least 0.3 s, so a busy shared machine shows up less in the numbers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use logvault_logger::sim::{SeriesSpec, default_channel, synthesize};
use logvault_protocol::qr::{capacities, ec_level_name};
use logvault_protocol::{
    Block, DeviceKey, KeyGeneration, Quantity, Sample, Serial, decode_plaintext, encode_plaintext, open, seal,
};

const N_SAMPLES: usize = 1_500;

fn main() {
    let key = DeviceKey::from_bytes([0x42; 16]);
    let series = [
        ("temperature, 5 min", vec![Quantity::Temperature], 300, false),
        ("temperature + humidity, 5 min", vec![Quantity::Temperature, Quantity::RelativeHumidity], 300, false),
        ("temperature, 1 min", vec![Quantity::Temperature], 60, false),
        ("temperature, 5 min, clock jitter ±2 s", vec![Quantity::Temperature], 300, true),
    ];
    println!(
        "| series ({N_SAMPLES} samples) | ours B/sample | zigzag+varint B/sample | fixed-width B/sample | ours vs varint | encode samples/s | decode samples/s | varint encode samples/s | varint decode samples/s | seal+open samples/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, quantities, interval, jitter) in &series {
        let block = synthetic_block(quantities, *interval, N_SAMPLES, *jitter, 1);
        let ours = encode_plaintext(&block);
        let varint = varint_baseline::encode(&block);
        let fixed = fixed_width_len(&block);
        assert_eq!(decode_plaintext(&ours, block.serial().clone()).as_ref(), Ok(&block));
        assert_eq!(varint_baseline::decode(&varint, quantities.len()), block.samples());

        let encode = rate(|| encode_plaintext(black_box(&block)).len());
        let decode =
            rate(|| decode_plaintext(black_box(&ours), block.serial().clone()).map_or(0, |b| b.samples().len()));
        let varint_encode = rate(|| varint_baseline::encode(black_box(&block)).len());
        let varint_decode = rate(|| varint_baseline::decode(black_box(&varint), quantities.len()).len());
        let sealed = seal(&block, &key, KeyGeneration(0));
        let seal_open =
            rate(|| open(&seal(black_box(&block), &key, KeyGeneration(0)), &key).map_or(0, |b| b.counter() as usize));
        assert!(!sealed.is_empty());

        let per_sample = |len: usize| len as f64 / N_SAMPLES as f64;
        println!(
            "| {name} | {:.3} | {:.3} | {:.1} | {:.2}× smaller | {} | {} | {} | {} | {} |",
            per_sample(ours.len()),
            per_sample(varint.len()),
            per_sample(fixed),
            varint.len() as f64 / ours.len() as f64,
            human(encode),
            human(decode),
            human(varint_encode),
            human(varint_decode),
            human(seal_open),
        );
    }

    println!();
    println!("| channels | link prefix | L | M | Q | H |");
    println!("|---|---|---|---|---|---|");
    for quantities in [vec![Quantity::Temperature], vec![Quantity::Temperature, Quantity::RelativeHumidity]] {
        let block = synthetic_block(&quantities, 300, 20_000, false, 1);
        let base_url = "https://logvault.example.com";
        let caps = capacities(&block, &key, KeyGeneration(0), base_url);
        let cells: Vec<String> = caps.iter().map(|c| format!("{} ({} chars)", c.max_samples, c.link_len)).collect();
        let levels: Vec<&str> = caps.iter().map(|c| ec_level_name(c.level)).collect();
        assert_eq!(levels, ["L", "M", "Q", "H"]);
        println!("| {} | `{base_url}/l#` | {} |", quantities.len(), cells.join(" | "));
    }
}

/// The simulator's series through a logger-like scaling, as a block.
fn synthetic_block(quantities: &[Quantity], interval: u32, n_samples: usize, jitter: bool, seed: u64) -> Block {
    let spec = SeriesSpec { samples: n_samples, interval, start: 1_767_225_600, seed, quantities: quantities.to_vec() };
    let channels: Vec<_> = quantities.iter().map(|&q| default_channel(q)).collect();
    let mut last_time = i64::MIN;
    let samples = synthesize(&spec)
        .into_iter()
        .enumerate()
        .map(|(idx, (time, raw))| {
            // Deterministic jitter of -2..=2 s, never going backwards.
            let time = if jitter { (time + (idx as i64 * 7919 % 5) - 2).max(last_time) } else { time };
            last_time = time;
            let values = channels.iter().zip(&raw).map(|(c, &v)| c.resolution.scale(v)).collect();
            Sample { time, values }
        })
        .collect();
    let serial = Serial::parse("LV-000042").unwrap_or_else(|err| panic!("{err}"));
    Block::new(serial, 1, channels, samples).unwrap_or_else(|err| panic!("{err}"))
}

/// Samples per second of `op` over one block of N_SAMPLES samples: best of five rounds.
fn rate(mut op: impl FnMut() -> usize) -> f64 {
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
    N_SAMPLES as f64 / best.as_secs_f64()
}

fn human(per_second: f64) -> String {
    if per_second >= 1e6 { format!("{:.1} M", per_second / 1e6) } else { format!("{:.0} k", per_second / 1e3) }
}

/// Naive layout: i64 time + i32 per value.
fn fixed_width_len(block: &Block) -> usize {
    block.samples().len() * (8 + 4 * block.channels().len())
}

/// Baseline: byte-aligned zigzag + LEB128 varint of every time and value delta.
mod varint_baseline {
    use logvault_protocol::{Block, Sample};

    pub fn encode(block: &Block) -> Vec<u8> {
        let mut out = Vec::new();
        let mut previous: Option<&Sample> = None;
        for sample in block.samples() {
            let (time0, values0) = previous.map_or((0, &[][..]), |p| (p.time, p.values.as_slice()));
            put(&mut out, zigzag(sample.time.wrapping_sub(time0)));
            for (idx, &value) in sample.values.iter().enumerate() {
                put(&mut out, zigzag(i64::from(value) - values0.get(idx).map_or(0, |&v| i64::from(v))));
            }
            previous = Some(sample);
        }
        out
    }

    pub fn decode(bytes: &[u8], n_channels: usize) -> Vec<Sample> {
        let mut pos = 0;
        let mut samples: Vec<Sample> = Vec::new();
        while pos < bytes.len() {
            let last = samples.last();
            let time = last.map_or(0, |s| s.time).wrapping_add(unzigzag(get(bytes, &mut pos)));
            let values = (0..n_channels)
                .map(|idx| {
                    let base = last.map_or(0, |s| i64::from(s.values[idx]));
                    (base + unzigzag(get(bytes, &mut pos))) as i32
                })
                .collect();
            samples.push(Sample { time, values });
        }
        samples
    }

    fn zigzag(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    fn unzigzag(v: u64) -> i64 {
        ((v >> 1) as i64) ^ -((v & 1) as i64)
    }

    fn put(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn get(bytes: &[u8], pos: &mut usize) -> u64 {
        let mut value = 0u64;
        let mut shift = 0;
        while let Some(&byte) = bytes.get(*pos) {
            *pos += 1;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        value
    }
}
