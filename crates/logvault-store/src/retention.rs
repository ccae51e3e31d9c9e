//! The engine-independent part of a retention purge: reading a stored retention back and where the purged samples
//! end.

use logvault_core::retention::Retention;

use crate::StoreError;

/// A stored `retention_days`, which the schema already keeps at or above the floor.
pub(crate) fn retention_from_days(days: i64) -> Result<Retention, StoreError> {
    Retention::from_days(days).map_err(|_| StoreError::Database(sqlx::Error::Decode("retention out of range".into())))
}

/// The anchor's `purged_through_s` after a purge: the latest last-sample time of every purge so far. Blocks without
/// samples count as ending before the cutoff.
pub(crate) fn purged_through_s(previous: Option<i64>, last_sample_s: Option<i64>, cutoff_s: i64) -> i64 {
    let this_purge = last_sample_s.unwrap_or(cutoff_s.saturating_sub(1));
    previous.map_or(this_purge, |previous| previous.max(this_purge))
}

/// The time a purge is recorded at, in microseconds since the epoch.
pub(crate) fn now_us() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}
