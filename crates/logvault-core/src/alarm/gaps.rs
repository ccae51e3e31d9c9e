//! Missing data as pure rules: a device that has gone silent (no block for its expected interval × N), and holes
//! in the data itself — between a block's own samples, and between the previous block's last sample and this
//! block's first, which in overwrite-oldest memory means the logger overwrote samples before anyone read them.
//!
//! The clock is a parameter (`now_s`, or a [`Clock`]), so the timer that checks for silence is tested without
//! waiting.

/// The most intervals a no-data rule may wait: a year of daily scans.
pub const MAX_MISSED_INTERVALS: u32 = 366;

/// Where "now" comes from; the server uses [`SystemClock`], tests a fixed time.
pub trait Clock {
    /// Unix seconds.
    fn now_s(&self) -> i64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// "Offline / missing data": raised once a device has delivered nothing for `missed_intervals` times its expected
/// interval (for a QR logger read once a day, `NoDataRule::new(86_400, 3)` is "not scanned for three days").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "NoDataRuleSpec", into = "NoDataRuleSpec")]
pub struct NoDataRule {
    expected_interval_s: u32,
    missed_intervals: u32,
}

/// The unchecked form of a [`NoDataRule`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoDataRuleSpec {
    pub expected_interval_s: u32,
    pub missed_intervals: u32,
}

/// Whether a device is silent, and since when (the moment it became overdue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// On time; overdue from `due_s` on unless a block comes.
    OnTime {
        due_s: i64,
    },
    Overdue {
        since_s: i64,
    },
}

/// What the no-data check changes: the store keeps `raised` per device and rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDataEvent {
    Raised { since_s: i64 },
    Cleared { at_s: i64 },
}

/// A hole in the samples.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Gap {
    pub kind: GapKind,
    /// The last sample before the hole and the first after it.
    pub after_s: i64,
    pub before_s: i64,
    /// Samples the interval says are missing (at least 1).
    pub n_missing: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// Between two samples of one block.
    WithinBlock,
    /// Between the previous block's last sample and this block's first.
    BetweenBlocks,
    /// Between blocks, and this block filled an overwrite-oldest memory: the logger overwrote what was missing.
    MemoryOverwritten,
}

/// What the gap check knows of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockWindow<'a> {
    /// Sample times in order.
    pub times_s: &'a [i64],
    /// The longest the logger waits between two samples: its sampling interval (for on-change sampling, its
    /// maximum silence).
    pub interval_s: u32,
    /// Whether the block came from an overwrite-oldest memory holding `capacity` samples and was full.
    pub full_overwrite_oldest: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoDataRuleError {
    #[error("the expected interval must be between 1 s and 31 days")]
    Interval,
    #[error("the number of missed intervals must be between 1 and 366")]
    Missed,
}

impl Clock for SystemClock {
    fn now_s(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
    }
}

impl NoDataRule {
    pub fn new(expected_interval_s: u32, missed_intervals: u32) -> Result<NoDataRule, NoDataRuleError> {
        if !(1..=31 * 86_400).contains(&expected_interval_s) {
            return Err(NoDataRuleError::Interval);
        }
        if !(1..=MAX_MISSED_INTERVALS).contains(&missed_intervals) {
            return Err(NoDataRuleError::Missed);
        }
        Ok(NoDataRule { expected_interval_s, missed_intervals })
    }

    /// How long a device may stay silent.
    pub fn allowed_silence_s(&self) -> i64 {
        i64::from(self.expected_interval_s) * i64::from(self.missed_intervals)
    }

    /// Whether a device whose last block arrived at `last_received_s` (server time; for a device that never
    /// delivered, when it was registered) is silent at `now_s`. Exactly the allowed silence is overdue.
    pub fn silence(&self, last_received_s: i64, now_s: i64) -> Silence {
        let due_s = last_received_s.saturating_add(self.allowed_silence_s());
        if now_s >= due_s { Silence::Overdue { since_s: due_s } } else { Silence::OnTime { due_s } }
    }

    /// The timer's check: raises once when the device becomes overdue and clears once when a block has come since;
    /// `raised` is the stored flag, updated here.
    pub fn check(&self, last_received_s: i64, clock: &dyn Clock, raised: &mut bool) -> Option<NoDataEvent> {
        match (self.silence(last_received_s, clock.now_s()), *raised) {
            (Silence::Overdue { since_s }, false) => {
                *raised = true;
                Some(NoDataEvent::Raised { since_s })
            }
            (Silence::OnTime { .. }, true) => {
                *raised = false;
                Some(NoDataEvent::Cleared { at_s: last_received_s })
            }
            _ => None,
        }
    }
}

impl TryFrom<NoDataRuleSpec> for NoDataRule {
    type Error = NoDataRuleError;

    fn try_from(spec: NoDataRuleSpec) -> Result<NoDataRule, NoDataRuleError> {
        NoDataRule::new(spec.expected_interval_s, spec.missed_intervals)
    }
}

impl From<NoDataRule> for NoDataRuleSpec {
    fn from(rule: NoDataRule) -> NoDataRuleSpec {
        NoDataRuleSpec { expected_interval_s: rule.expected_interval_s, missed_intervals: rule.missed_intervals }
    }
}

