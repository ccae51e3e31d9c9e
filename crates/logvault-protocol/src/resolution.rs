//! Resolution tables: the grid of storable values of one channel, with a step per value range.
//!
//! A table is a list of contiguous ranges. Range `i` covers `[lower_i, upper_i)` with the grid
//! `lower_i + k * step_i`; the last range also includes its upper bound. The lower bound of
//! every range is owned by that range (so with ranges `[-40, -30)` at 0.5 and `[-30, 50)` at
//! 0.1, the value -30.0 belongs to the 0.1 range). Every range must span a whole number of
//! its steps, so the grids meet exactly at the boundaries.
//!
//! Values on the grid are numbered by *codes* `0, 1, 2, …` from the lowest value upwards, one
//! code per grid point across all ranges. The codec stores code differences, so a series that
//! moves one step costs the same in every range.
//!
//! Every grid value is an `i32` (thousandths of the unit), and a table has at most [`MAX_CODES`] grid values, the
//! closing bound included (docs/protocol.md § Resolution tables): the types make the first rule impossible to break
//! when building a table, and the decoder refuses a wire table whose `lowest` or any upper bound lies outside `i32`.

use alloc::vec::Vec;

use crate::error::ResolutionError;

/// Largest number of ranges in one table.
pub const MAX_RANGES: usize = 16;
/// Largest number of grid points (codes) in one table, the closing bound included.
pub const MAX_CODES: u32 = 1 << 30;

/// One range of a [`ResolutionTable`], in the channel's sub-unit (e.g. milli-°C).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResolutionRange {
    /// Lowest value of the range, included.
    pub lower: i32,
    /// Upper bound: excluded, except for the last range of a table where it is included.
    pub upper: i32,
    /// Distance between neighbouring grid values (≥ 1).
    pub step: u32,
}

/// The storable values of a channel: contiguous ranges with their own step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolutionTable {
    ranges: Vec<RangeInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RangeInfo {
    range: ResolutionRange,
    /// Code of `range.lower`.
    first_code: u32,
    /// Number of steps from `lower` to `upper`.
    n_steps: u32,
}

impl ResolutionTable {
    /// Builds a table from its lowest value and, per range, `(step, upper)`.
    ///
    /// `ResolutionTable::new(-40_000, &[(500, -30_000), (100, 50_000), (500, 125_000)])` is
    /// 0.5 °C steps up to −30 °C, 0.1 °C up to +50 °C, 0.5 °C up to +125 °C (in milli-°C).
    pub fn new(lowest: i32, ranges: &[(u32, i32)]) -> Result<Self, ResolutionError> {
        if ranges.is_empty() || ranges.len() > MAX_RANGES {
            return Err(ResolutionError::RangeCount);
        }
        let mut infos = Vec::with_capacity(ranges.len());
        let mut lower = lowest;
        let mut first_code = 0u32;
        for (range_idx, &(step, upper)) in ranges.iter().enumerate() {
            if step == 0 {
                return Err(ResolutionError::ZeroStep { range_idx });
            }
            let span = i64::from(upper) - i64::from(lower);
            if span <= 0 {
                return Err(ResolutionError::EmptyRange { range_idx });
            }
            if span % i64::from(step) != 0 {
                return Err(ResolutionError::StepDoesNotDivideRange { range_idx });
            }
            let n_steps = u32::try_from(span / i64::from(step)).map_err(|_| ResolutionError::TooManyCodes)?;
            infos.push(RangeInfo { range: ResolutionRange { lower, upper, step }, first_code, n_steps });
            first_code =
                first_code.checked_add(n_steps).filter(|&c| c < MAX_CODES).ok_or(ResolutionError::TooManyCodes)?;
            lower = upper;
        }
        Ok(Self { ranges: infos })
    }

    /// A table with a single step from `lowest` to `highest` (both included).
    pub fn uniform(lowest: i32, step: u32, highest: i32) -> Result<Self, ResolutionError> {
        Self::new(lowest, &[(step, highest)])
    }

