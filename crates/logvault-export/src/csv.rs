//! The streamed CSV export: RFC 4180, CRLF line ends, UTF-8 with a byte-order mark, and a signed manifest as the
//! last record.
//!
//! ```text
//! \u{feff}time_utc,temperature (°C),humidity (%RH)\r\n
//! 2026-12-01T08:00:00Z,4.125,55.000\r\n
//! 2026-12-01T08:00:00Z,4.250,\r\n          ← a second sample in the same second keeps its place
//! #logvault-manifest,<encoded SignedManifest>,\r\n
//! ```
//!
//! Why a BOM: Excel opens a CSV without one in the machine's ANSI code page, so `°C` shows as `Â°C`; with the BOM it
//! reads UTF-8, and LibreOffice, pandas (`utf-8-sig`), the `csv` crate and Python's `csv` module cope with it. The
//! separator is a comma (RFC 4180), not a locale-dependent `;`.
//!
//! The manifest record is padded with empty fields to the width of the header, so strict readers that reject ragged
//! records still read the whole file. `content_sha256` covers every byte before that record (the BOM included).
//!
//! The writer never holds the rows: the server feeds them one at a time and streams out the bytes it gets back.

use sha2::{Digest as _, Sha256};

use crate::ExportError;
use crate::manifest::{Manifest, RowsDigest, SignedManifest, SigningKey};
use crate::model::{ExportHeader, ExportRow, Format, format_milli};

/// The UTF-8 byte-order mark the CSV starts with.
pub const BOM: &[u8] = "\u{feff}".as_bytes();
/// The first field of the manifest record.
pub const MANIFEST_MARKER: &str = "#logvault-manifest";

/// A CSV export in progress: hashes what it hands out.
#[derive(Debug)]
pub struct CsvExport {
    header: ExportHeader,
    content: Sha256,
    rows: RowsDigest,
    header_written: bool,
}

impl CsvExport {
    pub fn new(header: &ExportHeader) -> CsvExport {
        CsvExport { header: header.clone(), content: Sha256::new(), rows: RowsDigest::new(), header_written: false }
    }

    /// The BOM and the column header line. Call it first; if a row or the end comes first, they carry the header.
    pub fn header_bytes(&mut self) -> Vec<u8> {
        if self.header_written {
            return Vec::new();
        }
        self.header_written = true;
        let bytes = header_line(&self.header);
        self.content.update(&bytes);
        bytes
    }

    /// One data record. A row with fewer values than the header has channels is padded with empty values, one with
    /// more is cut, so the file stays rectangular and the digest matches what is written.
    pub fn row_bytes(&mut self, row: &ExportRow) -> Vec<u8> {
        let mut bytes = self.header_bytes();
        let n_channels = self.header.channels.len();
        let values: Vec<Option<i64>> =
            (0..n_channels).map(|idx| row.values_milli.get(idx).copied().flatten()).collect();
        let mut line = format_unix_seconds(row.t_s);
        for value in &values {
            line.push(',');
            if let Some(value) = value {
                line.push_str(&format_milli(*value));
            }
        }
        line.push_str("\r\n");
        self.content.update(line.as_bytes());
        self.rows.push_values(row.t_s, &values);
        bytes.extend_from_slice(line.as_bytes());
        bytes
    }

    /// The manifest record, signed by `key`: the last bytes of the file.
    pub fn finish(mut self, key: &SigningKey) -> Result<Vec<u8>, ExportError> {
        let mut bytes = self.header_bytes();
        let content_sha256: [u8; 32] = self.content.finalize().into();
        let manifest = Manifest::new(Format::Csv, &self.header, content_sha256, self.rows, key);
        let signed = SignedManifest::sign(manifest, key)?;
        bytes.extend_from_slice(manifest_line(&signed.encode(), self.header.channels.len()).as_bytes());
        Ok(bytes)
    }
}

/// The BOM and the header line of `header`'s CSV: what a verifier expects the file to start with.
pub(crate) fn header_line(header: &ExportHeader) -> Vec<u8> {
    let mut line = String::from("time_utc");
    for channel in &header.channels {
        line.push(',');
        line.push_str(&text_cell(&format!("{} ({})", channel.name, channel.unit)));
    }
    line.push_str("\r\n");
    let mut bytes = BOM.to_vec();
    bytes.extend_from_slice(line.as_bytes());
    bytes
}

