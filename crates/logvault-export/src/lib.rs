//! Exports of a device's measurements, and the proof that comes with each.
//!
//! Three formats share one input model ([`model`]): a streamed RFC 4180 CSV, an XLSX workbook (data, summary and a
//! chart) and a PDF report a QA manager can sign off. Every export carries a [`manifest`]: the SHA-256 of the
//! exported content, the device chain heads covering the period, who made it and when, signed with the server's
//! Ed25519 key. [`verify`] checks any of the three offline.
//!
//! The crate performs no IO and knows nothing of HTTP or SQL: the server feeds it rows and writes out its bytes.

pub mod model;
pub mod pdf;

pub use model::{
    ChainHead, Excursion, ExcursionKind, ExportChannel, ExportHeader, ExportRow, Format, ReportSummary, format_milli,
};
pub use pdf::{PdfError, render_pdf};
