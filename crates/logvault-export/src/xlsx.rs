//! The XLSX export: a "Data" sheet of typed cells, a "Summary" sheet (statistics, limits, excursions, integrity), a
//! "Charts" sheet with a native line chart per channel, and the signed manifest in the ZIP archive comment.
//!
//! The comment is the last field of the ZIP end-of-central-directory record, which every ZIP reader locates by
//! scanning back from the end: the workbook still opens in Excel, LibreOffice and calamine. `content_sha256` covers
//! the file bytes before the comment's 2-byte length field, so the record itself, and everything it points at, is
//! covered.

use rust_xlsxwriter::{
    Chart, ChartType, DocProperties, ExcelDateTime, Format as CellFormat, Workbook, Worksheet, XlsxError,
};
use sha2::{Digest as _, Sha256};

use crate::ExportError;
use crate::manifest::{Manifest, SignedManifest, SigningKey, rows_digest};
use crate::model::{ExcursionKind, ExportHeader, ExportRow, Format, ReportSummary};

/// The sheet holding the rows, the one a verifier reads back.
pub const DATA_SHEET: &str = "Data";
pub const SUMMARY_SHEET: &str = "Summary";
pub const CHARTS_SHEET: &str = "Charts";
/// The number format of time cells (shown in UTC: Excel has no time zones, the header says so).
pub const TIME_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";
pub const VALUE_FORMAT: &str = "0.000";

/// Excel's last row index, so the data plus its header row fit.
const MAX_DATA_ROWS: usize = 1_048_575;
/// The size of the ZIP end-of-central-directory record without its comment.
pub(crate) const EOCD_LEN: usize = 22;
pub(crate) const EOCD_SIGNATURE: &[u8; 4] = b"PK\x05\x06";

/// The signed workbook of `header`'s export.
pub fn xlsx(
    header: &ExportHeader,
    rows: &[ExportRow],
    summary: &ReportSummary,
    key: &SigningKey,
) -> Result<Vec<u8>, ExportError> {
    if rows.len() > MAX_DATA_ROWS {
        return Err(ExportError::Xlsx(format!("{} rows do not fit in a sheet ({MAX_DATA_ROWS} at most)", rows.len())));
    }
    for (row_idx, row) in rows.iter().enumerate() {
        if row.values_milli.len() != header.channels.len() {
            return Err(ExportError::RowShape {
                row_idx,
                n_values: row.values_milli.len(),
                n_channels: header.channels.len(),
            });
        }
    }
    let fingerprint = key.public_key().fingerprint();
    let unsigned =
        workbook(header, rows, summary, &fingerprint).map_err(|error| ExportError::Xlsx(error.to_string()))?;
    sign_zip(unsigned, header, rows, key)
}

/// The `(column title)` of each channel: `temperature (°C)`.
pub(crate) fn channel_title(name: &str, unit: &str) -> String {
    format!("{name} ({unit})")
}

fn workbook(
    header: &ExportHeader,
    rows: &[ExportRow],
    summary: &ReportSummary,
    key_fingerprint: &str,
) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    // A fixed creation time (the export's) rather than the clock, so the same export gives the same bytes.
    let generated_at = excel_time(header.generated_at.unix_timestamp())?;
    workbook.set_properties(
        &DocProperties::new()
            .set_title(format!("Logvault export {}", header.serial))
            .set_author("Logvault")
            .set_creation_datetime(&generated_at),
    );
    let bold = CellFormat::new().set_bold();
    let time_format = CellFormat::new().set_num_format(TIME_FORMAT);
    let value_format = CellFormat::new().set_num_format(VALUE_FORMAT);

    let data = workbook.add_worksheet();
    data.set_name(DATA_SHEET)?;
    write_data(data, header, rows, &bold, &time_format, &value_format)?;

    let summary_sheet = workbook.add_worksheet();
    summary_sheet.set_name(SUMMARY_SHEET)?;
    write_summary(summary_sheet, header, summary, key_fingerprint, &bold, &time_format, &value_format)?;

    if !rows.is_empty() {
        let charts = workbook.add_worksheet();
        charts.set_name(CHARTS_SHEET)?;
        write_charts(charts, header, rows.len())?;
    }
    workbook.save_to_buffer()
}

