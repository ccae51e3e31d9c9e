//! The byte format of a segment, version 1.
//!
//! ```text
//! byte-aligned header
//!   u8      version (1)
//!   varint  n_samples (1 ..= MAX_SEGMENT_SAMPLES)
//!   zigzag  first t_s
//!   varint  last t_s - first t_s
//!   u8      flags: bits 0-1 time mode (0 exceptions, 1 Rice, 2 delta of delta), bit 2 ordinals present, rest 0
//! body (bit-packed, MSB first)
//!   zigzag  first value
//!   when n_samples > 1:
//!     varint  base interval (the most frequent time delta, the smallest on a tie)
//!     times, by mode:
//!       0  varint n_exceptions, then per exception: varint (index gap since the previous one), varint delta ≠ base
//!       1  per delta: adaptive Rice of zigzag(delta - base)
//!       2  per delta: adaptive Rice of zigzag(delta - previous delta), the "previous" of the first being the base
//!     values: per sample after the first, adaptive Rice of zigzag(value - previous value)
//!   when ordinals are present, per sample: adaptive Rice of the ordinal, or of (ordinal - previous ordinal - 1)
//!   when its time equals the previous sample's
//!   zero bits to the byte boundary
//! ```
//!
//! The encoder sizes the three time modes and writes the smallest (the lowest mode on a tie); the ordinal column is
//! present only when some ordinal is not 0. The encoding is therefore a function of the samples, and the decoder
//! enforces it by encoding what it decoded and comparing: any other byte string — another mode, a redundant varint,
//! a wrong last time, set padding or flag bits, trailing bytes — is [`SegmentError::Malformed`].

use logvault_protocol::bits::{AdaptiveRice, BitReader, BitWriter, unzigzag, zigzag};

use super::{MAX_SEGMENT_SAMPLES, Segment, SegmentError, SegmentHeader, SegmentSample};

/// The only version this code writes and reads.
pub const SEGMENT_VERSION: u8 = 1;

const TIME_MODE_EXCEPTIONS: u8 = 0;
const TIME_MODE_RICE: u8 = 1;
const TIME_MODE_DELTA_OF_DELTA: u8 = 2;
const TIME_MODE_MASK: u8 = 0b011;
const FLAG_ORDINALS: u8 = 0b100;

pub(super) fn encode(samples: &[SegmentSample]) -> Vec<u8> {
    // About 2-4 bits per sample on real series; the header is at most 31 bytes.
    let mut writer = BitWriter::with_capacity(32 + samples.len() / 2);
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return writer.finish();
    };
    // Times never decrease within a segment, so each difference fits in u64.
    let deltas: Vec<u64> = samples.windows(2).map(|pair| pair[1].t_s.wrapping_sub(pair[0].t_s) as u64).collect();
    let base = base_interval(&deltas);
    let time_mode = cheapest_time_mode(&deltas, base);
    let has_ordinals = samples.iter().any(|sample| sample.ordinal != 0);

    writer.write_u8(SEGMENT_VERSION);
    writer.write_varint(samples.len() as u64);
    writer.write_zigzag(first.t_s);
    writer.write_varint(last.t_s.wrapping_sub(first.t_s) as u64);
    writer.write_u8(time_mode | if has_ordinals { FLAG_ORDINALS } else { 0 });
    writer.write_zigzag(i64::from(first.value));
    if samples.len() > 1 {
        writer.write_varint(base);
        encode_times(&mut writer, &deltas, base, time_mode);
        let mut rice = AdaptiveRice::new();
        for pair in samples.windows(2) {
            rice.write(&mut writer, zigzag(i64::from(pair[1].value) - i64::from(pair[0].value)));
        }
    }
    if has_ordinals {
        let mut rice = AdaptiveRice::new();
        rice.write(&mut writer, u64::from(first.ordinal));
        for pair in samples.windows(2) {
            let (previous, current) = (pair[0], pair[1]);
            // Strictly increasing keys: within one second the ordinal grows by at least one.
            let coded =
                if current.t_s == previous.t_s { current.ordinal - previous.ordinal - 1 } else { current.ordinal };
            rice.write(&mut writer, u64::from(coded));
        }
    }
    writer.finish()
}

