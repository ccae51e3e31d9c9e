//! The plaintext encoding of a block (what is encrypted): header, then delta-coded
//! timestamps and values, bit-packed. See `docs/protocol.md` § Plaintext for the format.

use alloc::vec::Vec;

use crate::bits::{AdaptiveRice, BitReader, BitWriter, unzigzag, zigzag};
use crate::block::{Block, Channel, MAX_CHANNELS, MAX_SAMPLES, Quantity, Sample};
use crate::error::OpenError;
use crate::resolution::{MAX_RANGES, ResolutionTable};
use crate::serial::Serial;

/// Timestamp deltas as a base interval plus a list of exceptions.
const TIME_MODE_EXCEPTIONS: bool = false;
/// Timestamp deltas as adaptive-Rice-coded differences from the base interval.
const TIME_MODE_RICE: bool = true;

/// Encodes the secret part of a block (everything but the serial, which travels in clear).
pub fn encode_plaintext(block: &Block) -> Vec<u8> {
    let samples = block.samples();
    let mut writer = BitWriter::with_capacity(32 + samples.len() * block.channels().len());
    writer.write_varint(block.counter());
    // At most MAX_CHANNELS (16) channels, checked by Block::new.
    writer.write_u8(block.channels().len() as u8);
    for channel in block.channels() {
        writer.write_u8(channel.quantity.wire_id());
        writer.write_zigzag(i64::from(channel.resolution.lowest()));
        writer.write_varint(channel.resolution.ranges().len() as u64);
        for (step, n_steps) in channel.resolution.wire_ranges() {
            writer.write_varint(u64::from(step));
            writer.write_varint(u64::from(n_steps));
        }
    }
    writer.write_varint(samples.len() as u64);
    let Some(first) = samples.first() else {
        return writer.finish();
    };
    writer.write_zigzag(first.time);
    encode_times(&mut writer, samples);
    for (channel_idx, channel) in block.channels().iter().enumerate() {
        encode_channel(&mut writer, samples, channel_idx, &channel.resolution);
    }
    writer.finish()
}

/// Decodes a plaintext produced by [`encode_plaintext`]. Rejects anything else, including
/// non-canonical encodings and trailing bytes, with the single opaque [`OpenError`].
pub fn decode_plaintext(bytes: &[u8], serial: Serial) -> Result<Block, OpenError> {
    decode(bytes, serial).ok_or(OpenError(()))
}

fn decode(bytes: &[u8], serial: Serial) -> Option<Block> {
    let mut reader = BitReader::new(bytes);
    let counter = reader.read_varint()?;
    let n_channels = usize::from(reader.read_u8()?);
    if n_channels == 0 || n_channels > MAX_CHANNELS {
        return None;
    }
    let mut channels = Vec::with_capacity(n_channels);
    for _ in 0..n_channels {
        let quantity = Quantity::from_wire_id(reader.read_u8()?)?;
        let lowest = i32::try_from(reader.read_zigzag()?).ok()?;
        let n_ranges = usize::try_from(reader.read_varint()?).ok()?;
        if n_ranges == 0 || n_ranges > MAX_RANGES {
            return None;
        }
        let mut wire = [(0u32, 0u32); MAX_RANGES];
        for slot in wire.iter_mut().take(n_ranges) {
            let step = u32::try_from(reader.read_varint()?).ok()?;
            let n_steps = u32::try_from(reader.read_varint()?).ok()?;
            *slot = (step, n_steps);
        }
        let resolution = ResolutionTable::from_wire(lowest, wire.get(..n_ranges)?)?;
        channels.push(Channel { quantity, resolution });
    }
    let n_samples = usize::try_from(reader.read_varint()?).ok()?;
    // Every sample after the first costs at least one bit per channel, so a count beyond the
    // remaining bits is a lie; refusing it here bounds the allocations below.
    if n_samples > MAX_SAMPLES || n_samples > reader.remaining_bits() + 1 {
        return None;
    }
    let mut samples = Vec::with_capacity(n_samples);
    if n_samples > 0 {
        let mut time = reader.read_zigzag()?;
        let deltas = decode_times(&mut reader, n_samples)?;
        samples.push(Sample { time, values: Vec::with_capacity(n_channels) });
        for delta in deltas {
            time = time.checked_add_unsigned(delta)?;
            samples.push(Sample { time, values: Vec::with_capacity(n_channels) });
        }
        for channel in &channels {
            decode_channel(&mut reader, &mut samples, &channel.resolution)?;
        }
    }
    reader.finish()?;
    Block::new(serial, counter, channels, samples).ok()
}

