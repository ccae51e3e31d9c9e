//! The evaluator's boundaries (delay, hysteresis, escalation), history, idempotence and batch-split invariance.

use proptest::prelude::*;

use super::*;
use crate::alarm::rule::Limit;

const FIVE_MIN: i64 = 300;

fn upper(alarm_milli: i64, warning_milli: Option<i64>, delay_s: u32, hysteresis_milli: i64) -> ChannelRule {
    ChannelRule::new(Some(Limit { alarm_milli, warning_milli, delay_s, hysteresis_milli }), None).unwrap()
}

fn fridge(delay_s: u32, hysteresis_milli: i64) -> ChannelRule {
    let upper = Limit { alarm_milli: 8_000, warning_milli: None, delay_s, hysteresis_milli };
    let lower = Limit { alarm_milli: 2_000, warning_milli: None, delay_s, hysteresis_milli };
    ChannelRule::new(Some(upper), Some(lower)).unwrap()
}

/// Readings every five minutes from `start_s`.
fn series(start_s: i64, values: &[i32]) -> Vec<Reading> {
    values
        .iter()
        .enumerate()
        .map(|(idx, &value_milli)| Reading { t_s: start_s + idx as i64 * FIVE_MIN, ordinal: 0, value_milli })
        .collect()
}

fn events_of(rule: &ChannelRule, readings: &[Reading]) -> Vec<AlarmEvent> {
    let mut out = Vec::new();
    evaluate(rule, &mut EvalState::default(), readings, &mut out).unwrap();
    out
}

/// `(kind, severity, start_s, at_s, peak value)` of an event, for compact expectations.
type Brief = (EventKind, Severity, i64, i64, i64);

fn brief(events: &[AlarmEvent]) -> Vec<Brief> {
    events.iter().map(|e| (e.kind, e.severity, e.start_s, e.at_s, e.peak.value_milli)).collect()
}

#[test]
fn the_alarm_delay_is_measured_between_reading_times_at_its_boundaries() {
    use EventKind::{Cleared, Raised};
    use Severity::Alarm;
    // Thirty minutes of delay, readings every five minutes, 8 °C upper limit.
    let rule = fridge(1_800, 0);
    let cases: &[(&str, Vec<i32>, Vec<Brief>)] = &[
        (
            "exactly thirty minutes beyond the limit alarms at the seventh reading",
            vec![5_000, 8_100, 8_200, 8_300, 8_200, 8_100, 8_100, 8_100, 5_000],
            vec![(Raised, Alarm, 300, 2_100, 8_300), (Cleared, Alarm, 300, 2_400, 8_300)],
        ),
        ("one reading short does not alarm", vec![5_000, 8_100, 8_200, 8_300, 8_200, 8_100, 8_100, 5_000], vec![]),
        (
            "a reading on the limit restarts the count",
            vec![8_100, 8_100, 8_100, 8_000, 8_100, 8_100, 8_100, 8_100, 8_100, 8_100, 8_100],
            vec![(Raised, Alarm, 1_200, 3_000, 8_100)],
        ),
        ("a value on the limit is inside", vec![8_000; 12], vec![]),
    ];
    for (name, values, expected) in cases {
        assert_eq!(brief(&events_of(&rule, &series(0, values))), *expected, "{name}");
    }
    // No delay: the first reading beyond the lower limit alarms.
    let at_once = events_of(&fridge(0, 0), &series(0, &[5_000, 1_999, 2_000]));
    assert_eq!(brief(&at_once), vec![(Raised, Alarm, 300, 300, 1_999), (Cleared, Alarm, 300, 600, 1_999)]);
    assert!(at_once.iter().all(|e| e.side == Side::Lower && !e.historical));
}

#[test]
fn a_dip_inside_the_hysteresis_band_does_not_clear_and_the_clearing_level_does() {
    use EventKind::{Cleared, Raised};
    use Severity::Alarm;
    // 8 °C limit, 0.5 °C hysteresis: clears at or below 7.5 °C.
    let rule = fridge(0, 500);
    let cases: &[(&str, Vec<i32>, Vec<Brief>)] = &[
        ("a dip to 7.501 °C stays raised", vec![8_200, 7_501, 8_400, 7_501], vec![(Raised, Alarm, 0, 0, 8_200)]),
        (
            "7.500 °C clears at that reading, with the peak of the whole excursion",
            vec![8_200, 7_800, 8_400, 7_500, 8_000],
            vec![(Raised, Alarm, 0, 0, 8_200), (Cleared, Alarm, 0, 900, 8_400)],
        ),
        ("the lower side mirrors it: 2.499 °C stays raised", vec![1_900, 2_499], vec![(Raised, Alarm, 0, 0, 1_900)]),
        (
            "and 2.500 °C clears",
            vec![1_900, 1_800, 2_500],
            vec![(Raised, Alarm, 0, 0, 1_900), (Cleared, Alarm, 0, 600, 1_800)],
        ),
    ];
    for (name, values, expected) in cases {
        assert_eq!(brief(&events_of(&rule, &series(0, values))), *expected, "{name}");
    }
}

