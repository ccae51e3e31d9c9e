//! The engine-independent part of rollups: what a block adds to them at ingest, and how a bucketed query is cut into
//! pieces that rollups (or raw rows, at the edges) answer exactly.
//!
//! # Rollups
//!
//! For every device, channel and level (a minute, an hour, a day) the table `measurement_rollups` holds the minimum,
//! maximum, sum and count of the values whose time falls into each bucket `[start, start + level)`, the start being
//! the floor of the time to the level. Ingest aggregates a block's new rows per bucket here ([`rollups`]) and upserts
//! one row per touched bucket in the block's own transaction, so the rollups always describe exactly the rows kept.
//!
//! # Bucketed queries
//!
//! A query asks for `[from, to)` of one channel in at most `n` buckets. [`plan`] chooses:
//!
//! 1. the *level*: the largest of the rollup levels not wider than `ceil((to - from) / n)`, or raw rows (level 1)
//!    when even a minute is too wide;
//! 2. the *grid*: buckets start at `origin + i * width`, where `origin` is `from` rounded down to the level and
//!    `width = ceil(ceil((to - origin) / n) / level) * level` — a multiple of the level, and wide enough that
//!    `ceil((to - origin) / width) <= n` buckets cover the range. Bucket `i` is reported as
//!    `[max(from, origin + i * width), min(to, origin + (i + 1) * width))`: only the first and the last can be
//!    shorter, because `from` and `to` need not lie on the grid;
//! 3. the *pieces* that tile `[from, to)`: the part aligned to the level comes from that level's rollups, and the
//!    unaligned edges recursively from the next finer level, down to raw rows for the sub-minute remainders (at most
//!    seven pieces). Each rollup row lies wholly inside one bucket, because every bucket boundary other than `from`
//!    and `to` is a multiple of the level, and every finer level divides it (60 | 3,600 | 86,400).
//!
//! Every value of `[from, to)` is thus counted exactly once, in the bucket its time falls into: each bucket equals
//! the aggregate of the raw rows between its boundaries, which the conformance suite checks on random series. The
//! engines run all pieces as one statement (`UNION ALL`, grouped by bucket index), so the answer comes from one
//! snapshot of the database.

use std::collections::BTreeMap;

use crate::model::{Bucket, BucketQuery};

/// The rollup levels in seconds, finest first. Each divides the next, which the query plan relies on.
pub(crate) const LEVELS_S: [i32; 3] = [60, 3_600, 86_400];

/// Rollup rows per upsert statement (8 bound values each: within both engines' limits on parameters).
pub(crate) const ROLLUPS_PER_UPSERT: usize = 1_000;

/// Query bounds are clamped to `±2^61` s (far beyond any device clock; ingest refuses implausible times anyway), so
/// that the grid arithmetic, done in `i64` by the engines too, cannot overflow.
const TIME_LIMIT_S: i64 = 1 << 61;

/// The buckets of one level that rows with times in `min_t_s..=max_t_s` fall into, as the half-open range of their
/// starts `[first start, last start + level)`: what a retention purge recomputes after removing such rows. `None`
/// for times without a bucket start (ingest never keeps one).
pub(crate) fn covering(level_s: i32, min_t_s: i64, max_t_s: i64) -> Option<(i64, i64)> {
    let level_s = i64::from(level_s);
    let first = floor_to(min_t_s, level_s)?;
    let end = floor_to(max_t_s, level_s)?.checked_add(level_s)?;
    Some((first, end))
}

/// The aggregate of one rollup bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rollup {
    pub channel: i32,
    pub level_s: i32,
    pub bucket_start_s: i64,
    pub min: i32,
    pub max: i32,
    pub sum: i64,
    pub count: i64,
}