/// The most frequent time delta (the smallest one on a tie), or 0 for fewer than two samples.
fn base_interval(deltas: &[u64]) -> u64 {
    let mut sorted = deltas.to_vec();
    sorted.sort_unstable();
    let mut best = (0usize, 0u64);
    let mut run_start = 0;
    for idx in 1..=sorted.len() {
        if idx == sorted.len() || sorted[idx] != sorted[run_start] {
            let run_len = idx - run_start;
            if run_len > best.0 {
                best = (run_len, sorted[run_start]);
            }
            run_start = idx;
        }
    }
    best.1
}

fn varint_bits(value: u64) -> u64 {
    let significant = u64::from(64 - value.leading_zeros()).max(1);
    significant.div_ceil(7) * 8
}

fn encode_times(writer: &mut BitWriter, samples: &[Sample]) {
    // Times never go backwards (Block::new), so each delta fits in u64.
    let deltas: Vec<u64> = samples.windows(2).map(|pair| pair[1].time.wrapping_sub(pair[0].time) as u64).collect();
    let base = base_interval(&deltas);
    writer.write_varint(base);

    let mut exceptions = Vec::new();
    let mut last_exception: Option<usize> = None;
    let mut exceptions_bits = 0u64;
    for (idx, &delta) in deltas.iter().enumerate() {
        if delta != base {
            let gap = match last_exception {
                Some(last) => idx - last - 1,
                None => idx,
            };
            exceptions_bits += varint_bits(gap as u64) + varint_bits(delta);
            exceptions.push((gap as u64, delta));
            last_exception = Some(idx);
        }
    }
    exceptions_bits += varint_bits(exceptions.len() as u64);

    let mut rice = AdaptiveRice::new();
    let rice_bits: u64 = deltas.iter().map(|&delta| rice.cost(zigzag(delta.wrapping_sub(base) as i64))).sum();

    if exceptions_bits <= rice_bits {
        writer.write_bit(TIME_MODE_EXCEPTIONS);
        writer.write_varint(exceptions.len() as u64);
        for (gap, delta) in exceptions {
            writer.write_varint(gap);
            writer.write_varint(delta);
        }
    } else {
        writer.write_bit(TIME_MODE_RICE);
        let mut rice = AdaptiveRice::new();
        for &delta in &deltas {
            rice.write(writer, zigzag(delta.wrapping_sub(base) as i64));
        }
    }
}

/// Returns the `n_samples - 1` time deltas.
fn decode_times(reader: &mut BitReader<'_>, n_samples: usize) -> Option<Vec<u64>> {
    let n_deltas = n_samples - 1;
    let base = reader.read_varint()?;
    let mut deltas = alloc::vec![base; n_deltas];
    if reader.read_bit()? == TIME_MODE_EXCEPTIONS {
        let n_exceptions = usize::try_from(reader.read_varint()?).ok()?;
        if n_exceptions > n_deltas {
            return None;
        }
        let mut next_idx = 0usize;
        for _ in 0..n_exceptions {
            let gap = usize::try_from(reader.read_varint()?).ok()?;
            let idx = next_idx.checked_add(gap)?;
            let delta = reader.read_varint()?;
            // An exception equal to the base would be a second encoding of the same times.
            if delta == base {
                return None;
            }
            *deltas.get_mut(idx)? = delta;
            next_idx = idx + 1;
        }
    } else {
        let mut rice = AdaptiveRice::new();
        for delta in &mut deltas {
            *delta = base.wrapping_add(unzigzag(rice.read(reader)?) as u64);
        }
    }
    Some(deltas)
}

fn encode_channel(writer: &mut BitWriter, samples: &[Sample], channel_idx: usize, table: &ResolutionTable) {
    // Block::new checked that every value is on the grid; 0 is never used.
    let code =
        |sample: &Sample| sample.values.get(channel_idx).and_then(|&value| table.code_of(value)).map_or(0, i64::from);
    let mut previous = samples.first().map_or(0, code);
    writer.write_varint(previous as u64);
    let mut rice = AdaptiveRice::new();
    for sample in samples.iter().skip(1) {
        let current = code(sample);
        rice.write(writer, zigzag(current - previous));
        previous = current;
    }
}

fn decode_channel(reader: &mut BitReader<'_>, samples: &mut [Sample], table: &ResolutionTable) -> Option<()> {
    let n_codes = i64::from(table.n_codes());
    let mut code = i64::try_from(reader.read_varint()?).ok()?;
    let mut rice = AdaptiveRice::new();
    for (sample_idx, sample) in samples.iter_mut().enumerate() {
        if sample_idx > 0 {
            code = code.checked_add(unzigzag(rice.read(reader)?))?;
        }
        if !(0..n_codes).contains(&code) {
            return None;
        }
        sample.values.push(table.value_of(u32::try_from(code).ok()?)?);
    }
    Some(())
}
