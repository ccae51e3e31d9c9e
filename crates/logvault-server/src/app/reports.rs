//! What statistics and exports read: a device's channels with their limits, and its samples over a period — one
//! channel as a series, or every channel merged into rows, page by page so a year of data never sits in memory for
//! a CSV.

use std::collections::VecDeque;

use logvault_export::summary::{self, ChannelSeries};
use logvault_export::{ExportChannel, ExportRow, ReportSummary};
use logvault_store::{Device, Measurement, MeasurementQuery, OrgScope, Store, StoreError};

use crate::devices::{DeviceSettings, channel_quantities, unit_of};

/// Rows read from the store per channel and request.
pub const PAGE_ROWS: i64 = 10_000;

/// The longest period one statistics request or export covers (ten years of data).
pub const MAX_PERIOD_S: i64 = 10 * 366 * 86_400;

/// A period `[from_s, to_s)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from_s: i64,
    pub to_s: i64,
}

impl Period {
    /// `from` and `to`, each an RFC 3339 time or Unix seconds: `from` before `to`, at most [`MAX_PERIOD_S`] apart.
    /// The error is a sentence for the person who asked.
    pub fn parse(from: &str, to: &str) -> Result<Period, &'static str> {
        let parse_time = |raw: &str| match raw.parse::<i64>() {
            Ok(seconds) => Ok(seconds),
            Err(_) => time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                .map(time::OffsetDateTime::unix_timestamp)
                .map_err(|_| "from and to are RFC 3339 times or Unix seconds"),
        };
        let period = Period { from_s: parse_time(from)?, to_s: parse_time(to)? };
        if period.from_s >= period.to_s {
            return Err("from must be before to");
        }
        if period.to_s.saturating_sub(period.from_s) > MAX_PERIOD_S {
            return Err("a period covers at most ten years");
        }
        Ok(period)
    }

    /// [`Period::parse`] of optional ends, as query parameters give them: both are required.
    pub fn parse_required(from: Option<&str>, to: Option<&str>) -> Result<Period, &'static str> {
        let (Some(from), Some(to)) = (from, to) else { return Err("from and to are required") };
        Period::parse(from, to)
    }
}

/// The device's channels as exports show them (with the limits from its settings); `only` picks one. `None` when
/// `only` is not one of its channels.
pub fn export_channels(device: &Device, settings: &DeviceSettings, only: Option<i32>) -> Option<Vec<ExportChannel>> {
    let channels: Vec<ExportChannel> = channel_quantities(device)
        .into_iter()
        .enumerate()
        .filter_map(|(index, name)| {
            let index = i32::try_from(index).ok()?;
            let (lower, upper) = settings.limits_of(index);
            Some(ExportChannel { index, unit: unit_of(&name).to_owned(), name, lower, upper })
        })
        .filter(|channel| only.is_none_or(|wanted| wanted == channel.index))
        .collect();
    (only.is_none() || !channels.is_empty()).then_some(channels)
}

/// Every sample of one channel in the period: `(t_s, value in the unit)`, in time order.
pub async fn channel_series(
    store: &dyn Store,
    scope: &OrgScope,
    device_id: i64,
    channel: i32,
    period: Period,
) -> Result<Vec<(i64, f64)>, StoreError> {
    let mut series = Vec::new();
    let mut after = None;
    loop {
        let query = MeasurementQuery { channel, from_s: period.from_s, to_s: period.to_s, after, limit: PAGE_ROWS };
        let page = store.measurements(scope, device_id, query).await?;
        series.extend(page.iter().map(|m| (m.t_s, f64::from(m.value) / 1_000.0)));
        match page.last() {
            Some(last) if i64::try_from(page.len()).unwrap_or(i64::MAX) == PAGE_ROWS => {
                after = Some((last.t_s, last.ordinal))
            }
            _ => return Ok(series),
        }
    }
}

