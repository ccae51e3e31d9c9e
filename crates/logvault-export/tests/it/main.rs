//! Integration tests of logvault-export: each format written, read back with a real reader, and verified offline.

#![allow(clippy::unwrap_used, reason = "in a test, a failing unwrap is a failing assertion")]

mod csv;
mod manifest;
mod pdf;
mod verify;
mod xlsx;

use logvault_core::stats::{Options, statistics};
use logvault_export::{
    ChainHead, Excursion, ExcursionKind, ExportChannel, ExportHeader, ExportRow, ReportSummary, SigningKey,
};
use time::macros::datetime;

/// The server's key in these tests (a fixed seed, so outputs are reproducible).
pub fn server_key() -> SigningKey {
    SigningKey::from_seed(&[7u8; 32]).expect("a 32-byte seed is a key")
}

/// Another server's key.
pub fn other_key() -> SigningKey {
    SigningKey::from_seed(&[9u8; 32]).expect("a 32-byte seed is a key")
}

pub fn header() -> ExportHeader {
    ExportHeader {
        serial: "LV-000123".to_owned(),
        device_name: "Cold room 2".to_owned(),
        organisation: "Acme Pharma".to_owned(),
        site: Some("Basel".to_owned()),
        from: datetime!(2026-12-01 08:00 UTC),
        to: datetime!(2026-12-01 09:00 UTC),
        channels: vec![
            ExportChannel {
                index: 0,
                name: "temperature".to_owned(),
                unit: "°C".to_owned(),
                lower: Some(2.0),
                upper: Some(8.0),
            },
            ExportChannel {
                index: 1,
                name: "humidity".to_owned(),
                unit: "%RH".to_owned(),
                lower: None,
                upper: Some(60.0),
            },
        ],
        generated_at: datetime!(2026-12-02 10:30:15 UTC),
        generated_by: "Quality Manager (user:42)".to_owned(),
        chain_heads: vec![ChainHead { serial: "LV-000123".to_owned(), seq: 17, block_hash: "ab".repeat(32) }],
    }
}

/// 2026-12-01T08:00:00Z.
pub const T0: i64 = 1_796_112_000;

/// Four rows: two in the same second, a missing humidity, a negative temperature.
pub fn rows() -> Vec<ExportRow> {
    vec![
        ExportRow { t_s: T0, ordinal: 0, values_milli: vec![Some(4125), Some(55_000)] },
        ExportRow { t_s: T0, ordinal: 1, values_milli: vec![Some(4250), None] },
        ExportRow { t_s: T0 + 600, ordinal: 0, values_milli: vec![Some(8_500), Some(54_250)] },
        ExportRow { t_s: T0 + 1200, ordinal: 0, values_milli: vec![Some(-1_250), Some(53_005)] },
    ]
}

pub fn summary() -> ReportSummary {
    let rows = rows();
    let header = header();
    let statistics = (0..header.channels.len())
        .map(|idx| {
            let samples: Vec<(i64, f64)> = rows
                .iter()
                .filter_map(|row| row.values_milli[idx].map(|value| (row.t_s, value as f64 / 1000.0)))
                .collect();
            let channel = &header.channels[idx];
            statistics(
                &samples,
                Options {
                    lower: channel.lower,
                    upper: channel.upper,
                    mkt_delta_h: (idx == 0).then_some(logvault_core::stats::DEFAULT_DELTA_H_KJ_PER_MOL),
                },
            )
        })
        .collect();
    ReportSummary {
        statistics,
        mkt_delta_h: logvault_core::stats::DEFAULT_DELTA_H_KJ_PER_MOL,
        excursions: vec![Excursion {
            channel: 0,
            kind: ExcursionKind::Above,
            start_s: T0 + 600,
            end_s: T0 + 600,
            duration_s: 600,
            peak: 8.5,
        }],
        n_blocks: 3,
        chain_verified: true,
    }
}

/// The whole CSV export of the fixture, as the server would stream it.
pub fn csv_export(key: &SigningKey) -> Vec<u8> {
    let mut export = logvault_export::CsvExport::new(&header());
    let mut bytes = export.header_bytes();
    for row in rows() {
        bytes.extend(export.row_bytes(&row));
    }
    bytes.extend(export.finish(key).expect("the fixture signs"));
    bytes
}

pub fn xlsx_export(key: &SigningKey) -> Vec<u8> {
    logvault_export::xlsx(&header(), &rows(), &summary(), key).expect("the fixture makes a workbook")
}

/// A tiny, valid one-page PDF (hand-written, cross-reference offsets correct), standing in for the PDF renderer.
pub fn tiny_pdf() -> Vec<u8> {
    let objects = [
        "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
        "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n",
        "3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n",
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for object in objects {
        offsets.push(pdf.len());
        pdf.extend_from_slice(object.as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(b"xref\n0 4\n0000000000 65535 f \n");
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(format!("trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    pdf
}
