//! What an export is made of: the header (device, period, channels, who asked), the rows, and for the XLSX and PDF
//! reports a summary (statistics, excursions, integrity).

use logvault_core::stats::Statistics;
use time::OffsetDateTime;

/// The export formats.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Xlsx,
    Pdf,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Pdf => "pdf",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Pdf => "application/pdf",
        }
    }
}

/// One exported channel (a column of the data).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportChannel {
    /// The channel's index in the device's layout.
    pub index: i32,
    /// `temperature`, `humidity`, …
    pub name: String,
    /// `°C`, `%RH`, …
    pub unit: String,
    /// The device's alarm limits for this channel, in the channel's unit.
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

/// A device chain head: the last block of the device's hash chain that the export relies on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainHead {
    pub serial: String,
    /// Position of the block in the device's chain (1-based).
    pub seq: i64,
    /// Lower-case hex SHA-256 chain hash of that block.
    pub block_hash: String,
}

/// Everything about an export except its rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportHeader {
    pub serial: String,
    pub device_name: String,
    pub organisation: String,
    pub site: Option<String>,
    /// The period: `[from, to)`, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    /// The exported channels, in column order.
    pub channels: Vec<ExportChannel>,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Who asked for it: a display name and `user:<id>` (never a password or a token).
    pub generated_by: String,
    /// The chain heads covering the exported period (one per device today).
    pub chain_heads: Vec<ChainHead>,
}

/// One row: a sample time and the value of each exported channel at that time (in `header.channels` order; `None`
/// where a channel has no sample at that time).
///
/// Values are integers in thousandths of the channel's unit, exactly as stored: formats print them with three
/// decimals, so an export never rounds a measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    /// Unix seconds, UTC.
    pub t_s: i64,
    /// Tells apart samples of the same second (0 for the first).
    pub ordinal: i32,
    pub values_milli: Vec<Option<i64>>,
}

/// Above the upper limit or below the lower.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExcursionKind {
    Above,
    Below,
}

/// A stretch of time a channel spent outside a limit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Excursion {
    pub channel: i32,
    pub kind: ExcursionKind,
    /// First and last sample outside the limit (Unix seconds).
    pub start_s: i64,
    pub end_s: i64,
    pub duration_s: i64,
    /// The value furthest outside the limit, in the channel's unit.
    pub peak: f64,
}

/// What the XLSX summary sheet and the PDF report say about the period beyond the rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportSummary {
    /// Per exported channel (same order as `header.channels`); `None` for a channel without samples.
    pub statistics: Vec<Option<Statistics>>,
    /// The ΔH used for MKT, kJ/mol (temperature channels).
    pub mkt_delta_h: f64,
    pub excursions: Vec<Excursion>,
    /// Data integrity: blocks covering the period, and whether their chain and MACs verified when exported.
    pub n_blocks: i64,
    pub chain_verified: bool,
}

/// Formats `value_milli` (thousandths) as a decimal with exactly three places: `-1250` → `-1.250`.
pub fn format_milli(value_milli: i64) -> String {
    let sign = if value_milli < 0 { "-" } else { "" };
    let magnitude = value_milli.unsigned_abs();
    format!("{sign}{}.{:03}", magnitude / 1000, magnitude % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousandths_print_exactly_with_three_places() {
        assert_eq!(format_milli(0), "0.000");
        assert_eq!(format_milli(4125), "4.125");
        assert_eq!(format_milli(-1250), "-1.250");
        assert_eq!(format_milli(-5), "-0.005");
        assert_eq!(format_milli(i64::MIN), "-9223372036854775.808");
    }
}
