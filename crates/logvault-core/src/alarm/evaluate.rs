//! The incremental evaluator: one channel rule over a device's readings in sample-time order, with a small state
//! the store persists between blocks (no re-scan of history), emitting raised, escalated and cleared events.
//!
//! The rules, measured over the readings' own times (a QR logger uploads days at once; an excursion three days ago
//! alarms now, with its real start, peak and end):
//!
//! - **Delay.** An excursion is raised once it has lasted the side's delay, measured between the time of its first
//!   reading beyond a limit and the time of its latest: with 5-minute readings and a 30-minute delay, seven readings
//!   beyond the limit (0 … 30 min) raise it and six do not, whatever comes after. Any reading on or inside the limit
//!   before then starts the count afresh (the hysteresis applies to clearing only). The warning and the alarm limit
//!   each count their own run, with the side's one delay: a run beyond the warning limit raises a warning, a run
//!   beyond the alarm limit raises (or escalates to) an alarm.
//! - **Clearing.** A raised excursion clears at the first reading at or inside its clearing level (the inner limit
//!   moved inwards by the hysteresis); a dip inside the limit but not past the clearing level changes nothing. Its
//!   severity is the highest it reached; its start is its first reading beyond the inner limit, its end the clearing
//!   reading, its peak the reading furthest out (the earliest of equal ones).
//! - **What was seen.** The state remembers the one span of reading keys `(t_s, ordinal)` it has evaluated. Readings
//!   inside the span are skipped (the same or an overlapping block again raises nothing new). Readings after it
//!   continue the live state. Readings before it — a block older than the state, delivered late — are evaluated in
//!   a separate *historical* pass from a fresh state over their own window: history still alarms, the live state is
//!   untouched, and the span grows down to them so the same block again is skipped. An excursion still raised at the
//!   end of that window ends there ([`EventKind::WindowEnded`]); one not yet raised there is not reported (the window
//!   does not say how long it lasted). Readings that fill a hole inside the span are skipped too; the data-gap rule
//!   (`alarm::gaps`) has already reported that hole.
//! - **Rule edits.** New limits apply from the next reading on. A side removed from a rule ends its raised
//!   excursion at the next reading ([`EventKind::RuleChanged`]).
//!
//! Events are deterministic in the readings: a replayed pass yields the same `(side, start_s, start_ordinal, kind)`,
//! which the store can keep unique, so even a repeated historical pass cannot record an alarm twice.

use crate::alarm::rule::{ChannelRule, Limit, Severity, Side};

/// One reading of the rule's channel: its sample time, its ordinal within that second (as the store numbers them)
/// and its value in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub t_s: i64,
    pub ordinal: i32,
    pub value_milli: i32,
}

/// The value furthest beyond the limit, and when.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Peak {
    pub value_milli: i64,
    pub t_s: i64,
}

/// What happened to an excursion.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// It has lasted the delay: an alarm (or warning) exists from now on.
    Raised,
    /// A raised warning has lasted the delay beyond the alarm limit.
    Escalated,
    /// A reading came back to the clearing level: the excursion ended at `at_s`.
    Cleared,
    /// A historical window ended with the excursion still raised.
    WindowEnded,
    /// The rule lost this side while the excursion was raised.
    RuleChanged,
}

/// One event of one rule side. `at_s` is the time of the reading that caused it (for `Cleared`, the excursion's
/// end); `peak` is the furthest reading so far (for the closing kinds, of the whole excursion).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlarmEvent {
    pub side: Side,
    pub kind: EventKind,
    pub severity: Severity,
    pub start_s: i64,
    /// The start reading's ordinal within its second: with `side` and `start_s`, what identifies the excursion.
    pub start_ordinal: i32,
    pub at_s: i64,
    pub peak: Peak,
    /// From a historical pass (readings older than what the state had seen).
    pub historical: bool,
}

/// What the store keeps per (device, channel, rule) between evaluations; a few dozen bytes of JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvalState {
    /// The first and the last reading key evaluated, inclusive.
    seen: Option<((i64, i32), (i64, i32))>,
    upper: SideState,
    lower: SideState,
}

/// One side's excursion in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SideState {
    /// Start of the current run beyond the inner limit; while raised, the excursion's start.
    since_s: Option<i64>,
    /// The ordinal of the reading at `since_s`.
    since_ordinal: i32,
    /// Start of the current run beyond the alarm limit (the delay of an alarm or an escalation counts from here).
    alarm_since_s: Option<i64>,
    peak: Option<Peak>,
    raised: Option<Severity>,
}

/// How many readings of a call went where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Evaluated {
    pub live: usize,
    pub historical: usize,
    pub skipped: usize,
}

/// Why readings were not evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("readings must be in strictly increasing (t_s, ordinal) order")]
    NotInOrder,
}

impl EvalState {
    /// The severity of each side's raised excursion, if any: `(upper, lower)`.
    pub fn raised(&self) -> (Option<Severity>, Option<Severity>) {
        (self.upper.raised, self.lower.raised)
    }

    /// The span of reading keys evaluated so far.
    pub fn seen(&self) -> Option<((i64, i32), (i64, i32))> {
        self.seen
    }
}

