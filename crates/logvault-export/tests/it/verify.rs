//! Offline verification: untouched exports pass, and every kind of change fails with its own error.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use logvault_export::{KeyTrust, Manifest, SignedManifest, VerifyError, sign_pdf, verify_export};
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::xlsx::{part, rezip};
use crate::{T0, csv_export, header, other_key, rows, server_key, tiny_pdf, xlsx_export};

fn pdf_export(key: &logvault_export::SigningKey) -> Vec<u8> {
    sign_pdf(tiny_pdf(), &header(), &rows(), key).unwrap()
}

fn verify(bytes: &[u8]) -> Result<logvault_export::Verified, VerifyError> {
    verify_export(bytes, Some(&server_key().public_key()))
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.contains(from), "{from:?} is in the export");
    text.replacen(from, to, 1).into_bytes()
}

/// The export with its manifest's signature replaced by `edit(signature)`.
fn with_signature(bytes: &[u8], token: &str, edit: impl Fn(&mut [u8; 64])) -> Vec<u8> {
    let json = URL_SAFE_NO_PAD.decode(token).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let mut signature: [u8; 64] =
        URL_SAFE_NO_PAD.decode(json["signature"].as_str().unwrap()).unwrap().try_into().unwrap();
    edit(&mut signature);
    let new_json = String::from_utf8(URL_SAFE_NO_PAD.decode(token).unwrap())
        .unwrap()
        .replace(json["signature"].as_str().unwrap(), &URL_SAFE_NO_PAD.encode(signature));
    let new_token = URL_SAFE_NO_PAD.encode(new_json);
    let text = unsafe_free_replace(bytes, token.as_bytes(), new_token.as_bytes());
    assert_ne!(text, bytes);
    text
}

fn unsafe_free_replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let idx = bytes.windows(from.len()).position(|w| w == from).expect("the token is in the export");
    [&bytes[..idx], to, &bytes[idx + from.len()..]].concat()
}

fn csv_token(bytes: &[u8]) -> String {
    let text = std::str::from_utf8(bytes).unwrap();
    let record = text.rsplit_once("#logvault-manifest,").unwrap().1;
    record.trim_end().trim_end_matches(',').to_owned()
}

fn zip_comment(bytes: &[u8]) -> String {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    std::str::from_utf8(archive.comment()).unwrap().to_owned()
}

// ---- Untouched exports pass.

#[test]
fn an_untouched_csv_verifies_against_the_servers_key() {
    let verified = verify(&csv_export(&server_key())).unwrap();
    assert_eq!(verified.format, logvault_export::Format::Csv);
    assert_eq!(verified.serial, "LV-000123");
    assert_eq!(verified.device_name, "Cold room 2");
    assert_eq!(verified.organisation, "Acme Pharma");
    assert_eq!(verified.from, header().from);
    assert_eq!(verified.to, header().to);
    assert_eq!(verified.n_rows, 4);
    assert_eq!(verified.chain_heads, header().chain_heads);
    assert_eq!(verified.key_fingerprint, server_key().public_key().fingerprint());
    assert_eq!(verified.key_trust, KeyTrust::Expected);
    assert!(verified.rows_checked);
    assert_eq!(verified.header, header());
}

#[test]
fn an_untouched_workbook_verifies_against_the_servers_key() {
    let verified = verify(&xlsx_export(&server_key())).unwrap();
    assert_eq!(verified.format, logvault_export::Format::Xlsx);
    assert_eq!(verified.n_rows, 4);
    assert_eq!(verified.key_trust, KeyTrust::Expected);
    assert!(verified.rows_checked);
}

#[test]
fn an_untouched_pdf_verifies_by_its_bytes() {
    let verified = verify(&pdf_export(&server_key())).unwrap();
    assert_eq!(verified.format, logvault_export::Format::Pdf);
    assert_eq!(verified.n_rows, 4);
    assert!(!verified.rows_checked);
}

#[test]
fn without_an_expected_key_an_export_verifies_against_its_own_key_only() {
    for bytes in [csv_export(&other_key()), xlsx_export(&other_key()), pdf_export(&other_key())] {
        let verified = verify_export(&bytes, None).unwrap();
        assert_eq!(verified.key_trust, KeyTrust::EmbeddedOnly);
        assert_eq!(verified.public_key, other_key().public_key());
    }
}

