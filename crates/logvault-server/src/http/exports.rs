//! Exports of a device's measurements — `GET /api/v1/devices/{serial}/export?format=csv|xlsx|pdf&from&to&channel` —
//! each signed with the server's Ed25519 key, and that key's public half at `GET /api/v1/signing-key`.
//!
//! A CSV is streamed: rows go out a page at a time as they are read, the hashes run along, and the signed manifest is
//! the last line, so memory stays flat for any period and the first bytes leave before the last rows are read. An
//! XLSX or PDF needs every row (charts, statistics) and is built in memory off the async threads. Every export is an
//! `export.created` audit entry: who, which device, the period, the format.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use logvault_core::authz::Permission;
use logvault_export::summary::{self, ChannelSeries};
use logvault_export::{
    ChainHead, CsvExport, ExportChannel, ExportHeader, ExportRow, Format, ReportSummary, SigningKey, sign_pdf,
};
use logvault_store::{Device, OrgScope, Store};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::{OrgAccess, Principal};
use crate::devices::DeviceSettings;
use crate::error::ApiError;
use crate::http::devices::device_for;
use crate::http::openapi::{Doc, binary_schema, object_schema};
use crate::http::orgs::org_event;
use crate::http::routes::{Access, Routes};
use crate::reports::{self, Period, RowReader};
use crate::state::AppState;

/// The most rows an XLSX or PDF holds (a worksheet's limit, less the header row). Longer periods go to CSV.
pub const MAX_REPORT_ROWS: usize = 1_048_575;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/api/v1/devices/{serial}/export",
            Access::Authenticated,
            Doc::new("Export a period of a device's measurements as a signed CSV, XLSX or PDF (audited)")
                .description(
                    "`format=csv|xlsx|pdf`, `from`, `to` (RFC 3339 or Unix seconds), optionally `channel`. The file \
                     carries an Ed25519-signed manifest (content and rows SHA-256, chain heads); check it with \
                     `logvault verify-export FILE --public-key KEY`. CSV is streamed. For members who may export.",
                )
                .response_as(200, "text/csv", "the export (CSV, XLSX or PDF by `format`)", binary_schema)
                .error(400, "an unknown format")
                .error(422, "no or a bad period or channel, or too many rows for one XLSX or PDF"),
            export,
        )
        .add(
            Method::GET,
            "/api/v1/signing-key",
            Access::Public,
            Doc::new("The server's public Ed25519 export-signing key").response_as(
                200,
                "application/json",
                "the key (base64url), its fingerprint and every key the server has published",
                object_schema,
            ),
            signing_key,
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    format: Format,
    from: Option<String>,
    to: Option<String>,
    channel: Option<i32>,
}

