//! Fuzz target: the storage segment decoder (`logvault_core::segment`) on arbitrary bytes.
//!
//! Segments are written by the server itself, but a database file is an input too (a restored backup, a tampered
//! disk): the decoder must never panic, never allocate beyond its bound, and accept only canonical bytes — whatever
//! decodes re-encodes to exactly the input, and its header says what the samples say.

#![no_main]

use libfuzzer_sys::fuzz_target;
use logvault_core::segment::{Segment, SegmentHeader, read_window};

fuzz_target!(|data: &[u8]| {
    let header = SegmentHeader::peek(data);
    if let Ok(segment) = Segment::decode(data) {
        assert_eq!(segment.encode(), data, "a non-canonical encoding was accepted");
        assert_eq!(header, Ok(segment.header()), "the header disagrees with the samples");
        let window = read_window([data], segment.first_t_s(), segment.last_t_s());
        assert_eq!(window.as_deref(), Ok(segment.samples()), "a window over the whole segment lost samples");
    }
});