#[test]
fn a_signed_pdf_still_opens_in_a_pdf_reader_without_complaint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf_export(&server_key())).unwrap();
    let output = std::process::Command::new("pdfinfo").arg(&path).output().expect("pdfinfo (poppler-utils) runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "no syntax warnings");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let pages = stdout.lines().find_map(|line| line.strip_prefix("Pages:")).map(str::trim);
    assert_eq!(pages, Some("1"), "{stdout}");
}

// ---- CSV: every change fails.

#[test]
fn a_changed_value_in_a_csv_fails_as_changed_rows() {
    let bytes = replace(&csv_export(&server_key()), ",4.250,", ",4.251,");
    assert!(matches!(verify(&bytes), Err(VerifyError::RowsChanged(_))), "{:?}", verify(&bytes));
}

#[test]
fn a_removed_row_in_a_csv_fails_as_changed_rows() {
    let bytes = replace(&csv_export(&server_key()), "2026-12-01T08:10:00Z,8.500,54.250\r\n", "");
    assert_eq!(verify(&bytes), Err(VerifyError::RowsChanged("the file has 3 rows, the manifest says 4".to_owned())));
}

#[test]
fn an_added_row_in_a_csv_fails_as_changed_rows() {
    let bytes = replace(
        &csv_export(&server_key()),
        "2026-12-01T08:10:00Z,",
        "2026-12-01T08:05:00Z,5.000,50.000\r\n2026-12-01T08:10:00Z,",
    );
    assert!(matches!(verify(&bytes), Err(VerifyError::RowsChanged(_))), "{:?}", verify(&bytes));
}

#[test]
fn a_changed_timestamp_in_a_csv_fails_as_changed_rows() {
    let bytes = replace(&csv_export(&server_key()), "2026-12-01T08:20:00Z", "2026-12-01T08:20:01Z");
    assert!(matches!(verify(&bytes), Err(VerifyError::RowsChanged(_))), "{:?}", verify(&bytes));
}

#[test]
fn a_value_spelt_differently_in_a_csv_fails_as_changed_content() {
    // Same number, other text: the rows digest agrees, the bytes do not.
    let bytes = replace(&csv_export(&server_key()), ",4.250,", ",4.25,");
    assert_eq!(verify(&bytes), Err(VerifyError::ContentChanged));
}

#[test]
fn a_changed_column_title_in_a_csv_fails_as_changed_content() {
    let bytes = replace(&csv_export(&server_key()), "temperature (°C)", "temperature (°F)");
    assert_eq!(verify(&bytes), Err(VerifyError::ContentChanged));
}

#[test]
fn a_changed_signature_on_a_csv_fails() {
    let original = csv_export(&server_key());
    let bytes = with_signature(&original, &csv_token(&original), |signature| signature[10] ^= 0x01);
    assert_eq!(verify(&bytes), Err(VerifyError::BadSignature));
}

#[test]
fn a_csv_signed_by_another_servers_key_fails() {
    let bytes = csv_export(&other_key());
    assert_eq!(
        verify(&bytes),
        Err(VerifyError::OtherKey {
            expected: server_key().public_key().fingerprint(),
            found: other_key().public_key().fingerprint()
        })
    );
}

#[test]
fn a_csv_manifest_with_a_changed_field_fails_its_signature() {
    let original = csv_export(&server_key());
    let token = csv_token(&original);
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(&token).unwrap()).unwrap();
    let forged = URL_SAFE_NO_PAD.encode(json.replace("\"n_rows\":4", "\"n_rows\":5"));
    let bytes = unsafe_free_replace(&original, token.as_bytes(), forged.as_bytes());
    assert_eq!(verify(&bytes), Err(VerifyError::BadSignature));
}

#[test]
fn a_csv_manifest_that_is_not_in_canonical_form_is_malformed() {
    let original = csv_export(&server_key());
    let token = csv_token(&original);
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(&token).unwrap()).unwrap();
    let spaced = URL_SAFE_NO_PAD.encode(json.replacen("\"version\":1", "\"version\": 1", 1));
    let bytes = unsafe_free_replace(&original, token.as_bytes(), spaced.as_bytes());
    assert!(matches!(verify(&bytes), Err(VerifyError::MalformedManifest(_))), "{:?}", verify(&bytes));
}

#[test]
fn rows_appended_after_the_csv_manifest_fail() {
    let mut bytes = csv_export(&server_key());
    bytes.extend_from_slice(b"2026-12-01T08:30:00Z,9.000,50.000\r\n");
    assert_eq!(verify(&bytes), Err(VerifyError::TrailingData));
}

