//! How the report writes times, durations and values, so every figure in it reads the same way.

use time::OffsetDateTime;
use time::macros::format_description;

use crate::model::format_milli;

/// `2026-11-01T00:00:00Z`: ISO 8601 in UTC, to the second.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    // Formatting a valid date into a String cannot fail for this description; fall back to the Unix time anyway.
    utc.format(format).unwrap_or_else(|_| format!("@{}", utc.unix_timestamp()))
}

/// A Unix time as [`timestamp`]; a time outside the calendar `time` knows prints as `@seconds`.
pub(crate) fn unix_timestamp(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds).map(timestamp).unwrap_or_else(|_| format!("@{seconds}"))
}

/// A short axis label for a Unix time: the date when the axis spans days, the date and time when it spans less.
pub(crate) fn axis_label(seconds: i64, span_s: i64) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp(seconds) else {
        return String::new();
    };
    let formatted = if span_s > 3 * 86_400 {
        at.format(format_description!("[year]-[month]-[day]"))
    } else if span_s > 86_400 / 2 {
        at.format(format_description!("[month]-[day] [hour]:[minute]"))
    } else {
        at.format(format_description!("[hour]:[minute]"))
    };
    formatted.unwrap_or_default()
}

/// Seconds as `h:mm:ss`, hours not wrapping at a day (`50:00:00`), rounded to the second.
pub(crate) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "–".to_owned();
    }
    let total = seconds.round() as i64;
    let sign = if total < 0 { "-" } else { "" };
    let total = total.unsigned_abs();
    format!("{sign}{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
}

/// A value in its channel's unit with three decimals, rounded half away from zero, the way [`format_milli`] writes
/// stored thousandths (`-0.000` never appears).
pub(crate) fn value(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    format_milli((value * 1000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_hours_minutes_seconds_past_a_day() {
        assert_eq!(duration(0.0), "0:00:00");
        assert_eq!(duration(3_725.4), "1:02:05");
        assert_eq!(duration(180_000.0), "50:00:00");
        assert_eq!(duration(f64::NAN), "–");
    }

    #[test]
    fn values_print_with_three_decimals_and_no_negative_zero() {
        assert_eq!(value(4.1254), "4.125");
        assert_eq!(value(-0.0001), "0.000");
        assert_eq!(value(-12.5), "-12.500");
    }

    #[test]
    fn timestamps_are_iso_8601_utc_to_the_second() {
        assert_eq!(unix_timestamp(1_790_000_000), "2026-09-21T14:13:20Z");
        assert_eq!(unix_timestamp(i64::MAX), format!("@{}", i64::MAX));
    }
}
