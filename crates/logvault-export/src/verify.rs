//! Offline verification of an export: finds the manifest, checks its Ed25519 signature and its key, and recomputes
//! the hashes of the content and of the rows.
//!
//! The format is told by the first bytes: `%PDF` is a PDF, `PK\x03\x04` a workbook, anything else is read as CSV.
//! Every input is hostile until proven otherwise, so nothing here panics, and the workbook's XML is only parsed (by
//! calamine) once its bytes matched the signed `content_sha256`: a forged archive never reaches the XML parser.

use std::io::Cursor;

use calamine::{Data, Reader as _, Xlsx};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::csv::{MANIFEST_MARKER, header_line, parse_unix_seconds};
use crate::manifest::{ManifestError, PDF_MANIFEST_MARKER, PublicKey, RowsDigest, SignedManifest};
use crate::model::{ChainHead, ExportHeader, Format, format_milli};
use crate::xlsx::{DATA_SHEET, EOCD_LEN, EOCD_SIGNATURE, channel_title};

/// Which key vouched for the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTrust {
    /// The key the caller expected (the server's published key).
    Expected,
    /// Only the key the export names itself: proves integrity, not origin. The CLI warns then.
    EmbeddedOnly,
}

/// What a verified export is.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub format: Format,
    pub serial: String,
    pub device_name: String,
    pub organisation: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub n_rows: u64,
    pub chain_heads: Vec<ChainHead>,
    pub public_key: PublicKey,
    pub key_fingerprint: String,
    pub key_trust: KeyTrust,
    /// Whether the rows were read back and matched `rows_sha256` (CSV and XLSX); a PDF is checked by its bytes only.
    pub rows_checked: bool,
    /// The whole signed header (site, channels, generated at/by).
    pub header: ExportHeader,
}

/// Why an export does not verify. The messages are meant for the person running `verify-export`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no Logvault manifest in this file (read as {})", .0.as_str())]
    NoManifest(Format),
    #[error("the manifest is malformed: {0}")]
    MalformedManifest(String),
    #[error("the manifest has version {0}, this verifier reads version 1")]
    UnsupportedVersion(u32),
    #[error("the manifest describes a {} export but the file is a {}", .manifest.as_str(), .file.as_str())]
    FormatMismatch { manifest: Format, file: Format },
    #[error("the signature does not match the manifest: the manifest or the signature was changed")]
    BadSignature,
    #[error("signed by another key (fingerprint {found}), not by the expected key (fingerprint {expected})")]
    OtherKey { expected: String, found: String },
    #[error("there are bytes after the manifest, which the signature does not cover")]
    TrailingData,
    #[error("the content was changed after signing (SHA-256 differs from the manifest)")]
    ContentChanged,
    #[error("the rows were changed after signing: {0}")]
    RowsChanged(String),
}

/// Verifies `bytes` as an export, against `expected` when given (else only against the key it names itself).
pub fn verify_export(bytes: &[u8], expected: Option<&PublicKey>) -> Result<Verified, VerifyError> {
    let format = detect_format(bytes);
    let (content, encoded, trailer) = match format {
        Format::Csv => split_csv(bytes),
        Format::Xlsx => split_xlsx(bytes),
        Format::Pdf => split_pdf(bytes),
    }
    .ok_or(VerifyError::NoManifest(format))?;
    let encoded = std::str::from_utf8(encoded).map_err(|_| VerifyError::MalformedManifest("not text".to_owned()))?;
    let signed = SignedManifest::decode(encoded).map_err(|error| match error {
        ManifestError::UnsupportedVersion(version) => VerifyError::UnsupportedVersion(version),
        other => VerifyError::MalformedManifest(other.to_string()),
    })?;
    let manifest = &signed.manifest;
    if manifest.format != format {
        return Err(VerifyError::FormatMismatch { manifest: manifest.format, file: format });
    }
    let public_key = signed
        .verify_signature()
        .map_err(|error| VerifyError::MalformedManifest(error.to_string()))?
        .ok_or(VerifyError::BadSignature)?;
    // Nothing unsigned may follow the manifest: a reader would take it for part of the export.
    if trailer != expected_trailer(format, &manifest.header) {
        return Err(VerifyError::TrailingData);
    }
    let key_trust = match expected {
        Some(expected) if *expected != public_key => {
            return Err(VerifyError::OtherKey { expected: expected.fingerprint(), found: public_key.fingerprint() });
        }
        Some(_) => KeyTrust::Expected,
        None => KeyTrust::EmbeddedOnly,
    };

    let content_matches = hex::encode(Sha256::digest(content)) == manifest.content_sha256;
    let check_rows = |rows: Result<(String, u64), String>| -> Result<(), VerifyError> {
        let (rows_sha256, n_rows) = rows.map_err(VerifyError::RowsChanged)?;
        if n_rows != manifest.n_rows {
            return Err(VerifyError::RowsChanged(format!(
                "the file has {n_rows} rows, the manifest says {}",
                manifest.n_rows
            )));
        }
        if rows_sha256 != manifest.rows_sha256 {
            return Err(VerifyError::RowsChanged("a time or a value differs from the signed rows".to_owned()));
        }
        Ok(())
    };
    let rows_checked = match format {
        Format::Csv => {
            // The CSV reader is ours and strict, so it may read changed content: saying which rows changed is more
            // useful than only "the bytes differ".
            let rows = csv_rows(content, &manifest.header);
            if rows.is_ok() || content_matches {
                check_rows(rows)?;
            }
            if !content_matches {
                return Err(VerifyError::ContentChanged);
            }
            true
        }
        Format::Xlsx => {
            if !content_matches {
                return Err(VerifyError::ContentChanged);
            }
            check_rows(xlsx_rows(bytes, &manifest.header))?;
            true
        }
        Format::Pdf => {
            if !content_matches {
                return Err(VerifyError::ContentChanged);
            }
            false
        }
    };

    let header = manifest.header.clone();
    Ok(Verified {
        format,
        serial: header.serial.clone(),
        device_name: header.device_name.clone(),
        organisation: header.organisation.clone(),
        from: header.from,
        to: header.to,
        n_rows: manifest.n_rows,
        chain_heads: header.chain_heads.clone(),
        key_fingerprint: public_key.fingerprint(),
        public_key,
        key_trust,
        rows_checked,
        header,
    })
}