pub(super) fn peek(bytes: &[u8]) -> Result<SegmentHeader, SegmentError> {
    let mut reader = BitReader::new(bytes);
    read_header(&mut reader).map(|(header, _)| header)
}

pub(super) fn decode(bytes: &[u8]) -> Result<Segment, SegmentError> {
    let mut reader = BitReader::new(bytes);
    let (header, flags) = read_header(&mut reader)?;
    let samples = decode_body(&mut reader, &header, flags).ok_or(SegmentError::Malformed)?;
    let segment = Segment::new(samples).map_err(|_| SegmentError::Malformed)?;
    // One encoding per segment: re-encoding is the exact statement of every canonical rule at once.
    if segment.encode() != bytes {
        return Err(SegmentError::Malformed);
    }
    Ok(segment)
}

fn read_header(reader: &mut BitReader<'_>) -> Result<(SegmentHeader, u8), SegmentError> {
    let version = reader.read_u8().ok_or(SegmentError::Malformed)?;
    if version != SEGMENT_VERSION {
        return Err(SegmentError::UnsupportedVersion(version));
    }
    let malformed = || SegmentError::Malformed;
    let n_samples = usize::try_from(reader.read_varint().ok_or_else(malformed)?).map_err(|_| malformed())?;
    if n_samples == 0 || n_samples > MAX_SEGMENT_SAMPLES {
        return Err(malformed());
    }
    let first_t_s = reader.read_zigzag().ok_or_else(malformed)?;
    let span = reader.read_varint().ok_or_else(malformed)?;
    let last_t_s = first_t_s.checked_add_unsigned(span).ok_or_else(malformed)?;
    let flags = reader.read_u8().ok_or_else(malformed)?;
    if flags & !(TIME_MODE_MASK | FLAG_ORDINALS) != 0 || flags & TIME_MODE_MASK > TIME_MODE_DELTA_OF_DELTA {
        return Err(malformed());
    }
    Ok((SegmentHeader { version, n_samples, first_t_s, last_t_s }, flags))
}

fn decode_body(reader: &mut BitReader<'_>, header: &SegmentHeader, flags: u8) -> Option<Vec<SegmentSample>> {
    let n_samples = header.n_samples;
    // Every value after the first costs at least one bit, so a count beyond the bits left is a lie; refusing it
    // bounds every allocation below by the input's length.
    if n_samples - 1 > reader.remaining_bits() {
        return None;
    }
    let mut samples = Vec::with_capacity(n_samples);
    let mut value = i32::try_from(reader.read_zigzag()?).ok()?;
    samples.push(SegmentSample { t_s: header.first_t_s, ordinal: 0, value });
    if n_samples > 1 {
        let base = reader.read_varint()?;
        let deltas = decode_times(reader, n_samples - 1, base, flags & TIME_MODE_MASK)?;
        let mut rice = AdaptiveRice::new();
        let mut t_s = header.first_t_s;
        for delta in deltas {
            t_s = t_s.checked_add_unsigned(delta)?;
            let step = unzigzag(rice.read(reader)?);
            value = i32::try_from(i64::from(value).checked_add(step)?).ok()?;
            samples.push(SegmentSample { t_s, ordinal: 0, value });
        }
    }
    if flags & FLAG_ORDINALS != 0 {
        let mut rice = AdaptiveRice::new();
        let mut previous: Option<SegmentSample> = None;
        for sample in &mut samples {
            let coded = u32::try_from(rice.read(reader)?).ok()?;
            sample.ordinal = match previous {
                Some(previous) if previous.t_s == sample.t_s => previous.ordinal.checked_add(1)?.checked_add(coded)?,
                _ => coded,
            };
            previous = Some(*sample);
        }
    }
    Some(samples)
}