fn manifest_line(encoded: &str, n_channels: usize) -> String {
    let padding = ",".repeat(n_channels.saturating_sub(1));
    format!("{MANIFEST_MARKER},{encoded}{padding}\r\n")
}

/// A text cell, safe to open in a spreadsheet: a leading `=`, `+`, `-`, `@`, tab or CR would make Excel or
/// LibreOffice evaluate it as a formula (OWASP "CSV injection"), so such a cell gets a leading `'`, which both show
/// as text. Then quoted per RFC 4180 when it holds a comma, a quote or a line break.
pub fn text_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if guarded.contains([',', '"', '\r', '\n']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

/// `2026-12-01T08:00:00Z`. Total over `i64` (proleptic Gregorian calendar), unlike a date library with a year range,
/// so no row can make the writer fail.
pub fn format_unix_seconds(t_s: i64) -> String {
    let days = t_s.div_euclid(86_400);
    let seconds_of_day = t_s.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (seconds_of_day / 3600, seconds_of_day / 60 % 60, seconds_of_day % 60);
    let sign = if year < 0 { "-" } else { "" };
    format!("{sign}{:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z", year.unsigned_abs())
}

/// The inverse of [`format_unix_seconds`]; `None` for anything it would not have written.
pub fn parse_unix_seconds(text: &str) -> Option<i64> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (year, rest) = rest.split_once('-')?;
    let time = rest.strip_suffix('Z')?;
    let (date, time) = time.split_once('T')?;
    let (month, day) = date.split_once('-')?;
    let mut hms = time.split(':');
    let digits = |text: &str| -> Option<i64> {
        (!text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
    };
    let year = digits(year)? * if negative { -1 } else { 1 };
    let (month, day) = (digits(month)?, digits(day)?);
    let (hour, minute, second) = (digits(hms.next()?)?, digits(hms.next()?)?, digits(hms.next()?)?);
    if hms.next().is_some() || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    // In i128: the first day of i64::MIN starts before i64::MIN.
    let t_s = i64::try_from(i128::from(days) * 86_400 + i128::from(hour * 3600 + minute * 60 + second)).ok()?;
    // Round-tripping rejects every other spelling of the same instant (`02026`, day 31 of a 30-day month, …).
    (format_unix_seconds(t_s) == text).then_some(t_s)
}

/// Year, month (1–12), day (1–31) of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    // |year| ≤ |days| / 365 + 1, so it fits back into an i64.
    (year as i64, month as i64, day as i64)
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`); `None` on overflow.
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let year = i128::from(year) - i128::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i128::from(if month > 2 { month - 3 } else { month + 9 });
    let doy = (153 * mp + 2) / 5 + i128::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i64::try_from(era * 146_097 + doe - 719_468).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_iso_8601_utc_and_parse_back() {
        for (t_s, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (1_764_576_000, "2025-12-01T08:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ] {
            assert_eq!(format_unix_seconds(t_s), text);
            assert_eq!(parse_unix_seconds(text), Some(t_s));
        }
        for t_s in [i64::MIN, i64::MAX, -62_167_219_200, 253_402_300_800] {
            assert_eq!(parse_unix_seconds(&format_unix_seconds(t_s)), Some(t_s), "{t_s}");
        }
    }

    #[test]
    fn other_spellings_of_a_time_do_not_parse() {
        for text in [
            "2025-12-1T08:00:00Z",
            "02025-12-01T08:00:00Z",
            "2025-11-31T08:00:00Z",
            "2025-12-01T08:00:00",
            "2025-12-01T08:00:00+00:00",
            "2025-12-01T24:00:00Z",
            "+2025-12-01T08:00:00Z",
        ] {
            assert_eq!(parse_unix_seconds(text), None, "{text}");
        }
    }

    #[test]
    fn text_cells_that_a_spreadsheet_would_evaluate_are_defused_and_quoted() {
        assert_eq!(text_cell("temperature (°C)"), "temperature (°C)");
        assert_eq!(text_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text_cell("+1"), "'+1");
        assert_eq!(text_cell("-1"), "'-1");
        assert_eq!(text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text_cell("\tx"), "'\tx");
        assert_eq!(text_cell("\rx"), "\"'\rx\"");
        assert_eq!(text_cell("a,b"), "\"a,b\"");
    }
}
