//! Exports of a device's measurements, and the proof that comes with each.
//!
//! Three formats share one input model ([`model`]): a streamed RFC 4180 CSV, an XLSX workbook (data, summary and a
//! chart) and a PDF report a QA manager can sign off. Every export carries a [`manifest`]: the SHA-256 of the
//! exported content, the device chain heads covering the period, who made it and when, signed with the server's
//! Ed25519 key. [`verify`] checks any of the three offline.
//!
//! The crate performs no IO and knows nothing of HTTP or SQL: the server feeds it rows and writes out its bytes.

pub mod csv;
pub mod manifest;
pub mod model;
pub mod pdf;
pub mod summary;
pub mod verify;
pub mod xlsx;

pub use csv::CsvExport;
pub use manifest::{Manifest, ManifestError, PublicKey, SignedManifest, SigningKey, sign_pdf};
pub use model::{
    ChainHead, Excursion, ExcursionKind, ExportChannel, ExportHeader, ExportRow, Format, ReportSummary, format_milli,
};
pub use pdf::{PdfError, render_pdf};
pub use verify::{KeyTrust, Verified, VerifyError, verify_export};
pub use xlsx::xlsx;

/// Why an export could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The manifest could not be built or signed.
    #[error("cannot sign the export: {0}")]
    Manifest(#[from] ManifestError),
    /// The workbook writer refused the content (a sheet limit, a date outside Excel's 1900–9999 range).
    #[error("cannot write the workbook: {0}")]
    Xlsx(String),
    /// A row has a different number of values than the header has channels.
    #[error("row {row_idx} has {n_values} values for {n_channels} channels")]
    RowShape { row_idx: usize, n_values: usize, n_channels: usize },
    /// The bytes to sign are not what the format promises (no `%%EOF` in a PDF, no ZIP end record in a workbook).
    #[error("cannot sign: {0}")]
    NotSignable(&'static str),
}