/// Evaluates `rule` over `readings` (strictly increasing in `(t_s, ordinal)`), updating `state` and appending events
/// to `out` in reading order (historical ones first). On error nothing changes.
pub fn evaluate(
    rule: &ChannelRule,
    state: &mut EvalState,
    readings: &[Reading],
    out: &mut Vec<AlarmEvent>,
) -> Result<Evaluated, EvalError> {
    if readings.windows(2).any(|pair| key(&pair[0]) >= key(&pair[1])) {
        return Err(EvalError::NotInOrder);
    }
    let Some((first, last)) = readings.first().zip(readings.last()) else { return Ok(Evaluated::default()) };
    let Some((low, high)) = state.seen else {
        run(rule, state, readings, false, out);
        state.seen = Some((key(first), key(last)));
        return Ok(Evaluated { live: readings.len(), ..Evaluated::default() });
    };
    let n_older = readings.partition_point(|reading| key(reading) < low);
    let n_not_newer = readings.partition_point(|reading| key(reading) <= high);
    let (older, rest) = readings.split_at(n_older);
    let newer = &rest[n_not_newer - n_older..];
    if let Some(last_older) = older.last() {
        let mut fresh = EvalState::default();
        run(rule, &mut fresh, older, true, out);
        for (side, side_state) in [(Side::Upper, &fresh.upper), (Side::Lower, &fresh.lower)] {
            if let Some(severity) = side_state.raised {
                out.extend(side_state.event(side, EventKind::WindowEnded, severity, last_older.t_s, true));
            }
        }
    }
    run(rule, state, newer, false, out);
    let low = older.first().map_or(low, key);
    let high = newer.last().map_or(high, key);
    state.seen = Some((low, high));
    Ok(Evaluated { live: newer.len(), historical: older.len(), skipped: readings.len() - older.len() - newer.len() })
}

fn key(reading: &Reading) -> (i64, i32) {
    (reading.t_s, reading.ordinal)
}

fn run(rule: &ChannelRule, state: &mut EvalState, readings: &[Reading], historical: bool, out: &mut Vec<AlarmEvent>) {
    for reading in readings {
        for (side, side_state) in [(Side::Upper, &mut state.upper), (Side::Lower, &mut state.lower)] {
            match rule.side(side) {
                Some(limit) => step(side, limit, side_state, reading, historical, out),
                None => end_removed_side(side, side_state, reading, historical, out),
            }
        }
    }
}

fn step(
    side: Side,
    limit: &Limit,
    state: &mut SideState,
    reading: &Reading,
    historical: bool,
    out: &mut Vec<AlarmEvent>,
) {
    let (t_s, value_milli) = (reading.t_s, i64::from(reading.value_milli));
    let emit = |out: &mut Vec<AlarmEvent>, kind, severity, state: &SideState| {
        out.extend(state.event(side, kind, severity, t_s, historical));
    };
    let severity = limit.severity_of(side, value_milli);
    if let Some(raised) = state.raised {
        if limit.clears(side, value_milli) {
            emit(out, EventKind::Cleared, raised, &*state);
            *state = SideState::default();
            return;
        }
        note_peak(side, state, value_milli, t_s);
        state.alarm_since_s = if severity == Some(Severity::Alarm) { state.alarm_since_s.or(Some(t_s)) } else { None };
        if raised == Severity::Warning && lasted(state.alarm_since_s, t_s, limit.delay_s) {
            state.raised = Some(Severity::Alarm);
            emit(out, EventKind::Escalated, Severity::Alarm, &*state);
        }
        return;
    }
    let Some(severity) = severity else {
        *state = SideState::default();
        return;
    };
    if state.since_s.is_none() {
        state.since_s = Some(t_s);
        state.since_ordinal = reading.ordinal;
    }
    note_peak(side, state, value_milli, t_s);
    state.alarm_since_s = if severity == Severity::Alarm { state.alarm_since_s.or(Some(t_s)) } else { None };
    let due = if lasted(state.alarm_since_s, t_s, limit.delay_s) {
        Some(Severity::Alarm)
    } else if limit.warning_milli.is_some() && lasted(state.since_s, t_s, limit.delay_s) {
        Some(Severity::Warning)
    } else {
        None
    };
    if let Some(due) = due {
        state.raised = Some(due);
        emit(out, EventKind::Raised, due, &*state);
    }
}

fn end_removed_side(side: Side, state: &mut SideState, reading: &Reading, historical: bool, out: &mut Vec<AlarmEvent>) {
    if let Some(severity) = state.raised {
        out.extend(state.event(side, EventKind::RuleChanged, severity, reading.t_s, historical));
    }
    *state = SideState::default();
}

impl SideState {
    /// The event of this excursion (none before its first reading, which sets start and peak together).
    fn event(
        &self,
        side: Side,
        kind: EventKind,
        severity: Severity,
        at_s: i64,
        historical: bool,
    ) -> Option<AlarmEvent> {
        let (start_s, peak) = (self.since_s?, self.peak?);
        Some(AlarmEvent { side, kind, severity, start_s, start_ordinal: self.since_ordinal, at_s, peak, historical })
    }
}

fn lasted(since_s: Option<i64>, t_s: i64, delay_s: u32) -> bool {
    since_s.is_some_and(|since_s| t_s.saturating_sub(since_s) >= i64::from(delay_s))
}

fn note_peak(side: Side, state: &mut SideState, value_milli: i64, t_s: i64) {
    let further = state.peak.is_none_or(|peak| match side {
        Side::Upper => value_milli > peak.value_milli,
        Side::Lower => value_milli < peak.value_milli,
    });
    if further {
        state.peak = Some(Peak { value_milli, t_s });
    }
}

#[cfg(test)]
mod tests;
