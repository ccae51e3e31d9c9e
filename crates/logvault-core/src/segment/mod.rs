//! Immutable, columnar, compressed segments of one device channel's samples, the form the store keeps measurements in.
//!
//! A [`Segment`] holds the samples of one channel in strictly increasing `(t_s, ordinal)` order; each value is an
//! `i32` (the store keeps the channel's resolution grid codes, so a step of one grid unit codes as ±1). The byte
//! format (see [`codec`]) starts with a byte-aligned header — version, count, first and last time — that
//! [`SegmentHeader::peek`] reads without decoding the body, followed by the time, value and ordinal columns coded
//! with the protocol's primitives (`logvault_protocol::bits`: varints, adaptive Rice).
//!
//! Decoding is strict: any input that is not exactly what [`Segment::encode`] produces for some segment is an error
//! (never a panic), so `encode(decode(bytes)) == bytes` whenever decoding succeeds, and a decoder never allocates more
//! than [`MAX_SEGMENT_SAMPLES`] samples nor more than the input's bit count can justify.
//!
//! [`merge`] joins segments whose times interleave (out-of-order blocks) and [`read_window`] decodes only the
//! segments overlapping a time window and yields their samples merged in time order.

pub mod codec;
mod window;

#[cfg(test)]
mod tests;

pub use codec::SEGMENT_VERSION;
pub use window::{merge, read_window};

/// The most samples one segment may hold: a year of one-minute samples (525,600) with room to spare, and the bound on
/// what a decoder allocates for a count it reads.
pub const MAX_SEGMENT_SAMPLES: usize = 1 << 20;

/// One sample of one channel: its time (Unix seconds), its ordinal among the samples of the same second (0 for the
/// first), and its value (the channel's resolution grid code as the store keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentSample {
    pub t_s: i64,
    pub ordinal: u32,
    pub value: i32,
}

impl SegmentSample {
    /// The key a segment orders and deduplicates by.
    pub fn key(&self) -> (i64, u32) {
        (self.t_s, self.ordinal)
    }
}

/// A non-empty series of samples in strictly increasing `(t_s, ordinal)` order, at most [`MAX_SEGMENT_SAMPLES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    samples: Vec<SegmentSample>,
}

/// What the byte-aligned start of an encoded segment says, read without decoding the columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub version: u8,
    pub n_samples: usize,
    pub first_t_s: i64,
    pub last_t_s: i64,
}

impl SegmentHeader {
    /// Reads the header of an encoded segment. Success says nothing about the rest: only [`Segment::decode`] checks
    /// the whole.
    pub fn peek(bytes: &[u8]) -> Result<Self, SegmentError> {
        codec::peek(bytes)
    }

    /// Whether the segment's time range meets the closed window `[from, to]`.
    pub fn overlaps(&self, from: i64, to: i64) -> bool {
        self.first_t_s <= to && self.last_t_s >= from
    }
}

/// Why samples do not make a segment, or bytes do not decode to one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("a segment holds at least one sample")]
    Empty,
    #[error("a segment holds at most {MAX_SEGMENT_SAMPLES} samples, not {0}")]
    TooManySamples(usize),
    #[error("sample {index} is not after the one before it (times and ordinals must strictly increase)")]
    NotIncreasing { index: usize },
    #[error("two samples share the time {t_s} and ordinal {ordinal}")]
    Duplicate { t_s: i64, ordinal: u32 },
    #[error("unsupported segment version {0}")]
    UnsupportedVersion(u8),
    #[error("malformed segment")]
    Malformed,
}

impl Segment {
    /// Checks the invariants: non-empty, at most [`MAX_SEGMENT_SAMPLES`], strictly increasing `(t_s, ordinal)`.
    pub fn new(samples: Vec<SegmentSample>) -> Result<Self, SegmentError> {
        if samples.is_empty() {
            return Err(SegmentError::Empty);
        }
        if samples.len() > MAX_SEGMENT_SAMPLES {
            return Err(SegmentError::TooManySamples(samples.len()));
        }
        if let Some(index) = samples.windows(2).position(|pair| pair[0].key() >= pair[1].key()) {
            let (earlier, later) = (samples[index], samples[index + 1]);
            if earlier.key() == later.key() {
                return Err(SegmentError::Duplicate { t_s: later.t_s, ordinal: later.ordinal });
            }
            return Err(SegmentError::NotIncreasing { index: index + 1 });
        }
        Ok(Self { samples })
    }

    pub fn samples(&self) -> &[SegmentSample] {
        &self.samples
    }

    pub fn into_samples(self) -> Vec<SegmentSample> {
        self.samples
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Always false (a segment is never empty); here because clippy expects it next to `len`.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn first_t_s(&self) -> i64 {
        self.samples.first().map_or(0, |sample| sample.t_s)
    }

    pub fn last_t_s(&self) -> i64 {
        self.samples.last().map_or(0, |sample| sample.t_s)
    }

    pub fn header(&self) -> SegmentHeader {
        SegmentHeader {
            version: SEGMENT_VERSION,
            n_samples: self.samples.len(),
            first_t_s: self.first_t_s(),
            last_t_s: self.last_t_s(),
        }
    }

    /// The canonical encoding (see [`codec`]).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(&self.samples)
    }

    /// Decodes what [`encode`](Self::encode) produced; every other input is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, SegmentError> {
        codec::decode(bytes)
    }
}
