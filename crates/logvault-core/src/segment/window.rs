//! Merging segments whose times interleave, and window reads over a channel's segments.
//!
//! Out-of-order blocks make segments of one channel overlap in time, but never in keys: ingest keeps only the samples
//! of a block not stored before, so a `(t_s, ordinal)` found in two segments is corruption and an error here.

use super::{MAX_SEGMENT_SAMPLES, Segment, SegmentError, SegmentHeader, SegmentSample};

/// One segment holding every sample of `segments` (compaction). Errors when a key repeats, when there is nothing to
/// merge, or when the result would exceed [`MAX_SEGMENT_SAMPLES`].
pub fn merge(segments: &[Segment]) -> Result<Segment, SegmentError> {
    let n_samples: usize = segments.iter().map(Segment::len).sum();
    if n_samples > MAX_SEGMENT_SAMPLES {
        return Err(SegmentError::TooManySamples(n_samples));
    }
    let mut samples = Vec::with_capacity(n_samples);
    for segment in segments {
        samples.extend_from_slice(segment.samples());
    }
    sort_and_check(&mut samples)?;
    Segment::new(samples)
}

/// The samples with `from <= t_s <= to` of the encoded segments of one channel, in `(t_s, ordinal)` order. Only the
/// segments whose header range meets the window are decoded; each is decoded strictly, so a malformed one is an
/// error, as is a key found in two segments.
pub fn read_window<'a>(
    encoded: impl IntoIterator<Item = &'a [u8]>,
    from: i64,
    to: i64,
) -> Result<Vec<SegmentSample>, SegmentError> {
    let mut samples = Vec::new();
    for bytes in encoded {
        if !SegmentHeader::peek(bytes)?.overlaps(from, to) {
            continue;
        }
        let segment = Segment::decode(bytes)?;
        let inside = segment.samples();
        // Each segment is sorted: cut the window out with two binary searches.
        let start = inside.partition_point(|sample| sample.t_s < from);
        let end = inside.partition_point(|sample| sample.t_s <= to);
        samples.extend_from_slice(inside.get(start..end).unwrap_or_default());
    }
    sort_and_check(&mut samples)?;
    Ok(samples)
}

/// Sorts by key and refuses repeated keys. The stable sort finds the already sorted runs each segment contributes, so
/// segments handed over in time order (the usual case) cost one linear pass.
fn sort_and_check(samples: &mut [SegmentSample]) -> Result<(), SegmentError> {
    samples.sort_by_key(SegmentSample::key);
    match samples.windows(2).find(|pair| pair[0].key() == pair[1].key()) {
        Some(pair) => Err(SegmentError::Duplicate { t_s: pair[1].t_s, ordinal: pair[1].ordinal }),
        None => Ok(()),
    }
}
