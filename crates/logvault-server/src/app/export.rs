//! Signed exports of a device's measurements, as the HTTP route and `logvault export` both make them.
//!
//! [`Exporter::prepare`] settles everything but the rows — channels with their limits, the header with organisation,
//! site, period, who and when, and the device's chain head. A CSV is then streamed ([`CsvStream`]): the header, the
//! rows a page at a time as they are read (the hashes running along), and the signed manifest as the last line, so
//! memory stays flat for any period and the first bytes leave before the last rows are read. An XLSX or PDF
//! ([`Exporter::report`]) needs every row (charts, statistics) and is built in memory off the async threads, after
//! the device's chain is re-verified.

use std::sync::Arc;

use logvault_core::SubKey;
use logvault_export::summary::{self, ChannelSeries};
use logvault_export::{ChainHead, CsvExport, ExportHeader, ExportRow, Format, ReportSummary, SigningKey, sign_pdf};
use logvault_store::{ChainSummary, Device, OrgScope, Store, StoreError};
use time::OffsetDateTime;

use crate::app::reports::{self, Period, RowReader};
use crate::devices::DeviceSettings;
use crate::signing::SigningKeys;

/// The most rows an XLSX or PDF holds (a worksheet's limit, less the header row). Longer periods go to CSV.
pub const MAX_REPORT_ROWS: usize = 1_048_575;

/// Why an export cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the device has no channel {0}")]
    NoSuchChannel(i32),
    #[error(
        "the period holds more than {MAX_REPORT_ROWS} rows, too many for one {0} report; export CSV or a shorter period"
    )]
    TooManyRows(&'static str),
    #[error("the period is outside the times an export can show")]
    TimeOutOfRange,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What making an export needs besides the request.
#[derive(Debug, Clone)]
pub struct Exporter {
    pub store: Arc<dyn Store>,
    pub signing_keys: Arc<SigningKeys>,
    /// Opens device keys, to re-verify a chain before a report states it verified.
    pub data_key_wrap: Arc<SubKey>,
}

/// One export asked for: a device of `scope`, a period, optionally one channel, a format, and who asks (as the
/// export will name them).
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub scope: OrgScope,
    pub device: Device,
    pub period: Period,
    pub channel: Option<i32>,
    pub format: Format,
    pub generated_by: String,
}

/// An export ready to produce its body.
#[derive(Debug)]
pub struct Prepared {
    pub request: ExportRequest,
    pub header: ExportHeader,
    settings: DeviceSettings,
    chain: ChainSummary,
}