fn decode_times(reader: &mut BitReader<'_>, n_deltas: usize, base: u64, mode: u8) -> Option<Vec<u64>> {
    let mut deltas = vec![base; n_deltas];
    match mode {
        TIME_MODE_EXCEPTIONS => {
            let n_exceptions = usize::try_from(reader.read_varint()?).ok()?;
            if n_exceptions > n_deltas {
                return None;
            }
            let mut next_idx = 0usize;
            for _ in 0..n_exceptions {
                let idx = next_idx.checked_add(usize::try_from(reader.read_varint()?).ok()?)?;
                *deltas.get_mut(idx)? = reader.read_varint()?;
                next_idx = idx + 1;
            }
        }
        TIME_MODE_RICE => {
            let mut rice = AdaptiveRice::new();
            for delta in &mut deltas {
                *delta = base.wrapping_add(unzigzag(rice.read(reader)?) as u64);
            }
        }
        _ => {
            let mut rice = AdaptiveRice::new();
            let mut previous = base;
            for delta in &mut deltas {
                *delta = previous.wrapping_add(unzigzag(rice.read(reader)?) as u64);
                previous = *delta;
            }
        }
    }
    Some(deltas)
}

/// The most frequent time delta (the smallest one on a tie), or 0 when there is none.
fn base_interval(deltas: &[u64]) -> u64 {
    let mut sorted = deltas.to_vec();
    sorted.sort_unstable();
    let mut best = (0usize, 0u64);
    for run in sorted.chunk_by(|a, b| a == b) {
        if run.len() > best.0 {
            best = (run.len(), run[0]);
        }
    }
    best.1
}

fn varint_bits(value: u64) -> u64 {
    u64::from(64 - value.leading_zeros()).max(1).div_ceil(7) * 8
}

/// The exceptions of the exceptions mode: `(index gap since the previous exception, delta)`.
fn exceptions(deltas: &[u64], base: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut next_idx = 0usize;
    for (idx, &delta) in deltas.iter().enumerate() {
        if delta != base {
            out.push(((idx - next_idx) as u64, delta));
            next_idx = idx + 1;
        }
    }
    out
}

fn cheapest_time_mode(deltas: &[u64], base: u64) -> u8 {
    if deltas.is_empty() {
        return TIME_MODE_EXCEPTIONS;
    }
    let listed = exceptions(deltas, base);
    let exceptions_bits = varint_bits(listed.len() as u64)
        + listed.iter().map(|&(gap, delta)| varint_bits(gap) + varint_bits(delta)).sum::<u64>();
    let mut rice = AdaptiveRice::new();
    let rice_bits: u64 = deltas.iter().map(|&delta| rice.cost(zigzag(delta.wrapping_sub(base) as i64))).sum();
    let mut rice = AdaptiveRice::new();
    let mut previous = base;
    let delta_of_delta_bits: u64 = deltas
        .iter()
        .map(|&delta| {
            let bits = rice.cost(zigzag(delta.wrapping_sub(previous) as i64));
            previous = delta;
            bits
        })
        .sum();
    if exceptions_bits <= rice_bits && exceptions_bits <= delta_of_delta_bits {
        TIME_MODE_EXCEPTIONS
    } else if rice_bits <= delta_of_delta_bits {
        TIME_MODE_RICE
    } else {
        TIME_MODE_DELTA_OF_DELTA
    }
}

fn encode_times(writer: &mut BitWriter, deltas: &[u64], base: u64, mode: u8) {
    match mode {
        TIME_MODE_EXCEPTIONS => {
            let listed = exceptions(deltas, base);
            writer.write_varint(listed.len() as u64);
            for (gap, delta) in listed {
                writer.write_varint(gap);
                writer.write_varint(delta);
            }
        }
        TIME_MODE_RICE => {
            let mut rice = AdaptiveRice::new();
            for &delta in deltas {
                rice.write(writer, zigzag(delta.wrapping_sub(base) as i64));
            }
        }
        _ => {
            let mut rice = AdaptiveRice::new();
            let mut previous = base;
            for &delta in deltas {
                rice.write(writer, zigzag(delta.wrapping_sub(previous) as i64));
                previous = delta;
            }
        }
    }
}