fn write_data(
    sheet: &mut Worksheet,
    header: &ExportHeader,
    rows: &[ExportRow],
    bold: &CellFormat,
    time_format: &CellFormat,
    value_format: &CellFormat,
) -> Result<(), XlsxError> {
    sheet.write_string_with_format(0, 0, "time_utc", bold)?;
    sheet.set_column_width(0, 20)?;
    for (col, channel) in (1u16..).zip(&header.channels) {
        sheet.write_string_with_format(0, col, channel_title(&channel.name, &channel.unit), bold)?;
        sheet.set_column_width(col, 18)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (row_num, row) in (1u32..).zip(rows) {
        sheet.write_datetime_with_format(row_num, 0, excel_time(row.t_s)?, time_format)?;
        for (col, value) in (1u16..).zip(&row.values_milli) {
            if let Some(value) = value {
                // Exact for |value| < 2^53 thousandths, far beyond any sensor.
                sheet.write_number_with_format(row_num, col, *value as f64 / 1000.0, value_format)?;
            }
        }
    }
    Ok(())
}

fn write_summary(
    sheet: &mut Worksheet,
    header: &ExportHeader,
    summary: &ReportSummary,
    key_fingerprint: &str,
    bold: &CellFormat,
    time_format: &CellFormat,
    value_format: &CellFormat,
) -> Result<(), XlsxError> {
    sheet.set_column_width(0, 24)?;
    for col in 1..=10 {
        sheet.set_column_width(col, 16)?;
    }
    let mut row = 0u32;
    let label = |sheet: &mut Worksheet, row: &mut u32, name: &str, value: &str| -> Result<(), XlsxError> {
        sheet.write_string_with_format(*row, 0, name, bold)?;
        sheet.write_string(*row, 1, value)?;
        *row += 1;
        Ok(())
    };
    label(sheet, &mut row, "Device", &format!("{} ({})", header.device_name, header.serial))?;
    label(sheet, &mut row, "Organisation", &header.organisation)?;
    label(sheet, &mut row, "Site", header.site.as_deref().unwrap_or("—"))?;
    sheet.write_string_with_format(row, 0, "Period from (UTC)", bold)?;
    sheet.write_datetime_with_format(row, 1, excel_time(header.from.unix_timestamp())?, time_format)?;
    row += 1;
    sheet.write_string_with_format(row, 0, "Period to (UTC, excluded)", bold)?;
    sheet.write_datetime_with_format(row, 1, excel_time(header.to.unix_timestamp())?, time_format)?;
    row += 1;
    sheet.write_string_with_format(row, 0, "Generated at (UTC)", bold)?;
    sheet.write_datetime_with_format(row, 1, excel_time(header.generated_at.unix_timestamp())?, time_format)?;
    row += 1;
    label(sheet, &mut row, "Generated by", &header.generated_by)?;
    row += 1;

    sheet.write_string_with_format(row, 0, "Statistics", bold)?;
    row += 1;
    let columns = [
        "Channel",
        "Unit",
        "Lower limit",
        "Upper limit",
        "Samples",
        "Minimum",
        "Maximum",
        "Mean (time-weighted)",
        "MKT",
        "Hours above",
        "Hours below",
    ];
    for (col, title) in (0u16..).zip(columns) {
        sheet.write_string_with_format(row, col, title, bold)?;
    }
    row += 1;
    for (idx, channel) in header.channels.iter().enumerate() {
        sheet.write_string(row, 0, &channel.name)?;
        sheet.write_string(row, 1, &channel.unit)?;
        let number = |sheet: &mut Worksheet, col: u16, value: Option<f64>| -> Result<(), XlsxError> {
            match value {
                Some(value) if value.is_finite() => {
                    sheet.write_number_with_format(row, col, value, value_format)?;
                }
                _ => {
                    sheet.write_string(row, col, "—")?;
                }
            }
            Ok(())
        };
        number(sheet, 2, channel.lower)?;
        number(sheet, 3, channel.upper)?;
        match summary.statistics.get(idx).and_then(Option::as_ref) {
            Some(statistics) => {
                sheet.write_number(row, 4, statistics.count as f64)?;
                number(sheet, 5, Some(statistics.min))?;
                number(sheet, 6, Some(statistics.max))?;
                number(sheet, 7, Some(statistics.mean))?;
                number(sheet, 8, statistics.mkt)?;
                number(sheet, 9, statistics.seconds_above.map(|s| s / 3600.0))?;
                number(sheet, 10, statistics.seconds_below.map(|s| s / 3600.0))?;
            }
            None => {
                sheet.write_string(row, 4, "no samples")?;
            }
        }
        row += 1;
    }
    sheet.write_string(row, 0, format!("MKT with ΔH = {} kJ/mol", summary.mkt_delta_h))?;
    row += 2;

    sheet.write_string_with_format(row, 0, "Excursions", bold)?;
    row += 1;
    if summary.excursions.is_empty() {
        sheet.write_string(row, 0, "none")?;
        row += 1;
    } else {
        for (col, title) in (0u16..).zip(["Channel", "Kind", "Start (UTC)", "End (UTC)", "Duration (s)", "Peak"]) {
            sheet.write_string_with_format(row, col, title, bold)?;
        }
        row += 1;
        for excursion in &summary.excursions {
            let name = header
                .channels
                .iter()
                .find(|channel| channel.index == excursion.channel)
                .map_or_else(|| format!("channel {}", excursion.channel), |channel| channel.name.clone());
            sheet.write_string(row, 0, name)?;
            sheet.write_string(
                row,
                1,
                match excursion.kind {
                    ExcursionKind::Above => "above upper limit",
                    ExcursionKind::Below => "below lower limit",
                },
            )?;
            sheet.write_datetime_with_format(row, 2, excel_time(excursion.start_s)?, time_format)?;
            sheet.write_datetime_with_format(row, 3, excel_time(excursion.end_s)?, time_format)?;
            sheet.write_number(row, 4, excursion.duration_s as f64)?;
            if excursion.peak.is_finite() {
                sheet.write_number_with_format(row, 5, excursion.peak, value_format)?;
            }
            row += 1;
        }
    }
    row += 1;

    sheet.write_string_with_format(row, 0, "Integrity", bold)?;
    row += 1;
    label(sheet, &mut row, "Blocks", &summary.n_blocks.to_string())?;
    label(sheet, &mut row, "Chain verified", if summary.chain_verified { "yes" } else { "NO" })?;
    for head in &header.chain_heads {
        label(sheet, &mut row, "Chain head", &format!("{} #{} {}", head.serial, head.seq, head.block_hash))?;
    }
    label(sheet, &mut row, "Signing key fingerprint", key_fingerprint)?;
    label(
        sheet,
        &mut row,
        "Signature",
        "Ed25519 manifest in the file's ZIP comment; check with `logvault verify-export`",
    )?;
    Ok(())
}

/// One line chart per channel (their units differ, so one chart each rather than one with two scales).
fn write_charts(sheet: &mut Worksheet, header: &ExportHeader, n_rows: usize) -> Result<(), XlsxError> {
    let last_row = n_rows as u32;
    for (idx, (col, channel)) in (1u16..).zip(&header.channels).enumerate() {
        // rust_xlsxwriter reads a chart name that starts with `=` as a cell reference: a device's channel name must
        // stay a name.
        let title = channel_title(&channel.name, &channel.unit).trim_start_matches('=').to_owned();
        let unit = channel.unit.trim_start_matches('=').to_owned();
        let mut chart = Chart::new(ChartType::Line);
        chart.title().set_name(&title);
        chart
            .add_series()
            .set_name(&title)
            .set_categories((DATA_SHEET, 1, 0, last_row, 0))
            .set_values((DATA_SHEET, 1, col, last_row, col));
        // A text category axis, not a date axis: Excel's date axis counts in whole days at the finest, which would
        // stack a day's samples on one point. The categories show the Data sheet's UTC times.
        chart.x_axis().set_name("UTC");
        chart.y_axis().set_name(&unit);
        chart.legend().set_hidden();
        chart.set_width(900).set_height(360);
        sheet.insert_chart(idx as u32 * 20, 0, &chart)?;
    }
    Ok(())
}

fn excel_time(t_s: i64) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_timestamp(t_s)
}