#[test]
fn a_csv_without_a_manifest_fails() {
    let bytes = csv_export(&server_key());
    let text = std::str::from_utf8(&bytes).unwrap();
    let stripped = text.rsplit_once("#logvault-manifest,").unwrap().0;
    assert_eq!(verify(stripped.as_bytes()), Err(VerifyError::NoManifest(logvault_export::Format::Csv)));
}

#[test]
fn a_csv_manifest_moved_into_a_pdf_fails_as_a_format_mismatch() {
    let csv = csv_export(&server_key());
    let mut pdf = tiny_pdf();
    pdf.extend_from_slice(b"\n%logvault-manifest ");
    pdf.extend_from_slice(csv_token(&csv).as_bytes());
    pdf.push(b'\n');
    assert_eq!(
        verify(&pdf),
        Err(VerifyError::FormatMismatch { manifest: logvault_export::Format::Csv, file: logvault_export::Format::Pdf })
    );
}

// ---- XLSX: every change fails.

fn edit_sheet(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let sheet = part(bytes, "xl/worksheets/sheet1.xml");
    assert!(sheet.contains(from), "{from:?} is in {sheet}");
    let edited = rezip(bytes, |name, content| {
        if name == "xl/worksheets/sheet1.xml" {
            String::from_utf8(content).unwrap().replacen(from, to, 1).into_bytes()
        } else {
            content
        }
    });
    assert!(part(&edited, "xl/worksheets/sheet1.xml").contains(to));
    edited
}

#[test]
fn a_rezipped_but_unchanged_workbook_fails_as_changed_content() {
    // Re-zipping changes the archive's bytes though not a cell: the signature covers the file, not its reading.
    let bytes = rezip(&xlsx_export(&server_key()), |_, content| content);
    assert_eq!(verify(&bytes), Err(VerifyError::ContentChanged));
}

#[test]
fn a_changed_value_in_a_workbook_fails() {
    let bytes = edit_sheet(&xlsx_export(&server_key()), "<v>4.25</v>", "<v>4.251</v>");
    assert_eq!(verify(&bytes), Err(VerifyError::ContentChanged));
}

#[test]
fn a_removed_row_in_a_workbook_fails() {
    let original = xlsx_export(&server_key());
    let sheet = part(&original, "xl/worksheets/sheet1.xml");
    let start = sheet.find("<row r=\"3\"").unwrap();
    let end = start + sheet[start..].find("</row>").unwrap() + "</row>".len();
    let bytes = edit_sheet(&original, &sheet[start..end], "");
    assert_eq!(verify(&bytes), Err(VerifyError::ContentChanged));
}

#[test]
fn an_added_row_in_a_workbook_fails() {
    let bytes = edit_sheet(
        &xlsx_export(&server_key()),
        "</sheetData>",
        "<row r=\"6\"><c r=\"B6\"><v>1.5</v></c></row></sheetData>",
    );
    assert_eq!(verify(&bytes), Err(VerifyError::ContentChanged));
}

#[test]
fn a_changed_timestamp_in_a_workbook_fails() {
    let original = xlsx_export(&server_key());
    let sheet = part(&original, "xl/worksheets/sheet1.xml");
    // The serial of T0 + 1200 s, as the writer printed it.
    let serial = (T0 + 1200) as f64 / 86_400.0 + 25_569.0;
    let printed = format!("<v>{serial}</v>");
    assert!(sheet.contains(&printed), "{printed} in {sheet}");
    let bytes = edit_sheet(&original, &printed, &format!("<v>{}</v>", serial + 1.0 / 86_400.0));
    assert_eq!(verify(&bytes), Err(VerifyError::ContentChanged));
}

#[test]
fn flipped_bytes_inside_the_workbooks_data_sheet_fail() {
    let original = xlsx_export(&server_key());
    // Find the data sheet's compressed bytes by its local header and flip one in the middle of them.
    let name = b"xl/worksheets/sheet1.xml";
    let idx = original.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 40;
    let mut bytes = original.clone();
    bytes[idx] ^= 0x20;
    assert_eq!(verify(&bytes), Err(VerifyError::ContentChanged));
}

#[test]
fn a_changed_signature_on_a_workbook_fails() {
    let original = xlsx_export(&server_key());
    let bytes = with_signature(&original, &zip_comment(&original), |signature| signature[63] ^= 0x80);
    assert_eq!(verify(&bytes), Err(VerifyError::BadSignature));
}

