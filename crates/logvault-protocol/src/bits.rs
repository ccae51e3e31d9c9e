//! Bit-level writer and reader (MSB first) with LEB128 varints and adaptive Rice codes.
//!
//! Everything here is infallible on the write side and bounds-checked on the read side: a
//! reader never panics, whatever bytes it is handed, and returns `None` on any malformation.
//!
//! Public so that other columnar codecs (the storage segments of `logvault-core`) share the exact same primitives
//! instead of a second copy; the wire format does not depend on anything else being exported.

use alloc::vec::Vec;

/// Writes bits most-significant first into a growing byte vector.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Pending bits, right-aligned.
    acc: u64,
    /// Number of pending bits in `acc` (always < 8 between calls).
    n_acc: u32,
}

impl BitWriter {
    /// An empty writer whose buffer holds `n_bytes` before it grows.
    pub fn with_capacity(n_bytes: usize) -> Self {
        Self { bytes: Vec::with_capacity(n_bytes), acc: 0, n_acc: 0 }
    }

    /// Writes the `n_bits` low bits of `value` (0 ≤ n_bits ≤ 64).
    pub fn write_bits(&mut self, value: u64, n_bits: u32) {
        debug_assert!(n_bits <= 64);
        // Split into two halves so that `acc` (holding < 8 pending bits) never overflows.
        if n_bits > 32 {
            self.write_bits_small(value >> 32, n_bits - 32);
            self.write_bits_small(value & 0xFFFF_FFFF, 32);
        } else {
            self.write_bits_small(value, n_bits);
        }
    }

    fn write_bits_small(&mut self, value: u64, n_bits: u32) {
        if n_bits == 0 {
            return;
        }
        let mask = (1u64 << n_bits) - 1;
        self.acc = (self.acc << n_bits) | (value & mask);
        self.n_acc += n_bits;
        while self.n_acc >= 8 {
            self.n_acc -= 8;
            // Truncation to the low byte is intended.
            self.bytes.push((self.acc >> self.n_acc) as u8);
        }
        self.acc &= (1u64 << self.n_acc) - 1;
    }

    /// Writes one bit.
    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits_small(u64::from(bit), 1);
    }

    /// Writes `count` one-bits.
    pub fn write_ones(&mut self, mut count: u32) {
        while count > 0 {
            let n = count.min(32);
            self.write_bits_small((1u64 << n) - 1, n);
            count -= n;
        }
    }

    /// Writes eight bits.
    pub fn write_u8(&mut self, value: u8) {
        self.write_bits_small(u64::from(value), 8);
    }

    /// LEB128: seven value bits per byte, least significant group first, high bit = "more".
    pub fn write_varint(&mut self, mut value: u64) {
        loop {
            let group = (value & 0x7F) as u8;
            value >>= 7;
            if value == 0 {
                self.write_u8(group);
                return;
            }
            self.write_u8(group | 0x80);
        }
    }

    /// Writes a signed value as the varint of its zigzag mapping.
    pub fn write_zigzag(&mut self, value: i64) {
        self.write_varint(zigzag(value));
    }

    /// Pads with zero bits to the next byte boundary and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if self.n_acc > 0 {
            let pad = 8 - self.n_acc;
            self.write_bits_small(0, pad);
        }
        self.bytes
    }
}

/// Reads bits most-significant first from a byte slice.
#[derive(Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits from the start of `bytes`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bits not read yet.
    pub fn remaining_bits(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.pos)
    }

    /// Reads one bit.
    pub fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Reads `n_bits` (0 ≤ n_bits ≤ 64) as an unsigned integer.
    pub fn read_bits(&mut self, n_bits: u32) -> Option<u64> {
        if n_bits > 64 || self.remaining_bits() < n_bits as usize {
            return None;
        }
        let mut value = 0u64;
        let mut left = n_bits;
        while left > 0 {
            let byte = *self.bytes.get(self.pos / 8)?;
            let used = (self.pos % 8) as u32;
            let avail = 8 - used;
            let take = avail.min(left);
            let chunk = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            value = (value << take) | chunk;
            self.pos += take as usize;
            left -= take;
        }
        Some(value)
    }

    /// Counts one-bits up to a terminating zero, reading at most `limit` ones. Returns the count;
    /// when it equals `limit` no terminator was consumed.
    pub fn read_unary(&mut self, limit: u32) -> Option<u32> {
        let mut count = 0;
        while count < limit {
            if !self.read_bit()? {
                return Some(count);
            }
            count += 1;
        }
        Some(count)
    }

    /// Reads eight bits.
    pub fn read_u8(&mut self) -> Option<u8> {
        self.read_bits(8).and_then(|v| u8::try_from(v).ok())
    }

    /// Reads a canonical LEB128 varint: at most ten bytes, no redundant trailing zero group.
    pub fn read_varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for group_idx in 0..10u32 {
            let byte = self.read_u8()?;
            let group = u64::from(byte & 0x7F);
            let shift = group_idx * 7;
            if group_idx == 9 && group > 1 {
                return None;
            }
            value |= group << shift;
            if byte & 0x80 == 0 {
                if group_idx > 0 && group == 0 {
                    return None;
                }
                return Some(value);
            }
        }
        None
    }

    /// Reads a signed value written by [`BitWriter::write_zigzag`].
    pub fn read_zigzag(&mut self) -> Option<i64> {
        self.read_varint().map(unzigzag)
    }

    /// Succeeds only if the reader sits within the last byte and every bit left is zero: the
    /// encoding of a value is then unique and trailing garbage is rejected.
    pub fn finish(mut self) -> Option<()> {
        if self.remaining_bits() >= 8 {
            return None;
        }
        let left = self.remaining_bits() as u32;
        (self.read_bits(left)? == 0).then_some(())
    }
}