/// Reads the rows of several channels in time order, a page at a time: each channel is read by its own index
/// (device, channel, time) and the pages are merged on `(t_s, ordinal)`, which every channel of one sample shares.
#[derive(Debug)]
pub struct RowReader {
    device_id: i64,
    period: Period,
    channels: Vec<i32>,
    buffers: Vec<VecDeque<Measurement>>,
    cursors: Vec<Option<(i64, i32)>>,
    exhausted: Vec<bool>,
}

impl RowReader {
    pub fn new(device_id: i64, channels: &[ExportChannel], period: Period) -> RowReader {
        let n = channels.len();
        RowReader {
            device_id,
            period,
            channels: channels.iter().map(|channel| channel.index).collect(),
            buffers: vec![VecDeque::new(); n],
            cursors: vec![None; n],
            exhausted: vec![false; n],
        }
    }

    /// The next rows (at most about a page), or `None` when the period is read.
    pub async fn next_rows(
        &mut self,
        store: &dyn Store,
        scope: &OrgScope,
    ) -> Result<Option<Vec<ExportRow>>, StoreError> {
        self.refill(store, scope).await?;
        let mut rows = Vec::new();
        // Emit while every channel that may still have rows has one buffered, so the smallest key is known.
        while (0..self.channels.len()).all(|i| self.exhausted[i] || !self.buffers[i].is_empty()) {
            let Some(key) = self.buffers.iter().filter_map(|b| b.front().map(|m| (m.t_s, m.ordinal))).min() else {
                break;
            };
            let values_milli = self
                .buffers
                .iter_mut()
                .map(|buffer| match buffer.front() {
                    Some(m) if (m.t_s, m.ordinal) == key => buffer.pop_front().map(|m| i64::from(m.value)),
                    _ => None,
                })
                .collect();
            rows.push(ExportRow { t_s: key.0, ordinal: key.1, values_milli });
        }
        if rows.is_empty() && self.buffers.iter().all(VecDeque::is_empty) && self.exhausted.iter().all(|e| *e) {
            return Ok(None);
        }
        Ok(Some(rows))
    }

    async fn refill(&mut self, store: &dyn Store, scope: &OrgScope) -> Result<(), StoreError> {
        for i in 0..self.channels.len() {
            if self.exhausted[i] || !self.buffers[i].is_empty() {
                continue;
            }
            let query = MeasurementQuery {
                channel: self.channels[i],
                from_s: self.period.from_s,
                to_s: self.period.to_s,
                after: self.cursors[i],
                limit: PAGE_ROWS,
            };
            let page = store.measurements(scope, self.device_id, query).await?;
            if i64::try_from(page.len()).unwrap_or(i64::MAX) < PAGE_ROWS {
                self.exhausted[i] = true;
            }
            if let Some(last) = page.last() {
                self.cursors[i] = Some((last.t_s, last.ordinal));
            }
            self.buffers[i].extend(page);
        }
        Ok(())
    }
}

/// The statistics of a period: the channels (with their limits) and, per channel, count, min, max, time-weighted
/// mean, MKT and time outside the limits, with the excursions.
#[derive(Debug)]
pub struct PeriodStatistics {
    pub channels: Vec<ExportChannel>,
    pub summary: ReportSummary,
}

/// [`PeriodStatistics`] of the device over `period`, of every channel or only `only`; `None` when `only` is not one
/// of its channels.
pub async fn period_statistics(
    store: &dyn Store,
    scope: &OrgScope,
    device: &Device,
    period: Period,
    only: Option<i32>,
) -> Result<Option<PeriodStatistics>, StoreError> {
    let settings = DeviceSettings::of(device);
    let Some(channels) = export_channels(device, &settings, only) else { return Ok(None) };
    let mut series: Vec<ChannelSeries> = Vec::with_capacity(channels.len());
    for channel in &channels {
        series.push(channel_series(store, scope, device.id, channel.index, period).await?);
    }
    let summary = summary::summarise(&channels, &series, settings.mkt_delta_h(), 0, false);
    Ok(Some(PeriodStatistics { channels, summary }))
}