#[test]
fn a_workbook_signed_by_another_servers_key_fails() {
    let bytes = xlsx_export(&other_key());
    assert!(matches!(verify(&bytes), Err(VerifyError::OtherKey { .. })), "{:?}", verify(&bytes));
}

#[test]
fn a_workbook_without_its_comment_fails() {
    let mut bytes = xlsx_export(&server_key());
    let comment_len = zip_comment(&bytes).len();
    bytes.truncate(bytes.len() - comment_len - 2);
    bytes.extend_from_slice(&[0, 0]);
    assert_eq!(verify(&bytes), Err(VerifyError::NoManifest(logvault_export::Format::Xlsx)));
}

#[test]
fn a_workbook_whose_signed_rows_digest_disagrees_with_its_data_sheet_fails() {
    // A signer that hashed other rows than it wrote: the content hash matches, the rows read back do not.
    let original = xlsx_export(&server_key());
    let comment_len = zip_comment(&original).len();
    let covered = &original[..original.len() - comment_len - 2];
    let mut other_rows = rows();
    other_rows[0].values_milli[0] = Some(4126);
    let manifest = Manifest::new(
        logvault_export::Format::Xlsx,
        &header(),
        Sha256::digest(covered).into(),
        logvault_export::manifest::rows_digest(&other_rows),
        &server_key(),
    );
    let encoded = SignedManifest::sign(manifest, &server_key()).unwrap().encode();
    let mut bytes = covered.to_vec();
    bytes.extend_from_slice(&u16::try_from(encoded.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(encoded.as_bytes());
    assert!(matches!(verify(&bytes), Err(VerifyError::RowsChanged(_))), "{:?}", verify(&bytes));
}

// ---- PDF.

#[test]
fn a_changed_byte_in_a_pdf_fails() {
    let bytes = replace(&pdf_export(&server_key()), "/MediaBox [0 0 595 842]", "/MediaBox [0 0 595 843]");
    assert_eq!(verify(&bytes), Err(VerifyError::ContentChanged));
}

#[test]
fn a_pdf_signed_by_another_servers_key_fails() {
    assert!(matches!(verify(&pdf_export(&other_key())), Err(VerifyError::OtherKey { .. })));
}

#[test]
fn a_pdf_without_eof_cannot_be_signed() {
    let error = sign_pdf(b"%PDF-1.4\nnot finished".to_vec(), &header(), &rows(), &server_key()).unwrap_err();
    assert!(matches!(error, logvault_export::ExportError::NotSignable(_)), "{error:?}");
}

// ---- Any single-byte change anywhere fails, and nothing panics.

#[test]
fn every_single_byte_change_of_a_csv_or_pdf_fails_verification() {
    for original in [csv_export(&server_key()), pdf_export(&server_key())] {
        for idx in 0..original.len() {
            let mut bytes = original.clone();
            bytes[idx] ^= 0x01;
            assert!(verify(&bytes).is_err(), "flipping byte {idx} went unnoticed");
        }
    }
}

#[test]
fn every_single_byte_change_of_a_workbook_fails_verification() {
    let original = xlsx_export(&server_key());
    for idx in 0..original.len() {
        let mut bytes = original.clone();
        bytes[idx] ^= 0x01;
        assert!(verify(&bytes).is_err(), "flipping byte {idx} of {} went unnoticed", original.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic_the_verifier(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = verify_export(&bytes, None);
        let mut pdf = b"%PDF".to_vec();
        pdf.extend_from_slice(&bytes);
        let _ = verify_export(&pdf, None);
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&bytes);
        let _ = verify_export(&zip, None);
    }

    #[test]
    fn mutated_exports_never_panic_the_verifier_and_never_verify(
        format in 0usize..3,
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let original = match format {
            0 => csv_export(&server_key()),
            1 => xlsx_export(&server_key()),
            _ => pdf_export(&server_key()),
        };
        let mut bytes = original.clone();
        for (idx, byte, kind) in mutations {
            if bytes.is_empty() {
                break;
            }
            let idx = idx.index(bytes.len());
            match kind {
                0 => bytes[idx] = byte,
                1 => bytes.insert(idx, byte),
                _ => {
                    bytes.remove(idx);
                }
            }
        }
        let result = verify_export(&bytes, Some(&server_key().public_key()));
        if bytes != original {
            prop_assert!(result.is_err(), "a mutation verified");
        }
    }
}