#[test]
fn a_warning_is_raised_first_and_escalates_after_the_delay_beyond_the_alarm_limit() {
    use EventKind::{Cleared, Escalated, Raised};
    use Severity::{Alarm, Warning};
    let rule = upper(8_000, Some(7_000), 600, 0);
    let values = [7_500, 7_500, 7_500, 8_500, 8_500, 7_900, 8_600, 8_600, 8_600, 6_000];
    let events = events_of(&rule, &series(0, &values));
    assert_eq!(
        brief(&events),
        vec![(Raised, Warning, 0, 600, 7_500), (Escalated, Alarm, 0, 2_400, 8_600), (Cleared, Alarm, 0, 2_700, 8_600)]
    );
    // The peak is the first of equal readings.
    assert_eq!(events[2].peak, Peak { value_milli: 8_600, t_s: 1_800 });
    // Straight past both limits with no delay: one alarm, no separate warning.
    let jump = events_of(&upper(8_000, Some(7_000), 0, 0), &series(0, &[9_000, 5_000]));
    assert_eq!(brief(&jump), vec![(Raised, Alarm, 0, 0, 9_000), (Cleared, Alarm, 0, 300, 9_000)]);
}

/// Three days of five-minute readings ending at `end_s`, with a 40-minute excursion to 9.7 °C two and a half days
/// before the end.
fn qr_upload(end_s: i64) -> Vec<Reading> {
    let n = 3 * 288;
    let start_s = end_s - (n - 1) * FIVE_MIN;
    (0..n)
        .map(|idx| {
            let value_milli = match idx {
                144..=152 => 8_500 + (idx as i32 - 144) * 150,
                _ => 5_000,
            };
            Reading { t_s: start_s + idx * FIVE_MIN, ordinal: 0, value_milli }
        })
        .collect()
}

#[test]
fn an_excursion_three_days_ago_alarms_now_with_its_real_start_end_and_peak_and_only_once() {
    let end_s = 1_796_000_000;
    let upload = qr_upload(end_s);
    let start_s = upload[0].t_s;
    let rule = fridge(900, 200);
    let mut state = EvalState::default();
    let mut out = Vec::new();
    evaluate(&rule, &mut state, &upload, &mut out).unwrap();
    let excursion_start = start_s + 144 * FIVE_MIN;
    assert_eq!(
        brief(&out),
        vec![
            (EventKind::Raised, Severity::Alarm, excursion_start, excursion_start + 900, 8_950),
            (EventKind::Cleared, Severity::Alarm, excursion_start, start_s + 153 * FIVE_MIN, 9_700),
        ]
    );
    assert_eq!(out[1].peak.t_s, start_s + 152 * FIVE_MIN);
    // The same upload again, and an overlapping one (its last day plus a new, normal hour), raise nothing new.
    let again = evaluate(&rule, &mut state, &upload, &mut out).unwrap();
    assert_eq!((again.live, again.historical, again.skipped), (0, 0, upload.len()));
    let overlapping: Vec<Reading> =
        upload[576..].iter().copied().chain(series(end_s + FIVE_MIN, &[5_000; 12])).collect();
    let overlap = evaluate(&rule, &mut state, &overlapping, &mut out).unwrap();
    assert_eq!((overlap.live, overlap.skipped), (12, 288));
    assert_eq!(out.len(), 2);
}

