//! What a report says about a period beyond its rows: statistics per channel and the excursions outside the
//! device's limits.
//!
//! An excursion starts at the first sample outside a limit and ends at the first sample back inside it (or at the
//! last sample, if the period ends outside): the time the goods are known to have spent outside. Its peak is the
//! value furthest outside that limit.

use logvault_core::stats::{self, Options};

use crate::model::{Excursion, ExcursionKind, ExportChannel, ReportSummary};

/// The samples of one channel over the period: `(t_s, value)` in the channel's unit, in time order.
pub type ChannelSeries = Vec<(i64, f64)>;

/// Statistics and excursions of each channel (`series` in `channels` order). MKT is computed for channels whose
/// name is `temperature`, with `mkt_delta_h` kJ/mol.
pub fn summarise(
    channels: &[ExportChannel],
    series: &[ChannelSeries],
    mkt_delta_h: f64,
    n_blocks: i64,
    chain_verified: bool,
) -> ReportSummary {
    let mut statistics = Vec::with_capacity(channels.len());
    let mut all_excursions = Vec::new();
    for (channel, samples) in channels.iter().zip(series) {
        let is_temperature = channel.name == "temperature";
        let options =
            Options { lower: channel.lower, upper: channel.upper, mkt_delta_h: is_temperature.then_some(mkt_delta_h) };
        statistics.push(stats::statistics(samples, options));
        all_excursions.extend(excursions(channel.index, samples, channel.lower, channel.upper));
    }
    all_excursions.sort_by_key(|excursion| (excursion.start_s, excursion.channel));
    ReportSummary { statistics, mkt_delta_h, excursions: all_excursions, n_blocks, chain_verified }
}

/// The excursions of one channel above `upper` and below `lower`, in time order.
pub fn excursions(channel: i32, samples: &[(i64, f64)], lower: Option<f64>, upper: Option<f64>) -> Vec<Excursion> {
    let mut found = Vec::new();
    if let Some(upper) = upper {
        found.extend(runs(channel, samples, ExcursionKind::Above, |value| value > upper));
    }
    if let Some(lower) = lower {
        found.extend(runs(channel, samples, ExcursionKind::Below, |value| value < lower));
    }
    found.sort_by_key(|excursion| excursion.start_s);
    found
}

fn runs(channel: i32, samples: &[(i64, f64)], kind: ExcursionKind, outside: impl Fn(f64) -> bool) -> Vec<Excursion> {
    let further = |candidate: f64, peak: f64| match kind {
        ExcursionKind::Above => candidate > peak,
        ExcursionKind::Below => candidate < peak,
    };
    let mut found = Vec::new();
    let mut open: Option<(i64, i64, f64)> = None; // start, last outside, peak
    for &(t_s, value) in samples {
        match (&mut open, outside(value)) {
            (None, true) => open = Some((t_s, t_s, value)),
            (Some((_, last, peak)), true) => {
                *last = t_s;
                if further(value, *peak) {
                    *peak = value;
                }
            }
            (Some((start, _, peak)), false) => {
                found.push(Excursion {
                    channel,
                    kind,
                    start_s: *start,
                    end_s: t_s,
                    duration_s: t_s - *start,
                    peak: *peak,
                });
                open = None;
            }
            (None, false) => {}
        }
    }
    if let Some((start, last, peak)) = open {
        found.push(Excursion { channel, kind, start_s: start, end_s: last, duration_s: last - start, peak });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fridge() -> Vec<(i64, f64)> {
        // 2–8 °C limits: above from t=120 (back in at 300, peak 9.5), below from t=600 to the end (trough 1.0).
        vec![(0, 5.0), (60, 7.9), (120, 8.5), (180, 9.5), (240, 8.1), (300, 6.0), (600, 1.5), (660, 1.0)]
    }

    #[test]
    fn an_excursion_runs_from_the_first_sample_outside_to_the_first_back_inside() {
        let found = excursions(0, &fridge(), Some(2.0), Some(8.0));
        assert_eq!(found.len(), 2);
        let above = &found[0];
        assert_eq!((above.kind, above.start_s, above.end_s, above.duration_s), (ExcursionKind::Above, 120, 300, 180));
        assert!((above.peak - 9.5).abs() < 1e-9);
        let below = &found[1];
        // The period ends outside: the excursion ends at the last sample.
        assert_eq!((below.kind, below.start_s, below.end_s, below.duration_s), (ExcursionKind::Below, 600, 660, 60));
        assert!((below.peak - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_value_on_the_limit_is_inside_and_no_limits_means_no_excursions() {
        assert!(excursions(0, &[(0, 8.0), (60, 2.0)], Some(2.0), Some(8.0)).is_empty());
        assert!(excursions(0, &fridge(), None, None).is_empty());
    }

    #[test]
    fn the_summary_has_mkt_for_temperature_only_and_excursions_of_every_channel_in_time_order() {
        let channels = vec![
            ExportChannel {
                index: 0,
                name: "temperature".into(),
                unit: "°C".into(),
                lower: Some(2.0),
                upper: Some(8.0),
            },
            ExportChannel {
                index: 1,
                name: "relative_humidity".into(),
                unit: "%RH".into(),
                lower: None,
                upper: Some(60.0),
            },
        ];
        let humidity = vec![(0, 50.0), (30, 65.0), (90, 55.0)];
        let summary = summarise(&channels, &[fridge(), humidity], 83.144, 3, true);
        let temperature = summary.statistics[0].as_ref().unwrap();
        assert!(temperature.mkt.is_some());
        assert!(summary.statistics[1].as_ref().unwrap().mkt.is_none());
        let starts: Vec<(i64, i32)> = summary.excursions.iter().map(|e| (e.start_s, e.channel)).collect();
        assert_eq!(starts, vec![(30, 1), (120, 0), (600, 0)]);
        assert_eq!((summary.n_blocks, summary.chain_verified), (3, true));
    }
}