/// Puts the signed manifest in the ZIP comment of `zip` (a workbook written without one).
fn sign_zip(
    mut zip: Vec<u8>,
    header: &ExportHeader,
    rows: &[ExportRow],
    key: &SigningKey,
) -> Result<Vec<u8>, ExportError> {
    let eocd_idx = zip.len().checked_sub(EOCD_LEN).ok_or(ExportError::NotSignable("not a ZIP archive"))?;
    if &zip[eocd_idx..eocd_idx + 4] != EOCD_SIGNATURE || zip[zip.len() - 2..] != [0, 0] {
        return Err(ExportError::NotSignable("the workbook does not end with a comment-less ZIP end record"));
    }
    let comment_len_idx = zip.len() - 2;
    let content_sha256: [u8; 32] = Sha256::digest(&zip[..comment_len_idx]).into();
    let manifest = Manifest::new(Format::Xlsx, header, content_sha256, rows_digest(rows), key);
    let encoded = SignedManifest::sign(manifest, key)?.encode();
    let comment_len = u16::try_from(encoded.len())
        .map_err(|_| ExportError::NotSignable("the manifest is too long for a ZIP comment"))?;
    zip.truncate(comment_len_idx);
    zip.extend_from_slice(&comment_len.to_le_bytes());
    zip.extend_from_slice(encoded.as_bytes());
    Ok(zip)
}