fn detect_format(bytes: &[u8]) -> Format {
    if bytes.starts_with(b"%PDF") {
        Format::Pdf
    } else if bytes.starts_with(b"PK\x03\x04") {
        Format::Xlsx
    } else {
        Format::Csv
    }
}

/// An export cut in three: the signed content, the encoded manifest, and what follows the manifest (which must be
/// exactly what the writer puts there, see [`expected_trailer`]).
type Parts<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// The parts of a CSV: the manifest record starts a line with the marker.
fn split_csv(bytes: &[u8]) -> Option<Parts<'_>> {
    let marker = format!("\n{MANIFEST_MARKER},");
    let marker_idx = bytes.windows(marker.len()).rposition(|window| window == marker.as_bytes())?;
    let (content, record) = bytes.split_at(marker_idx + 1);
    let rest = &record[marker.len() - 1..];
    let encoded_len = rest.iter().position(|b| matches!(b, b',' | b'\r' | b'\n')).unwrap_or(rest.len());
    let (encoded, trailer) = rest.split_at(encoded_len);
    Some((content, encoded, trailer))
}

/// The parts of a ZIP archive: the content up to the comment length field, the comment, nothing after.
fn split_xlsx(bytes: &[u8]) -> Option<Parts<'_>> {
    let last_start = bytes.len().checked_sub(EOCD_LEN)?;
    // The comment is at most 65,535 bytes, so the record starts within that distance of the end.
    let first_start = last_start.saturating_sub(usize::from(u16::MAX));
    (first_start..=last_start).rev().find_map(|eocd_idx| {
        let record = &bytes[eocd_idx..];
        let comment_len = usize::from(u16::from_le_bytes([record[20], record[21]]));
        (record.starts_with(EOCD_SIGNATURE) && record.len() == EOCD_LEN + comment_len && comment_len > 0)
            .then(|| (&bytes[..eocd_idx + 20], &record[EOCD_LEN..], &record[record.len()..]))
    })
}

/// The parts of a PDF: the manifest comment line after the final `%%EOF`.
fn split_pdf(bytes: &[u8]) -> Option<Parts<'_>> {
    let marker_idx = bytes.windows(PDF_MANIFEST_MARKER.len()).rposition(|window| window == PDF_MANIFEST_MARKER)?;
    let (content, record) = bytes.split_at(marker_idx);
    let rest = &record[PDF_MANIFEST_MARKER.len()..];
    let encoded_len = rest.iter().position(|b| matches!(b, b'\r' | b'\n')).unwrap_or(rest.len());
    let (encoded, trailer) = rest.split_at(encoded_len);
    Some((content, encoded, trailer))
}

/// What the writer puts after the manifest: the CSV record's padding and CRLF, the PDF's last line end.
fn expected_trailer(format: Format, header: &ExportHeader) -> Vec<u8> {
    match format {
        Format::Csv => [",".repeat(header.channels.len().saturating_sub(1)).as_bytes(), b"\r\n"].concat(),
        Format::Xlsx => Vec::new(),
        Format::Pdf => b"\n".to_vec(),
    }
}