async fn export(
    State(state): State<AppState>,
    principal: Principal,
    Path(serial): Path<String>,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let (access, device) = device_for(&state, &principal, &serial, Permission::ExportMeasurements).await?;
    let period = super::reports::PeriodParams { from: params.from, to: params.to, channel: params.channel }.period()?;
    let settings = DeviceSettings::of(&device);
    let channels = reports::export_channels(&device, &settings, params.channel)
        .ok_or_else(|| ApiError::Unprocessable("no such channel".to_owned()))?;
    let header = export_header(&state, &principal, &access.scope, &device, channels, period).await?;
    let detail = serde_json::json!({
        "format": params.format.as_str(),
        "from": period.from_s,
        "to": period.to_s,
        "channels": header.channels.iter().map(|c| c.index).collect::<Vec<_>>(),
    });
    org_event(
        &state,
        &principal,
        &access,
        "export.created",
        Some(format!("device:{}", device.serial)),
        Some(detail.to_string()),
    )
    .await?;
    let filename = filename(&device.serial, period, params.format);
    let body = match params.format {
        Format::Csv => stream_csv(Arc::clone(&state.store), access, device.id, header, period, &state),
        Format::Xlsx | Format::Pdf => {
            Body::from(report(&state, &access, &device, header, &settings, period, params.format).await?)
        }
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|err| ApiError::Internal(err.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(params.format.content_type())),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// `LV-000042_20260101T000000Z_20260201T000000Z.csv`: the serial (letters, digits, `-`, `_` only) and the period.
fn filename(serial: &str, period: Period, format: Format) -> String {
    let safe: String = serial.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    let stamp = |t_s: i64| {
        OffsetDateTime::from_unix_timestamp(t_s)
            .ok()
            .and_then(|t| {
                t.format(&time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).ok()
            })
            .unwrap_or_else(|| t_s.to_string())
    };
    format!("{safe}_{}_{}.{}", stamp(period.from_s), stamp(period.to_s), format.as_str())
}

/// Everything about the export but its rows: device, organisation, site, period, channels, who and when, and the
/// device's chain head now (every exported row comes from a block at or before it).
async fn export_header(
    state: &AppState,
    principal: &Principal,
    scope: &OrgScope,
    device: &Device,
    channels: Vec<ExportChannel>,
    period: Period,
) -> Result<ExportHeader, ApiError> {
    let organisation = state.store.organisation(scope).await?;
    let site = match device.site_id {
        Some(site_id) => {
            state.store.sites(scope).await?.into_iter().find(|site| site.id == site_id).map(|site| site.name)
        }
        None => None,
    };
    let chain = state.store.chain_summary(scope, device.id, period.from_s, period.to_s).await?;
    let time_of = |t_s: i64| {
        OffsetDateTime::from_unix_timestamp(t_s).map_err(|_| ApiError::Unprocessable("time out of range".to_owned()))
    };
    Ok(ExportHeader {
        serial: device.serial.clone(),
        device_name: device.name.clone(),
        organisation: organisation.name.as_str().to_owned(),
        site,
        from: time_of(period.from_s)?,
        to: time_of(period.to_s)?,
        channels,
        generated_at: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc()),
        generated_by: format!("{} ({})", principal.user.name, principal.actor()),
        chain_heads: chain
            .head
            .map(|(seq, hash)| ChainHead { serial: device.serial.clone(), seq, block_hash: hex::encode(hash) })
            .into_iter()
            .collect(),
    })
}

/// What the CSV stream does next.
enum CsvStep {
    Header,
    Rows,
    Manifest,
    Done,
}

struct CsvStream {
    store: Arc<dyn Store>,
    access: OrgAccess,
    reader: RowReader,
    csv: Option<CsvExport>,
    key: Arc<crate::signing::SigningKeys>,
    step: CsvStep,
}

/// The CSV as a body: header, rows page by page, then the signed manifest line. A failure mid-way ends the body
/// without a manifest, so the truncated file cannot verify.
fn stream_csv(
    store: Arc<dyn Store>,
    access: OrgAccess,
    device_id: i64,
    header: ExportHeader,
    period: Period,
    state: &AppState,
) -> Body {
    let stream = CsvStream {
        store,
        access,
        reader: RowReader::new(device_id, &header.channels, period),
        csv: Some(CsvExport::new(&header)),
        key: Arc::clone(&state.signing_keys),
        step: CsvStep::Header,
    };
    Body::from_stream(futures_util::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next_chunk().await;
        match chunk {
            Ok(Some(bytes)) => Some((Ok::<Bytes, std::io::Error>(bytes), stream)),
            Ok(None) => None,
            Err(err) => {
                tracing::error!(error = %err, "the CSV export stopped before its end");
                stream.step = CsvStep::Done;
                Some((Err(std::io::Error::other("export failed")), stream))
            }
        }
    }))
}