/// The rollups of `rows` `(t_s, ordinal, channel, value)`: one per touched `(channel, level, bucket)`, in key order.
/// A time too close to `i64::MIN` to have a bucket start is left out (ingest never accepts one).
pub(crate) fn rollups(rows: impl Iterator<Item = (i64, i32, i32, i32)>) -> Vec<Rollup> {
    let mut buckets: BTreeMap<(i32, i32, i64), Rollup> = BTreeMap::new();
    for (t_s, _ordinal, channel, value) in rows {
        for level_s in LEVELS_S {
            let Some(bucket_start_s) = floor_to(t_s, i64::from(level_s)) else { continue };
            buckets
                .entry((channel, level_s, bucket_start_s))
                .and_modify(|rollup| {
                    rollup.min = rollup.min.min(value);
                    rollup.max = rollup.max.max(value);
                    rollup.sum = rollup.sum.saturating_add(i64::from(value));
                    rollup.count = rollup.count.saturating_add(1);
                })
                .or_insert(Rollup {
                    channel,
                    level_s,
                    bucket_start_s,
                    min: value,
                    max: value,
                    sum: i64::from(value),
                    count: 1,
                });
        }
    }
    buckets.into_values().collect()
}

/// Where a piece of a query's range is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The rollups of this level (seconds).
    Rollups(i32),
    /// The measurement rows themselves.
    Raw,
}

/// A part `[start_s, end_s)` of the range, answered by one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub source: Source,
    pub start_s: i64,
    pub end_s: i64,
}

/// How one bucketed query is answered (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub from_s: i64,
    pub to_s: i64,
    /// Where bucket 0 starts (on or before `from_s`).
    pub origin_s: i64,
    pub width_s: i64,
    pub pieces: Vec<Piece>,
}

/// The plan for `query`; `None` for an empty range.
pub(crate) fn plan(query: &BucketQuery) -> Option<Plan> {
    let from_s = query.from_s.clamp(-TIME_LIMIT_S, TIME_LIMIT_S);
    let to_s = query.to_s.clamp(-TIME_LIMIT_S, TIME_LIMIT_S);
    if from_s >= to_s {
        return None;
    }
    let n_buckets = i64::from(query.n_buckets.max(1));
    let finest_width = ceil_div(to_s - from_s, n_buckets);
    // The levels usable for this width, finest first; the last is the one the grid is aligned to.
    let usable: Vec<i32> = LEVELS_S.iter().copied().filter(|level| i64::from(*level) <= finest_width).collect();
    let level_s = usable.last().map_or(1, |level| i64::from(*level));
    let origin_s = floor_to(from_s, level_s)?;
    let width_s = ceil_div(ceil_div(to_s - origin_s, n_buckets), level_s) * level_s;
    let mut pieces = Vec::new();
    decompose(from_s, to_s, &usable, &mut pieces);
    pieces.sort_by_key(|piece| piece.start_s);
    Some(Plan { from_s, to_s, origin_s, width_s, pieces })
}

impl Plan {
    /// The bucket with grid index `index` and the aggregate `(min, max, sum, count)` the engine found for it.
    pub fn bucket(&self, index: i64, min: i32, max: i32, sum: i64, count: i64) -> Bucket {
        let start_s = self.origin_s.saturating_add(index.saturating_mul(self.width_s));
        Bucket {
            start_s: start_s.max(self.from_s),
            end_s: start_s.saturating_add(self.width_s).min(self.to_s),
            count,
            min,
            max,
            sum,
        }
    }
}

/// Tiles `[start, end)` with pieces: the part aligned to the coarsest of `levels` from its rollups, the edges from
/// finer levels, and what no level covers from raw rows.
fn decompose(start_s: i64, end_s: i64, levels: &[i32], pieces: &mut Vec<Piece>) {
    if start_s >= end_s {
        return;
    }
    let Some((level, finer)) = levels.split_last() else {
        pieces.push(Piece { source: Source::Raw, start_s, end_s });
        return;
    };
    let level_s = i64::from(*level);
    match (ceil_to(start_s, level_s), floor_to(end_s, level_s)) {
        (Some(aligned_start), Some(aligned_end)) if aligned_start < aligned_end => {
            pieces.push(Piece { source: Source::Rollups(*level), start_s: aligned_start, end_s: aligned_end });
            decompose(start_s, aligned_start, finer, pieces);
            decompose(aligned_end, end_s, finer, pieces);
        }
        _ => decompose(start_s, end_s, finer, pieces),
    }
}

