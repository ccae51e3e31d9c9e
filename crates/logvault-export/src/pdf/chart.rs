//! The per-channel line chart: rows reduced to a minimum and a maximum per drawn column, plotted with plotters as
//! SVG, parsed by usvg with only the embedded font, and placed on the page by krilla-svg as vectors and real text.

use std::sync::{Arc, Once};

use plotters::prelude::*;

use super::{PdfError, fonts, format};
use crate::model::{ExportChannel, ExportRow};

/// Buckets per point of chart width: two keeps the line smooth at print resolution while bounding the points per
/// chart to a few thousand whatever the number of rows.
const BUCKETS_PER_POINT: f32 = 2.0;

/// A sample's time and value (thousandths) standing for a bucket's minimum or maximum.
#[derive(Debug, Clone, Copy)]
struct Extreme {
    t_s: i64,
    milli: i64,
}

/// One drawn column of the chart: its lowest and highest sample, so a one-sample spike survives any reduction.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    min: Extreme,
    max: Extreme,
}

/// The points to draw for channel `channel_idx` (a column of `rows`) over `[from_s, to_s)`: per bucket, its
/// minimum and maximum in time order. Linear in the number of rows.
pub(crate) fn downsample(
    rows: &[ExportRow],
    channel_idx: usize,
    from_s: i64,
    to_s: i64,
    n_buckets: usize,
) -> Vec<(i64, f64)> {
    let n_buckets = n_buckets.max(1);
    let span = (to_s - from_s).max(1) as i128;
    let mut buckets: Vec<Option<Bucket>> = vec![None; n_buckets];
    for row in rows {
        let Some(Some(milli)) = row.values_milli.get(channel_idx).copied() else { continue };
        if row.t_s < from_s || row.t_s >= to_s.max(from_s + 1) {
            continue;
        }
        let idx = ((row.t_s - from_s) as i128 * n_buckets as i128 / span) as usize;
        let sample = Extreme { t_s: row.t_s, milli };
        let slot = &mut buckets[idx.min(n_buckets - 1)];
        match slot {
            None => *slot = Some(Bucket { min: sample, max: sample }),
            Some(bucket) => {
                if milli < bucket.min.milli {
                    bucket.min = sample;
                }
                if milli > bucket.max.milli {
                    bucket.max = sample;
                }
            }
        }
    }
    let mut points = Vec::with_capacity(n_buckets * 2);
    for bucket in buckets.into_iter().flatten() {
        let (first, second) =
            if bucket.min.t_s <= bucket.max.t_s { (bucket.min, bucket.max) } else { (bucket.max, bucket.min) };
        points.push((first.t_s, first.milli as f64 / 1000.0));
        if second.t_s != first.t_s || second.milli != first.milli {
            points.push((second.t_s, second.milli as f64 / 1000.0));
        }
    }
    points
}

/// The chart of one channel as a usvg tree `width` × `height` points large.
pub(crate) fn render(
    channel: &ExportChannel,
    rows: &[ExportRow],
    channel_idx: usize,
    (from_s, to_s): (i64, i64),
    (width, height): (u32, u32),
) -> Result<usvg::Tree, PdfError> {
    register_font()?;
    let to_s = to_s.max(from_s + 1);
    let points = downsample(rows, channel_idx, from_s, to_s, (width as f32 * BUCKETS_PER_POINT) as usize);
    let svg = draw_svg(channel, &points, (from_s, to_s), (width, height)).map_err(PdfError::Chart)?;
    let mut options = usvg::Options { font_family: fonts::FAMILY.to_owned(), ..usvg::Options::default() };
    // Only the embedded font: usvg's database starts empty (no system-fonts feature) and gets this one face.
    let mut database = usvg::fontdb::Database::new();
    database.load_font_data(fonts::REGULAR_TTF.to_vec());
    options.fontdb = Arc::new(database);
    usvg::Tree::from_str(&svg, &options).map_err(|e| PdfError::Svg(e.to_string()))
}

/// plotters measures its labels with ab_glyph, which needs the embedded font registered once per process.
fn register_font() -> Result<(), PdfError> {
    static REGISTER: Once = Once::new();
    let mut result = Ok(());
    REGISTER.call_once(|| {
        result = plotters::style::register_font(fonts::FAMILY, FontStyle::Normal, fonts::REGULAR_TTF)
            .map_err(|_| PdfError::Font);
    });
    result
}

fn draw_svg(
    channel: &ExportChannel,
    points: &[(i64, f64)],
    (from_s, to_s): (i64, i64),
    size: (u32, u32),
) -> Result<String, String> {
    let (y_min, y_max) = y_range(points, channel);
    let span_s = to_s - from_s;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(6)
            .margin_right(14)
            .x_label_area_size(22)
            .y_label_area_size(46)
            .build_cartesian_2d(from_s..to_s, y_min..y_max)
            .map_err(|e| e.to_string())?;
        let x_label = |t: &i64| format::axis_label(*t, span_s);
        let y_label = |v: &f64| format!("{v:.1}");
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .y_desc(channel.unit.as_str())
            .label_style((fonts::FAMILY, 11))
            .axis_desc_style((fonts::FAMILY, 11))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(|e| e.to_string())?;
        // The legend is written under the chart by the page layout: inside the plot it could hide a peak.
        let line = RGBColor(31, 96, 170);
        chart.draw_series(LineSeries::new(points.iter().copied(), line.stroke_width(1))).map_err(|e| e.to_string())?;
        let limit_colour = RGBColor(200, 30, 30);
        for limit in [channel.upper, channel.lower].into_iter().flatten().filter(|l| l.is_finite()) {
            chart
                .draw_series(DashedLineSeries::new(
                    [(from_s, limit), (to_s, limit)],
                    6,
                    4,
                    limit_colour.stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The value axis: the data and the limits, with a margin so neither touches the frame.
fn y_range(points: &[(i64, f64)], channel: &ExportChannel) -> (f64, f64) {
    let values = points.iter().map(|(_, v)| *v).chain(channel.lower).chain(channel.upper).filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(0.5);
    (lo - pad, hi + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t_s: i64, milli: i64) -> ExportRow {
        ExportRow { t_s, ordinal: 0, values_milli: vec![Some(milli)] }
    }

    #[test]
    fn a_one_sample_spike_survives_downsampling() {
        let mut rows: Vec<ExportRow> = (0..100_000).map(|i| row(i, 5_000)).collect();
        rows[54_321] = row(54_321, 9_876);
        rows[77_777] = row(77_777, -1_234);
        let points = downsample(&rows, 0, 0, 100_000, 500);
        assert!(points.len() <= 1_000, "{} points", points.len());
        assert!(points.contains(&(54_321, 9.876)) && points.contains(&(77_777, -1.234)));
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0), "points out of time order");
    }

    #[test]
    fn samples_outside_the_period_or_missing_are_not_drawn() {
        let rows = vec![
            row(-5, 1_000),
            row(0, 2_000),
            ExportRow { t_s: 5, ordinal: 0, values_milli: vec![None] },
            ExportRow { t_s: 6, ordinal: 0, values_milli: vec![] },
            row(10, 3_000),
        ];
        assert_eq!(downsample(&rows, 0, 0, 10, 4), vec![(0, 2.0)]);
    }
}