/// Maps signed to unsigned so that small magnitudes stay small: 0, -1, 1, -2… → 0, 1, 2, 3…
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Adaptive Rice (Golomb power-of-two) coder state, after JPEG-LS (ITU-T T.87 §A.5): the
/// parameter `k` follows the running mean of the coded magnitudes, so a flat series costs one
/// bit per value and a burst of large steps quickly widens the code.
#[derive(Debug, Clone)]
pub struct AdaptiveRice {
    /// Sum of recent coded values (halved together with `count`).
    sum: u64,
    count: u64,
}

/// Unary prefixes at or above this length switch to the escape code.
pub const RICE_ESCAPE: u32 = 16;
/// The running sums are halved when `count` reaches this.
const RICE_RESET: u64 = 64;
/// Largest Rice parameter; keeps every shift below 64 bits.
const RICE_MAX_K: u32 = 56;

impl Default for AdaptiveRice {
    fn default() -> Self {
        Self::new()
    }
}

impl AdaptiveRice {
    /// The initial state, as every coded sequence starts.
    pub fn new() -> Self {
        Self { sum: 1, count: 1 }
    }

    fn k(&self) -> u32 {
        let mut k = 0;
        while k < RICE_MAX_K && (self.count << k) < self.sum {
            k += 1;
        }
        k
    }

    fn update(&mut self, value: u64) {
        self.sum = self.sum.saturating_add(value);
        self.count += 1;
        if self.count >= RICE_RESET {
            self.sum >>= 1;
            self.count >>= 1;
        }
    }

    /// Writes `value` with the current parameter and adapts.
    pub fn write(&mut self, writer: &mut BitWriter, value: u64) {
        let k = self.k();
        let quotient = value >> k;
        if quotient < u64::from(RICE_ESCAPE) {
            // Fits in u32 because it is below RICE_ESCAPE.
            writer.write_ones(quotient as u32);
            writer.write_bit(false);
            writer.write_bits(value, k);
        } else {
            // Escape: the prefix, six bits for (bit length - 1), then the bits below the
            // implicit leading one.
            writer.write_ones(RICE_ESCAPE);
            let bit_len = 64 - value.leading_zeros();
            writer.write_bits(u64::from(bit_len - 1), 6);
            writer.write_bits(value, bit_len - 1);
        }
        self.update(value);
    }

    /// The number of bits [`write`](Self::write) would emit, with the same state update.
    pub fn cost(&mut self, value: u64) -> u64 {
        let k = self.k();
        let quotient = value >> k;
        let bits = if quotient < u64::from(RICE_ESCAPE) {
            quotient + 1 + u64::from(k)
        } else {
            u64::from(RICE_ESCAPE) + 6 + u64::from(63 - value.leading_zeros())
        };
        self.update(value);
        bits
    }

    /// Reads a value written by [`write`](Self::write) from the same state; `None` on a malformed or
    /// non-canonical code.
    pub fn read(&mut self, reader: &mut BitReader<'_>) -> Option<u64> {
        let k = self.k();
        let quotient = reader.read_unary(RICE_ESCAPE)?;
        let value = if quotient < RICE_ESCAPE {
            let low = reader.read_bits(k)?;
            (u64::from(quotient) << k) | low
        } else {
            let bit_len = reader.read_bits(6)? as u32 + 1;
            let low = reader.read_bits(bit_len - 1)?;
            let value = (1u64 << (bit_len - 1)) | low;
            // Reject escapes of values that the short form covers, so every value has one
            // encoding.
            if (value >> k) < u64::from(RICE_ESCAPE) {
                return None;
            }
            value
        };
        self.update(value);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips_the_extremes() {
        for v in [0, 1, -1, 2, -2, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn varints_and_rice_codes_round_trip() {
        let values = [0u64, 1, 2, 127, 128, 300, 1 << 40, u64::MAX, 5, 0, 0, 1, u64::MAX - 1];
        let mut writer = BitWriter::default();
        let mut rice = AdaptiveRice::new();
        for &v in &values {
            writer.write_varint(v);
            rice.write(&mut writer, v);
            writer.write_bit(true);
        }
        let bytes = writer.finish();
        let mut reader = BitReader::new(&bytes);
        let mut rice = AdaptiveRice::new();
        for &v in &values {
            assert_eq!(reader.read_varint(), Some(v));
            assert_eq!(rice.read(&mut reader), Some(v));
            assert_eq!(reader.read_bit(), Some(true));
        }
        assert_eq!(reader.finish(), Some(()));
    }

    #[test]
    fn overlong_varints_are_rejected() {
        assert_eq!(BitReader::new(&[0x80, 0x00]).read_varint(), None);
        assert_eq!(BitReader::new(&[0xFF; 10]).read_varint(), None);
        assert_eq!(BitReader::new(&[0x80]).read_varint(), None);
    }
}