    /// The ranges, lowest first.
    pub fn ranges(&self) -> impl ExactSizeIterator<Item = ResolutionRange> + '_ {
        self.ranges.iter().map(|info| info.range)
    }

    /// Lowest storable value.
    pub fn lowest(&self) -> i32 {
        self.first().range.lower
    }

    /// Highest storable value.
    pub fn highest(&self) -> i32 {
        self.last().range.upper
    }

    /// Number of grid values (codes `0..n_codes`).
    pub fn n_codes(&self) -> u32 {
        let last = self.last();
        last.first_code + last.n_steps + 1
    }

    /// Rounds `value` to the grid of the range it falls in (half-way values round up) and
    /// returns its code, or `None` outside `[lowest, highest]`.
    pub fn quantize(&self, value: i32) -> Option<u32> {
        let info = self.owning_range(value)?;
        let offset = i64::from(value) - i64::from(info.range.lower);
        let step = i64::from(info.range.step);
        // Round half up: floor((2 * offset + step) / (2 * step)). A value just below an upper
        // bound may round to the bound itself, which is the next range's first code.
        let k = (2 * offset + step).div_euclid(2 * step);
        u32::try_from(k).ok().map(|k| info.first_code + k)
    }

    /// Like [`quantize`](Self::quantize), but values outside the table are stored as the
    /// nearest end of the table (as a logger records a reading beyond its sensor range).
    pub fn quantize_saturating(&self, value: i32) -> u32 {
        let clamped = value.clamp(self.lowest(), self.highest());
        // Every value inside [lowest, highest] has a code.
        self.quantize(clamped).unwrap_or(0)
    }

    /// The code of a value that lies exactly on the grid.
    pub fn code_of(&self, value: i32) -> Option<u32> {
        let info = self.owning_range(value)?;
        let offset = i64::from(value) - i64::from(info.range.lower);
        let step = i64::from(info.range.step);
        if offset % step != 0 {
            return None;
        }
        u32::try_from(offset / step).ok().map(|k| info.first_code + k)
    }

    /// The physical value (in the channel's sub-unit) of a code.
    pub fn value_of(&self, code: u32) -> Option<i32> {
        if code >= self.n_codes() {
            return None;
        }
        let idx = self.ranges.partition_point(|info| info.first_code <= code).checked_sub(1)?;
        let info = self.ranges.get(idx)?;
        let value = i64::from(info.range.lower) + i64::from(code - info.first_code) * i64::from(info.range.step);
        i32::try_from(value).ok()
    }

    /// Rounds `value` to the grid (see [`quantize_saturating`](Self::quantize_saturating)) and
    /// returns the physical grid value.
    pub fn scale(&self, value: i32) -> i32 {
        let code = self.quantize_saturating(value);
        self.value_of(code).unwrap_or_else(|| self.lowest())
    }

    fn owning_range(&self, value: i32) -> Option<&RangeInfo> {
        if value < self.lowest() || value > self.highest() {
            return None;
        }
        let idx = self.ranges.partition_point(|info| info.range.lower <= value).checked_sub(1)?;
        self.ranges.get(idx)
    }

    fn first(&self) -> &RangeInfo {
        // Construction guarantees at least one range.
        &self.ranges[0]
    }

    fn last(&self) -> &RangeInfo {
        &self.ranges[self.ranges.len() - 1]
    }

    /// `(step, n_steps)` per range, as stored on the wire.
    pub(crate) fn wire_ranges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.ranges.iter().map(|info| (info.range.step, info.n_steps))
    }

    /// Rebuilds a table from its wire form, with the same checks as [`new`](Self::new).
    pub(crate) fn from_wire(lowest: i32, wire: &[(u32, u32)]) -> Option<Self> {
        let mut ranges = Vec::with_capacity(wire.len());
        let mut lower = i64::from(lowest);
        for &(step, n_steps) in wire {
            let upper = lower.checked_add(i64::from(step).checked_mul(i64::from(n_steps))?)?;
            let upper = i32::try_from(upper).ok()?;
            ranges.push((step, upper));
            lower = i64::from(upper);
        }
        Self::new(lowest, &ranges).ok()
    }
}
