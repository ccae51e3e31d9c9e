//! When a logger records a sample: at a fixed interval, or when a reading changes enough.

/// The rule deciding which observations become samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplingRule {
    /// Record when at least `seconds` have passed since the last recorded sample.
    Interval { seconds: u32 },
    /// Record when any channel's scaled value differs from the last recorded one by at least
    /// `threshold` (in thousandths of the unit), or when `max_silence` seconds have passed.
    OnChange { threshold: u32, max_silence: u32 },
}

impl SamplingRule {
    /// Whether an observation at `time` with `values` (already scaled) is recorded, given the
    /// last recorded sample.
    pub(crate) fn should_record(&self, last: Option<(i64, &[i32])>, time: i64, values: &[i32]) -> bool {
        let Some((last_time, last_values)) = last else {
            return true;
        };
        let elapsed = time.saturating_sub(last_time);
        match *self {
            Self::Interval { seconds } => elapsed >= i64::from(seconds),
            Self::OnChange { threshold, max_silence } => {
                elapsed >= i64::from(max_silence)
                    || values
                        .iter()
                        .zip(last_values)
                        .any(|(&now, &then)| (i64::from(now) - i64::from(then)).unsigned_abs() >= u64::from(threshold))
            }
        }
    }
}