impl Prepared {
    /// The `export.created` audit detail: format, period and channels.
    pub fn audit_detail(&self) -> String {
        serde_json::json!({
            "format": self.request.format.as_str(),
            "from": self.request.period.from_s,
            "to": self.request.period.to_s,
            "channels": self.header.channels.iter().map(|c| c.index).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// `LV-000042_20260101T000000Z_20260201T000000Z.csv`: the serial (letters, digits, `-`, `_` only) and the period.
    pub fn filename(&self) -> String {
        let request = &self.request;
        let safe: String =
            request.device.serial.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        let stamp = |t_s: i64| {
            OffsetDateTime::from_unix_timestamp(t_s)
                .ok()
                .and_then(|t| {
                    t.format(&time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).ok()
                })
                .unwrap_or_else(|| t_s.to_string())
        };
        format!("{safe}_{}_{}.{}", stamp(request.period.from_s), stamp(request.period.to_s), request.format.as_str())
    }
}

impl Exporter {
    /// Everything about the export but its rows: device, organisation, site, period, channels, who and when, and the
    /// device's chain head now (every exported row comes from a block at or before it).
    pub async fn prepare(&self, request: ExportRequest) -> Result<Prepared, ExportError> {
        let settings = DeviceSettings::of(&request.device);
        let channels = reports::export_channels(&request.device, &settings, request.channel)
            .ok_or(ExportError::NoSuchChannel(request.channel.unwrap_or_default()))?;
        let scope = &request.scope;
        let organisation = self.store.organisation(scope).await?;
        let site = match request.device.site_id {
            Some(site_id) => {
                self.store.sites(scope).await?.into_iter().find(|site| site.id == site_id).map(|site| site.name)
            }
            None => None,
        };
        let period = request.period;
        let chain = self.store.chain_summary(scope, request.device.id, period.from_s, period.to_s).await?;
        let time_of = |t_s: i64| OffsetDateTime::from_unix_timestamp(t_s).map_err(|_| ExportError::TimeOutOfRange);
        let header = ExportHeader {
            serial: request.device.serial.clone(),
            device_name: request.device.name.clone(),
            organisation: organisation.name.as_str().to_owned(),
            site,
            from: time_of(period.from_s)?,
            to: time_of(period.to_s)?,
            channels,
            generated_at: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc()),
            generated_by: request.generated_by.clone(),
            chain_heads: chain
                .head
                .map(|(seq, hash)| ChainHead {
                    serial: request.device.serial.clone(),
                    seq,
                    block_hash: hex::encode(hash),
                })
                .into_iter()
                .collect(),
        };
        Ok(Prepared { request, header, settings, chain })
    }

    /// The CSV of a prepared export, chunk by chunk.
    pub fn csv(&self, prepared: Prepared) -> CsvStream {
        CsvStream {
            store: Arc::clone(&self.store),
            scope: prepared.request.scope,
            reader: RowReader::new(prepared.request.device.id, &prepared.header.channels, prepared.request.period),
            csv: Some(CsvExport::new(&prepared.header)),
            keys: Arc::clone(&self.signing_keys),
            step: CsvStep::Header,
        }
    }

    /// An XLSX or PDF report: every row of the period, statistics and excursions, the device's chain re-verified,
    /// then rendered and signed on a blocking thread.
    pub async fn report(&self, prepared: Prepared) -> Result<Vec<u8>, ExportError> {
        let Prepared { request, header, settings, chain } = prepared;
        let format = request.format;
        let mut reader = RowReader::new(request.device.id, &header.channels, request.period);
        let mut rows: Vec<ExportRow> = Vec::new();
        while let Some(page) = reader.next_rows(self.store.as_ref(), &request.scope).await? {
            rows.extend(page);
            if rows.len() > MAX_REPORT_ROWS {
                return Err(ExportError::TooManyRows(format.as_str()));
            }
        }
        let series: Vec<ChannelSeries> = (0..header.channels.len())
            .map(|i| {
                rows.iter()
                    .filter_map(|row| row.values_milli.get(i).copied().flatten().map(|v| (row.t_s, v as f64 / 1_000.0)))
                    .collect()
            })
            .collect();
        let verified =
            crate::app::verify::verify_device(self.store.as_ref(), &self.data_key_wrap, &request.device).await?;
        let summary: ReportSummary = summary::summarise(
            &header.channels,
            &series,
            settings.mkt_delta_h(),
            chain.n_blocks_in_period,
            verified.finding.is_none(),
        );
        let keys = Arc::clone(&self.signing_keys);
        tokio::task::spawn_blocking(move || render(format, &header, &rows, &summary, &keys.signing))
            .await
            .map_err(|err| ExportError::Internal(err.into()))?
    }
}

fn render(
    format: Format,
    header: &ExportHeader,
    rows: &[ExportRow],
    summary: &ReportSummary,
    key: &SigningKey,
) -> Result<Vec<u8>, ExportError> {
    fn internal(err: impl std::error::Error + Send + Sync + 'static) -> ExportError {
        ExportError::Internal(err.into())
    }
    match format {
        Format::Xlsx => logvault_export::xlsx(header, rows, summary, key).map_err(internal),
        Format::Pdf | Format::Csv => {
            let pdf = logvault_export::render_pdf(header, rows, summary).map_err(internal)?;
            sign_pdf(pdf, header, rows, key).map_err(internal)
        }
    }
}

/// What the CSV stream does next.
#[derive(Debug)]
enum CsvStep {
    Header,
    Rows,
    Manifest,
    Done,
}

/// A CSV export being produced: the header, rows page by page, then the signed manifest line. A caller that stops
/// on an error writes no manifest, so the truncated file cannot verify.
#[derive(Debug)]
pub struct CsvStream {
    store: Arc<dyn Store>,
    scope: OrgScope,
    reader: RowReader,
    csv: Option<CsvExport>,
    keys: Arc<SigningKeys>,
    step: CsvStep,
}

impl CsvStream {
    /// The next bytes of the file, or `None` after the manifest.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ExportError> {
        loop {
            match self.step {
                CsvStep::Header => {
                    self.step = CsvStep::Rows;
                    return Ok(Some(self.writer()?.header_bytes()));
                }
                CsvStep::Rows => match self.reader.next_rows(self.store.as_ref(), &self.scope).await? {
                    Some(rows) if rows.is_empty() => continue,
                    Some(rows) => {
                        let csv = self.writer()?;
                        let mut bytes = Vec::with_capacity(rows.len() * 32);
                        for row in &rows {
                            bytes.extend(csv.row_bytes(row));
                        }
                        return Ok(Some(bytes));
                    }
                    None => self.step = CsvStep::Manifest,
                },
                CsvStep::Manifest => {
                    self.step = CsvStep::Done;
                    let csv = self.csv.take().ok_or_else(|| anyhow::anyhow!("the CSV writer is gone"))?;
                    let manifest = csv.finish(&self.keys.signing).map_err(anyhow::Error::from)?;
                    return Ok(Some(manifest));
                }
                CsvStep::Done => return Ok(None),
            }
        }
    }

    /// Ends the stream early (after an error): no manifest follows.
    pub fn abandon(&mut self) {
        self.step = CsvStep::Done;
    }

    fn writer(&mut self) -> Result<&mut CsvExport, ExportError> {
        Ok(self.csv.as_mut().ok_or_else(|| anyhow::anyhow!("the CSV writer is gone"))?)
    }
}