/// The holes in a block and before it. A hole is two consecutive samples further apart than one and a half
/// intervals (a logger's clock drifts and on-change sampling adds samples, but never stretches an interval by half);
/// `previous_last_s` is the last sample time of the device's previous block in time order, if any. A block that
/// overlaps or touches the previous one has no hole before it.
pub fn gaps(block: &BlockWindow<'_>, previous_last_s: Option<i64>, out: &mut Vec<Gap>) {
    let interval_s = i64::from(block.interval_s.max(1));
    let hole = |after_s: i64, before_s: i64| {
        let span = before_s.saturating_sub(after_s);
        // span > 1.5 × interval, in integers.
        (span.saturating_mul(2) > interval_s.saturating_mul(3))
            .then(|| u64::try_from(span / interval_s - 1).unwrap_or(0).max(1))
    };
    if let (Some(previous_last_s), Some(&first_s)) = (previous_last_s, block.times_s.first())
        && let Some(n_missing) = hole(previous_last_s, first_s)
    {
        let kind = if block.full_overwrite_oldest { GapKind::MemoryOverwritten } else { GapKind::BetweenBlocks };
        out.push(Gap { kind, after_s: previous_last_s, before_s: first_s, n_missing });
    }
    for pair in block.times_s.windows(2) {
        if let Some(n_missing) = hole(pair[0], pair[1]) {
            out.push(Gap { kind: GapKind::WithinBlock, after_s: pair[0], before_s: pair[1], n_missing });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FixedClock(i64);

    impl Clock for FixedClock {
        fn now_s(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn a_device_is_overdue_from_exactly_its_allowed_silence_and_clears_on_the_next_block() {
        let rule = NoDataRule::new(3_600, 3).unwrap();
        let cases = [
            (10_799, Silence::OnTime { due_s: 10_800 }),
            (10_800, Silence::Overdue { since_s: 10_800 }),
            (50_000, Silence::Overdue { since_s: 10_800 }),
        ];
        for (now_s, expected) in cases {
            assert_eq!(rule.silence(0, now_s), expected, "{now_s}");
        }
        let mut raised = false;
        assert_eq!(rule.check(0, &FixedClock(10_799), &mut raised), None);
        assert_eq!(rule.check(0, &FixedClock(10_800), &mut raised), Some(NoDataEvent::Raised { since_s: 10_800 }));
        // The timer fires again: nothing new.
        assert_eq!(rule.check(0, &FixedClock(20_000), &mut raised), None);
        // A block arrives at 20,100: cleared at its arrival, once.
        assert_eq!(rule.check(20_100, &FixedClock(20_100), &mut raised), Some(NoDataEvent::Cleared { at_s: 20_100 }));
        assert_eq!((rule.check(20_100, &FixedClock(20_200), &mut raised), raised), (None, false));
    }

    #[test]
    fn a_qr_logger_not_scanned_for_three_days_is_overdue_and_rules_are_bounded() {
        let rule = NoDataRule::new(86_400, 3).unwrap();
        assert_eq!(rule.silence(1_000, 1_000 + 3 * 86_400), Silence::Overdue { since_s: 1_000 + 3 * 86_400 });
        assert_eq!(NoDataRule::new(0, 3), Err(NoDataRuleError::Interval));
        assert_eq!(NoDataRule::new(31 * 86_400 + 1, 3), Err(NoDataRuleError::Interval));
        assert_eq!(NoDataRule::new(60, 0), Err(NoDataRuleError::Missed));
        assert_eq!(NoDataRule::new(60, MAX_MISSED_INTERVALS + 1), Err(NoDataRuleError::Missed));
        let json = r#"{"expected_interval_s":60,"missed_intervals":0}"#;
        assert!(serde_json::from_str::<NoDataRule>(json).is_err());
        // The longest rule cannot overflow, even from the end of time.
        let longest = NoDataRule::new(31 * 86_400, MAX_MISSED_INTERVALS).unwrap();
        assert_eq!(longest.silence(i64::MAX - 5, i64::MAX), Silence::Overdue { since_s: i64::MAX });
        assert!(SystemClock.now_s() > 1_700_000_000);
    }

    #[test]
    fn gaps_are_found_within_a_block_and_between_blocks_at_one_and_a_half_intervals() {
        type Case = (&'static str, Vec<i64>, Option<i64>, bool, Vec<(GapKind, i64, i64, u64)>);
        let cases: &[Case] = &[
            ("regular samples", vec![0, 300, 600, 900], Some(-300), false, vec![]),
            ("one and a half intervals is still no gap", vec![0, 450, 750], Some(-450), false, vec![]),
            (
                "one second more is a gap of one sample",
                vec![0, 451, 751],
                Some(-451),
                false,
                vec![(GapKind::BetweenBlocks, -451, 0, 1), (GapKind::WithinBlock, 0, 451, 1)],
            ),
            ("an hour missing inside", vec![0, 3_900], None, false, vec![(GapKind::WithinBlock, 0, 3_900, 12)]),
            (
                "a full overwrite-oldest memory that starts after the previous block ended lost samples",
                vec![10_000, 10_300],
                Some(3_000),
                true,
                vec![(GapKind::MemoryOverwritten, 3_000, 10_000, 22)],
            ),
            ("an overlapping block has no hole before it", vec![0, 300], Some(600), true, vec![]),
            ("an empty block has no holes", vec![], Some(0), false, vec![]),
        ];
        for (name, times_s, previous_last_s, full_overwrite_oldest, expected) in cases {
            let block = BlockWindow { times_s, interval_s: 300, full_overwrite_oldest: *full_overwrite_oldest };
            let mut found = Vec::new();
            gaps(&block, *previous_last_s, &mut found);
            let found: Vec<_> = found.iter().map(|g| (g.kind, g.after_s, g.before_s, g.n_missing)).collect();
            assert_eq!(found, *expected, "{name}");
        }
    }
}