#[test]
fn an_older_block_alarms_in_its_own_pass_without_touching_the_live_state() {
    let rule = fridge(0, 0);
    let mut state = EvalState::default();
    let mut out = Vec::new();
    // Live: raised above 8 °C since t=100,000 and still raised.
    evaluate(&rule, &mut state, &series(100_000, &[8_100, 8_200]), &mut out).unwrap();
    let live = state;
    out.clear();
    // A late block from the day before: below 2 °C, cleared; then above 8 °C until its end.
    let older = series(10_000, &[5_000, 1_500, 5_000, 9_000, 9_100]);
    let evaluated = evaluate(&rule, &mut state, &older, &mut out).unwrap();
    assert_eq!((evaluated.historical, evaluated.live), (5, 0));
    assert_eq!(
        brief(&out),
        vec![
            (EventKind::Raised, Severity::Alarm, 10_300, 10_300, 1_500),
            (EventKind::Cleared, Severity::Alarm, 10_300, 10_600, 1_500),
            (EventKind::Raised, Severity::Alarm, 10_900, 10_900, 9_000),
            (EventKind::WindowEnded, Severity::Alarm, 10_900, 11_200, 9_100),
        ]
    );
    assert!(out.iter().all(|event| event.historical));
    // The live excursion is as it was; only the seen span grew down to the older block.
    assert_eq!(state.raised(), live.raised());
    assert_eq!(state.seen(), Some(((10_000, 0), (100_300, 0))));
    // The same late block again is skipped.
    out.clear();
    let again = evaluate(&rule, &mut state, &older, &mut out).unwrap();
    assert_eq!((again.skipped, out.len()), (5, 0));
    // The live excursion still clears on the next live reading.
    evaluate(&rule, &mut state, &series(100_600, &[5_000]), &mut out).unwrap();
    assert_eq!(brief(&out), vec![(EventKind::Cleared, Severity::Alarm, 100_000, 100_600, 8_200)]);
}

#[test]
fn readings_out_of_order_are_refused_and_change_nothing() {
    let rule = fridge(0, 0);
    let mut state = EvalState::default();
    let mut out = Vec::new();
    let mut readings = series(0, &[9_000, 9_000, 5_000]);
    readings.swap(1, 2);
    assert_eq!(evaluate(&rule, &mut state, &readings, &mut out), Err(EvalError::NotInOrder));
    let twice = [readings[0], readings[0]];
    assert_eq!(evaluate(&rule, &mut state, &twice, &mut out), Err(EvalError::NotInOrder));
    assert_eq!((state, out.len()), (EvalState::default(), 0));
    // Two readings of the same second are told apart by their ordinal.
    let same_second =
        [Reading { t_s: 5, ordinal: 0, value_milli: 9_000 }, Reading { t_s: 5, ordinal: 1, value_milli: 5_000 }];
    evaluate(&rule, &mut state, &same_second, &mut out).unwrap();
    assert_eq!(out.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![EventKind::Raised, EventKind::Cleared]);
}

#[test]
fn removing_a_side_from_the_rule_ends_its_raised_excursion_at_the_next_reading() {
    let mut state = EvalState::default();
    let mut out = Vec::new();
    evaluate(&fridge(0, 0), &mut state, &series(0, &[9_000]), &mut out).unwrap();
    let lower_only = ChannelRule::new(None, fridge(0, 0).lower().copied()).unwrap();
    evaluate(&lower_only, &mut state, &series(300, &[9_500]), &mut out).unwrap();
    assert_eq!(
        brief(&out),
        vec![
            (EventKind::Raised, Severity::Alarm, 0, 0, 9_000),
            (EventKind::RuleChanged, Severity::Alarm, 0, 300, 9_000)
        ]
    );
    assert_eq!(state.raised(), (None, None));
}

#[test]
fn the_state_survives_a_round_trip_through_json_mid_excursion() {
    let rule = upper(8_000, Some(7_000), 600, 100);
    let readings = series(0, &[7_500, 7_500, 8_100, 8_100, 8_100, 5_000]);
    let mut state = EvalState::default();
    let mut out = Vec::new();
    evaluate(&rule, &mut state, &readings[..3], &mut out).unwrap();
    let json = serde_json::to_string(&state).unwrap();
    assert!(json.len() < 300, "{json}");
    let mut restored: EvalState = serde_json::from_str(&json).unwrap();
    evaluate(&rule, &mut restored, &readings[3..], &mut out).unwrap();
    assert_eq!(out, events_of(&rule, &readings));
}

fn arbitrary_readings() -> impl Strategy<Value = Vec<Reading>> {
    // Values around a 2–8 °C band with warnings; steps of 1–600 s and sometimes a second reading in the same second.
    prop::collection::vec((0i64..600, any::<bool>(), 0i32..10_000), 1..200).prop_map(|steps| {
        let mut t_s = 1_000_000;
        let mut ordinal = 0;
        steps
            .into_iter()
            .map(|(step, same_second, value_milli)| {
                if same_second {
                    ordinal += 1;
                } else {
                    t_s += step + 1;
                    ordinal = 0;
                }
                Reading { t_s, ordinal, value_milli }
            })
            .collect()
    })
}

