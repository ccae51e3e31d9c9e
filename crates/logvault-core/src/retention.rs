//! Per-organisation retention of measurements and blocks: how long they are kept, never less than two years.
//!
//! "Two years" is counted in whole days with a floor of [`MIN_RETENTION_DAYS`] = 731: two calendar years hold at most
//! 365 + 366 days, so a retention of 731 days always covers two full calendar years whatever leap day falls in them.
//! An organisation without a retention keeps everything (the default). Audit entries are outside retention: the audit
//! log is kept whole, so the record of what was kept and purged always outlives the data itself.

/// The shortest retention an organisation may set: two years, leap day included.
pub const MIN_RETENTION_DAYS: i64 = 731;

/// The longest retention that can be set: a hundred years (longer is "indefinite", i.e. no retention).
pub const MAX_RETENTION_DAYS: i64 = 36_525;

pub const SECONDS_PER_DAY: i64 = 86_400;

/// How long an organisation keeps its measurements, in whole days; at least [`MIN_RETENTION_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Retention {
    days: i64,
}

/// Why a retention was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    #[error("a retention must be at least {MIN_RETENTION_DAYS} days (two years)")]
    BelowFloor,
    #[error("a retention can be at most {MAX_RETENTION_DAYS} days; set none to keep everything")]
    TooLong,
}

impl Retention {
    /// A retention of `days` whole days; refused under the two-year floor or over a hundred years.
    pub fn from_days(days: i64) -> Result<Retention, RetentionError> {
        if days < MIN_RETENTION_DAYS {
            return Err(RetentionError::BelowFloor);
        }
        if days > MAX_RETENTION_DAYS {
            return Err(RetentionError::TooLong);
        }
        Ok(Retention { days })
    }

    pub fn days(self) -> i64 {
        self.days
    }

    /// The first second that is still retained at `now_s`: data whose last sample is before it has expired.
    pub fn cutoff_s(self, now_s: i64) -> i64 {
        now_s.saturating_sub(self.days.saturating_mul(SECONDS_PER_DAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anything_under_two_years_including_a_leap_day_is_refused() {
        assert_eq!(Retention::from_days(730), Err(RetentionError::BelowFloor));
        assert_eq!(Retention::from_days(0), Err(RetentionError::BelowFloor));
        assert_eq!(Retention::from_days(-731), Err(RetentionError::BelowFloor));
        assert_eq!(Retention::from_days(731).map(Retention::days), Ok(731));
        assert_eq!(Retention::from_days(MAX_RETENTION_DAYS + 1), Err(RetentionError::TooLong));
    }

    #[test]
    fn the_cutoff_lies_the_retention_s_days_before_now() {
        let retention = Retention::from_days(731).unwrap();
        assert_eq!(retention.cutoff_s(1_000_000_000), 1_000_000_000 - 731 * 86_400);
        assert_eq!(retention.cutoff_s(i64::MIN), i64::MIN);
    }
}