impl CsvStream {
    async fn next_chunk(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            match self.step {
                CsvStep::Header => {
                    self.step = CsvStep::Rows;
                    let csv = self.csv.as_mut().ok_or_else(|| anyhow::anyhow!("CSV writer gone"))?;
                    return Ok(Some(Bytes::from(csv.header_bytes())));
                }
                CsvStep::Rows => match self.reader.next_rows(self.store.as_ref(), &self.access.scope).await? {
                    Some(rows) if rows.is_empty() => continue,
                    Some(rows) => {
                        let csv = self.csv.as_mut().ok_or_else(|| anyhow::anyhow!("CSV writer gone"))?;
                        let mut bytes = Vec::with_capacity(rows.len() * 32);
                        for row in &rows {
                            bytes.extend(csv.row_bytes(row));
                        }
                        return Ok(Some(Bytes::from(bytes)));
                    }
                    None => self.step = CsvStep::Manifest,
                },
                CsvStep::Manifest => {
                    self.step = CsvStep::Done;
                    let csv = self.csv.take().ok_or_else(|| anyhow::anyhow!("CSV writer gone"))?;
                    return Ok(Some(Bytes::from(csv.finish(&self.key.signing)?)));
                }
                CsvStep::Done => return Ok(None),
            }
        }
    }
}

/// An XLSX or PDF report: every row of the period, statistics and excursions, the device's chain re-verified, then
/// rendered and signed on a blocking thread.
async fn report(
    state: &AppState,
    access: &OrgAccess,
    device: &Device,
    header: ExportHeader,
    settings: &DeviceSettings,
    period: Period,
    format: Format,
) -> Result<Vec<u8>, ApiError> {
    let mut reader = RowReader::new(device.id, &header.channels, period);
    let mut rows: Vec<ExportRow> = Vec::new();
    while let Some(page) = reader.next_rows(state.store.as_ref(), &access.scope).await? {
        rows.extend(page);
        if rows.len() > MAX_REPORT_ROWS {
            return Err(ApiError::Unprocessable(format!(
                "the period holds more than {MAX_REPORT_ROWS} rows, too many for one {} report; export CSV or a \
                 shorter period",
                format.as_str()
            )));
        }
    }
    let series: Vec<ChannelSeries> = (0..header.channels.len())
        .map(|i| {
            rows.iter()
                .filter_map(|row| row.values_milli.get(i).copied().flatten().map(|v| (row.t_s, v as f64 / 1_000.0)))
                .collect()
        })
        .collect();
    let chain = state.store.chain_summary(&access.scope, device.id, period.from_s, period.to_s).await?;
    let verified = crate::verify::verify_device(state.store.as_ref(), &state.data_key_wrap, device)
        .await
        .map_err(ApiError::Internal)?;
    let summary: ReportSummary = summary::summarise(
        &header.channels,
        &series,
        settings.mkt_delta_h(),
        chain.n_blocks_in_period,
        verified.finding.is_none(),
    );
    let keys = Arc::clone(&state.signing_keys);
    tokio::task::spawn_blocking(move || render(format, &header, &rows, &summary, &keys.signing))
        .await
        .map_err(|err| ApiError::Internal(err.into()))?
}

fn render(
    format: Format,
    header: &ExportHeader,
    rows: &[ExportRow],
    summary: &ReportSummary,
    key: &SigningKey,
) -> Result<Vec<u8>, ApiError> {
    match format {
        Format::Xlsx => logvault_export::xlsx(header, rows, summary, key).map_err(|err| ApiError::Internal(err.into())),
        Format::Pdf | Format::Csv => {
            let pdf =
                logvault_export::render_pdf(header, rows, summary).map_err(|err| ApiError::Internal(err.into()))?;
            sign_pdf(pdf, header, rows, key).map_err(|err| ApiError::Internal(err.into()))
        }
    }
}

#[derive(Debug, Serialize)]
struct SigningKeyView {
    algorithm: &'static str,
    /// The key that signs exports now: base64url, 32 bytes.
    public_key: String,
    fingerprint: String,
    /// Every key this server has signed with, oldest first (today the first signs).
    published: Vec<String>,
}

/// The server's public signing key, for `logvault verify-export --public-key`.
async fn signing_key(State(state): State<AppState>) -> Json<SigningKeyView> {
    let current = state.signing_keys.signing.public_key();
    Json(SigningKeyView {
        algorithm: "Ed25519",
        public_key: current.to_base64(),
        fingerprint: current.fingerprint(),
        published: state.signing_keys.published.iter().map(|key| key.to_base64()).collect(),
    })
}