/// `t` rounded down to a multiple of `step` (> 0); `None` if that is below `i64::MIN`.
pub(crate) fn floor_to(t: i64, step: i64) -> Option<i64> {
    t.checked_sub(t.rem_euclid(step))
}

/// `t` rounded up to a multiple of `step` (> 0); `None` if that is above `i64::MAX`.
fn ceil_to(t: i64, step: i64) -> Option<i64> {
    let floor = floor_to(t, step)?;
    if floor == t { Some(t) } else { floor.checked_add(step) }
}

/// `ceil(a / b)` for `a >= 0`, `b > 0`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from_s: i64, to_s: i64, n_buckets: u32) -> BucketQuery {
        BucketQuery { channel: 0, from_s, to_s, n_buckets }
    }

    #[test]
    fn a_year_into_a_thousand_buckets_reads_hour_rollups_in_nine_hour_buckets() {
        let year = 365 * 86_400;
        let plan = plan(&query(0, year, 1_000)).unwrap();
        assert_eq!((plan.origin_s, plan.width_s), (0, 9 * 3_600));
        assert_eq!(plan.pieces, [Piece { source: Source::Rollups(3_600), start_s: 0, end_s: year }]);
    }

    #[test]
    fn unaligned_edges_come_from_finer_levels_and_raw_rows() {
        // 01:00:17 to 2 days 00:59:43: days in the middle, then hours, minutes and seconds at each edge.
        let plan = plan(&query(3_617, 2 * 86_400 + 3_583, 1)).unwrap();
        let pieces: Vec<_> = plan.pieces.iter().map(|p| (p.source, p.start_s, p.end_s)).collect();
        assert_eq!(
            pieces,
            [
                (Source::Raw, 3_617, 3_660),
                (Source::Rollups(60), 3_660, 7_200),
                (Source::Rollups(3_600), 7_200, 86_400),
                (Source::Rollups(86_400), 86_400, 172_800),
                (Source::Rollups(3_600), 172_800, 172_800),
                (Source::Rollups(60), 172_800, 176_340),
                (Source::Raw, 176_340, 176_383),
            ]
            .into_iter()
            .filter(|(_, start, end)| start < end)
            .collect::<Vec<_>>()
        );
        assert_eq!(plan.origin_s, 0);
    }

    #[test]
    fn the_grid_never_needs_more_buckets_than_asked_for() {
        for (from_s, to_s, n) in [(-7, 5, 1), (59, 61, 1), (1, 86_401, 24), (-90_000, 1_000_000, 7), (0, 1, 1_000)] {
            let plan = plan(&query(from_s, to_s, n)).unwrap();
            let n_grid = ceil_div(to_s - plan.origin_s, plan.width_s);
            assert!(n_grid <= i64::from(n), "{from_s}..{to_s} into {n}: {plan:?}");
            assert!(plan.origin_s <= from_s);
        }
    }

    #[test]
    fn an_empty_range_has_no_plan() {
        assert_eq!(plan(&query(10, 10, 5)), None);
        assert_eq!(plan(&query(10, 0, 5)), None);
    }

    #[test]
    fn rollups_start_at_the_floor_of_the_time_also_before_1970() {
        let rollups = rollups([(-1, 0, 0, -5), (-61, 0, 0, 7), (0, 0, 0, 3)].into_iter());
        let minutes: Vec<_> = rollups.iter().filter(|r| r.level_s == 60).map(|r| (r.bucket_start_s, r.sum)).collect();
        assert_eq!(minutes, [(-120, 7), (-60, -5), (0, 3)]);
        let days: Vec<_> =
            rollups.iter().filter(|r| r.level_s == 86_400).map(|r| (r.bucket_start_s, r.count)).collect();
        assert_eq!(days, [(-86_400, 2), (0, 1)]);
    }
}
