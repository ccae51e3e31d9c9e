//! The CSV export: exact bytes, read back by the `csv` crate, formula-injection guards.

use logvault_export::{CsvExport, ExportChannel, ExportRow, SignedManifest, verify_export};
use sha2::{Digest as _, Sha256};

use crate::{T0, csv_export, header, rows, server_key};

/// Splits a CSV export into its signed content and its manifest record.
fn content_and_manifest(bytes: &[u8]) -> (&[u8], &str) {
    let marker = b"\r\n#logvault-manifest,";
    let idx = bytes.windows(marker.len()).rposition(|w| w == marker).expect("a manifest record") + 2;
    (&bytes[..idx], std::str::from_utf8(&bytes[idx..]).expect("the manifest record is text"))
}

#[test]
fn the_csv_is_the_bom_a_header_line_the_rows_and_one_manifest_record() {
    let bytes = csv_export(&server_key());
    let (content, record) = content_and_manifest(&bytes);
    let expected = "\u{feff}time_utc,temperature (°C),humidity (%RH)\r\n\
                    2026-12-01T08:00:00Z,4.125,55.000\r\n\
                    2026-12-01T08:00:00Z,4.250,\r\n\
                    2026-12-01T08:10:00Z,8.500,54.250\r\n\
                    2026-12-01T08:20:00Z,-1.250,53.005\r\n";
    assert_eq!(std::str::from_utf8(content).unwrap(), expected);

    // `#logvault-manifest,<token>,` + CRLF: padded to the three columns of the header.
    let token = record.strip_prefix("#logvault-manifest,").unwrap().strip_suffix(",\r\n").unwrap();
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{token}");
    let signed = SignedManifest::decode(token).unwrap();
    let manifest = &signed.manifest;
    assert_eq!(manifest.version, 1);
    assert_eq!(manifest.format, logvault_export::Format::Csv);
    assert_eq!(manifest.n_rows, 4);
    assert_eq!(manifest.header, header());
    assert_eq!(manifest.public_key, server_key().public_key().to_base64());
    assert_eq!(manifest.content_sha256, hex::encode(Sha256::digest(content)));
    let canonical_rows =
        "1796112000,0,4125,55000\n1796112000,1,4250,\n1796112600,0,8500,54250\n1796113200,0,-1250,53005\n";
    assert_eq!(manifest.rows_sha256, hex::encode(Sha256::digest(canonical_rows)));
    assert_eq!(signed.verify_signature().unwrap(), Some(server_key().public_key()));
}

#[test]
fn the_same_export_gives_the_same_bytes() {
    assert_eq!(csv_export(&server_key()), csv_export(&server_key()));
}

#[test]
fn the_csv_crate_reads_every_record_with_the_header_width() {
    let bytes = csv_export(&server_key());
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    assert_eq!(reader.headers().unwrap(), vec!["time_utc", "temperature (°C)", "humidity (%RH)"]);
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].iter().collect::<Vec<_>>(), ["2026-12-01T08:00:00Z", "4.125", "55.000"]);
    assert_eq!(records[1].iter().collect::<Vec<_>>(), ["2026-12-01T08:00:00Z", "4.250", ""]);
    assert_eq!(&records[3][1], "-1.250");
    assert_eq!(&records[4][0], "#logvault-manifest");
    assert_eq!(&records[4][2], "");
}

#[test]
fn channel_names_a_spreadsheet_would_evaluate_are_defused_and_the_export_still_verifies() {
    let mut header = header();
    header.channels = vec![
        ExportChannel {
            index: 0,
            name: "=HYPERLINK(\"http://x\",\"y\")".to_owned(),
            unit: "°C".to_owned(),
            lower: None,
            upper: None,
        },
        ExportChannel { index: 1, name: "@SUM(A1)".to_owned(), unit: "%".to_owned(), lower: None, upper: None },
        ExportChannel { index: 2, name: "-2+3".to_owned(), unit: "x".to_owned(), lower: None, upper: None },
    ];
    let mut export = CsvExport::new(&header);
    let mut bytes = export.header_bytes();
    bytes.extend(export.row_bytes(&ExportRow { t_s: T0, ordinal: 0, values_milli: vec![Some(1), Some(2), Some(3)] }));
    bytes.extend(export.finish(&server_key()).unwrap());

    let first_line = std::str::from_utf8(&bytes).unwrap().lines().next().unwrap().to_owned();
    assert_eq!(first_line, "\u{feff}time_utc,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\") (°C)\",'@SUM(A1) (%),'-2+3 (x)");
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let titles: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(titles[1], "'=HYPERLINK(\"http://x\",\"y\") (°C)");
    assert!(titles.iter().all(|title| !title.starts_with(['=', '+', '-', '@'])));
    verify_export(&bytes, Some(&server_key().public_key())).unwrap();
}

#[test]
fn rows_streamed_before_the_header_call_still_start_with_the_header() {
    let mut export = CsvExport::new(&header());
    let mut bytes = Vec::new();
    for row in rows() {
        bytes.extend(export.row_bytes(&row));
    }
    assert!(export.header_bytes().is_empty(), "the header went out with the first row");
    bytes.extend(export.finish(&server_key()).unwrap());
    assert_eq!(bytes, csv_export(&server_key()));
}

#[test]
fn an_empty_period_is_a_header_and_a_manifest_that_verify() {
    let export = CsvExport::new(&header());
    let bytes = export.finish(&server_key()).unwrap();
    assert!(bytes.starts_with("\u{feff}time_utc,temperature (°C),humidity (%RH)\r\n#logvault-manifest,".as_bytes()));
    let verified = verify_export(&bytes, Some(&server_key().public_key())).unwrap();
    assert_eq!(verified.n_rows, 0);
}

#[test]
fn a_row_with_the_wrong_number_of_values_is_written_rectangular() {
    let mut export = CsvExport::new(&header());
    let mut bytes = export.header_bytes();
    bytes.extend(export.row_bytes(&ExportRow { t_s: T0, ordinal: 0, values_milli: vec![Some(1)] }));
    bytes.extend(export.row_bytes(&ExportRow {
        t_s: T0 + 1,
        ordinal: 0,
        values_milli: vec![Some(1), Some(2), Some(3)],
    }));
    bytes.extend(export.finish(&server_key()).unwrap());
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.contains("\r\n2026-12-01T08:00:00Z,0.001,\r\n2026-12-01T08:00:01Z,0.001,0.002\r\n"), "{text}");
    verify_export(&bytes, Some(&server_key().public_key())).unwrap();
}