/// Reads the rows of a CSV's signed content back: its header must be the one the manifest's channels give, and
/// every record a time and one value per channel, each written exactly as the exporter writes them.
fn csv_rows(content: &[u8], header: &ExportHeader) -> Result<(String, u64), String> {
    let expected_header = header_line(header);
    let body = content.strip_prefix(expected_header.as_slice()).ok_or("the column header line differs")?;
    let body = std::str::from_utf8(body).map_err(|_| "the rows are not UTF-8")?;
    let n_channels = header.channels.len();
    let mut digest = RowsDigest::new();
    if !body.is_empty() {
        let body = body.strip_suffix("\r\n").ok_or("the last row does not end with CRLF")?;
        for (line_idx, line) in body.split("\r\n").enumerate() {
            let row_num = line_idx + 1;
            let mut fields = line.split(',');
            let t_s = fields
                .next()
                .and_then(parse_unix_seconds)
                .ok_or_else(|| format!("row {row_num} has no valid UTC time"))?;
            let values = fields
                .map(|field| parse_value(field).ok_or_else(|| format!("row {row_num} has an invalid value")))
                .collect::<Result<Vec<_>, _>>()?;
            if values.len() != n_channels {
                return Err(format!("row {row_num} has {} values for {n_channels} channels", values.len()));
            }
            digest.push_values(t_s, &values);
        }
    }
    Ok(digest.finish())
}

/// `""` → no value, `-1.250` → `Some(-1250)`; `None` for anything [`format_milli`] would not have written.
fn parse_value(field: &str) -> Option<Option<i64>> {
    if field.is_empty() {
        return Some(None);
    }
    let (negative, digits) = match field.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, field),
    };
    let (whole, fraction) = digits.split_once('.')?;
    if whole.is_empty() || fraction.len() != 3 || !(whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let magnitude = whole.parse::<i128>().ok()? * 1000 + fraction.parse::<i128>().ok()?;
    let value = i64::try_from(if negative { -magnitude } else { magnitude }).ok()?;
    (format_milli(value) == field).then_some(Some(value))
}

/// Reads the Data sheet of a workbook back (only called on bytes whose hash matched the signed manifest).
fn xlsx_rows(bytes: &[u8], header: &ExportHeader) -> Result<(String, u64), String> {
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|error| format!("the workbook cannot be read: {error}"))?;
    let range = workbook.worksheet_range(DATA_SHEET).map_err(|error| format!("no {DATA_SHEET} sheet: {error}"))?;
    let n_channels = header.channels.len();
    let mut rows = range.rows();
    let titles = rows.next().ok_or("the data sheet is empty")?;
    let expected_titles = std::iter::once("time_utc".to_owned())
        .chain(header.channels.iter().map(|channel| channel_title(&channel.name, &channel.unit)));
    let titles_match = titles.len() == n_channels + 1
        && titles.iter().zip(expected_titles).all(|(cell, title)| matches!(cell, Data::String(text) if *text == title));
    if !titles_match || range.start() != Some((0, 0)) {
        return Err("the column titles differ".to_owned());
    }
    let mut digest = RowsDigest::new();
    for (row_idx, cells) in rows.enumerate() {
        let row_num = row_idx + 1;
        let t_s = cells.first().and_then(cell_unix_seconds).ok_or_else(|| format!("row {row_num} has no time"))?;
        let values = cells[1..]
            .iter()
            .map(|cell| cell_milli(cell).ok_or_else(|| format!("row {row_num} has an invalid value")))
            .collect::<Result<Vec<_>, _>>()?;
        digest.push_values(t_s, &values);
    }
    Ok(digest.finish())
}

/// An Excel serial date-time (days since 1899-12-30) as Unix seconds.
fn cell_unix_seconds(cell: &Data) -> Option<i64> {
    let serial = match cell {
        Data::DateTime(datetime) => datetime.as_f64(),
        Data::Float(serial) => *serial,
        _ => return None,
    };
    let t_s = ((serial - 25_569.0) * 86_400.0).round();
    // Excel's date range (1900–9999) is far inside i64; anything else is not a time this exporter wrote.
    (t_s.is_finite() && t_s.abs() < 1e12).then_some(t_s as i64)
}

fn cell_milli(cell: &Data) -> Option<Option<i64>> {
    match cell {
        Data::Empty => Some(None),
        Data::Float(value) => {
            let milli = (value * 1000.0).round();
            (milli.is_finite() && milli.abs() < 9.0e15).then_some(Some(milli as i64))
        }
        Data::Int(value) => value.checked_mul(1000).map(Some),
        _ => None,
    }
}