fn arbitrary_rule() -> impl Strategy<Value = ChannelRule> {
    (0u32..1_200, 0i64..400, any::<bool>()).prop_map(|(delay_s, hysteresis_milli, warnings)| {
        let upper = Limit { alarm_milli: 8_000, warning_milli: warnings.then_some(7_000), delay_s, hysteresis_milli };
        let lower = Limit { alarm_milli: 2_000, warning_milli: warnings.then_some(3_000), delay_s, hysteresis_milli };
        ChannelRule::new(Some(upper), Some(lower)).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn one_batch_and_any_split_into_consecutive_batches_give_the_same_events(
        rule in arbitrary_rule(),
        readings in arbitrary_readings(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let whole = events_of(&rule, &readings);
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(readings.len() + 1)).collect();
        cuts.extend([0, readings.len()]);
        cuts.sort_unstable();
        let mut state = EvalState::default();
        let mut split = Vec::new();
        for pair in cuts.windows(2) {
            evaluate(&rule, &mut state, &readings[pair[0]..pair[1]], &mut split).unwrap();
        }
        prop_assert_eq!(&split, &whole);
        // Batches that overlap what came before (each re-sends some earlier readings) change nothing either.
        let mut state = EvalState::default();
        let mut overlapping = Vec::new();
        for pair in cuts.windows(2) {
            let from = pair[0].saturating_sub(pair[0] / 2);
            evaluate(&rule, &mut state, &readings[from..pair[1]], &mut overlapping).unwrap();
        }
        prop_assert_eq!(&overlapping, &whole);
    }

    #[test]
    fn every_raised_excursion_lasted_its_delay_and_starts_no_later_than_its_peak(
        rule in arbitrary_rule(),
        readings in arbitrary_readings(),
    ) {
        for event in events_of(&rule, &readings) {
            let delay_s = i64::from(rule.side(event.side).map_or(0, |limit| limit.delay_s));
            if event.kind == EventKind::Raised {
                prop_assert!(event.at_s - event.start_s >= delay_s, "{event:?}");
            }
            prop_assert!(event.start_s <= event.peak.t_s && event.peak.t_s <= event.at_s, "{event:?}");
        }
    }
}

/// An excursion as `(side, start key, end time)`; one still open at the end has no end.
type Span = (Side, (i64, i32), Option<i64>);

/// The exports' excursions (`logvault_export::summary`): from the first reading beyond a limit to the first back
/// inside.
fn export_excursions(readings: &[Reading], lower: i32, upper: i32) -> Vec<Span> {
    let mut found = Vec::new();
    for (side, beyond) in [(Side::Upper, &(|v: i32| v > upper) as &dyn Fn(i32) -> bool), (Side::Lower, &|v| v < lower)]
    {
        let mut open = None;
        for reading in readings {
            match (open, beyond(reading.value_milli)) {
                (None, true) => open = Some(key(reading)),
                (Some(start), false) => {
                    found.push((side, start, Some(reading.t_s)));
                    open = None;
                }
                _ => {}
            }
        }
        if let Some(start) = open {
            found.push((side, start, None));
        }
    }
    found.sort_by_key(|(side, start, _)| (*start, *side));
    found
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_rule_made_from_device_settings_alarms_on_exactly_the_excursions_the_exports_report(
        readings in arbitrary_readings(),
    ) {
        let rule = ChannelRule::from_unit_limits(Some(2.0), Some(8.0)).unwrap().unwrap();
        let events = events_of(&rule, &readings);
        let mut alarms: Vec<Span> = events
            .iter()
            .filter(|event| event.kind == EventKind::Raised)
            .map(|raised| {
                let end = events
                    .iter()
                    .find(|e| {
                        e.kind == EventKind::Cleared
                            && (e.side, e.start_s, e.start_ordinal) == (raised.side, raised.start_s, raised.start_ordinal)
                    })
                    .map(|cleared| cleared.at_s);
                (raised.side, (raised.start_s, raised.start_ordinal), end)
            })
            .collect();
        alarms.sort_by_key(|(side, start, _)| (*start, *side));
        prop_assert_eq!(alarms, export_excursions(&readings, 2_000, 8_000));
    }
}
