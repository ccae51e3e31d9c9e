//! The PDF report checked with poppler's real tools: `pdftotext` for its text, `pdffonts` for embedded fonts,
//! `pdftoppm` for how page 1 looks, `pdfinfo` for the page count. CI needs Debian's `poppler-utils`.

use std::path::{Path, PathBuf};
use std::process::Command;

use logvault_core::stats::{self, DEFAULT_DELTA_H_KJ_PER_MOL, Options};
use logvault_export::{
    ChainHead, Excursion, ExcursionKind, ExportChannel, ExportHeader, ExportRow, ReportSummary, format_milli,
    render_pdf,
};
use time::macros::datetime;

const FROM_S: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z
const STEP_S: i64 = 300;

fn header(n_days: i64) -> ExportHeader {
    ExportHeader {
        serial: "LV-0001234".to_owned(),
        device_name: "Vaccine fridge 3".to_owned(),
        organisation: "St. Example Hospital Pharmacy".to_owned(),
        site: Some("Building B, room 2.14".to_owned()),
        from: datetime!(2026-11-01 00:00 UTC),
        to: datetime!(2026-11-01 00:00 UTC) + time::Duration::days(n_days),
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
                upper: Some(70.0),
            },
        ],
        generated_at: datetime!(2026-12-02 09:30:15 UTC),
        generated_by: "Quinn Auditor (user:17)".to_owned(),
        chain_heads: vec![ChainHead {
            serial: "LV-0001234".to_owned(),
            seq: 2_016,
            block_hash: "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a1c3e5b7d9f0a2c4e6b8d0f".to_owned(),
        }],
    }
}

/// A fridge around 5 °C with a slow daily swing, plus `spikes`: `(row index, n rows, value)` replacing the
/// temperature; humidity around 50 %RH. One row every five minutes from 2026-11-01.
fn rows(n_rows: usize, spikes: &[(usize, usize, i64)]) -> Vec<ExportRow> {
    (0..n_rows)
        .map(|i| {
            let daily = ((i % 288) as f64 / 288.0 * std::f64::consts::TAU).sin();
            let mut temperature = 5_000 + (daily * 1_200.0) as i64 + (i % 7) as i64 * 10;
            for (start, len, value) in spikes {
                if (*start..start + len).contains(&i) {
                    temperature = *value;
                }
            }
            let humidity = 50_000 + (daily * 6_000.0) as i64 - (i % 5) as i64 * 100;
            ExportRow {
                t_s: FROM_S + i as i64 * STEP_S,
                ordinal: 0,
                values_milli: vec![Some(temperature), Some(humidity)],
            }
        })
        .collect()
}

/// The summary the server would compute: statistics from logvault-core, excursions as runs of samples outside.
fn summary(header: &ExportHeader, rows: &[ExportRow]) -> ReportSummary {
    let mut statistics = Vec::new();
    let mut excursions = Vec::new();
    for (idx, channel) in header.channels.iter().enumerate() {
        let samples: Vec<(i64, f64)> =
            rows.iter().filter_map(|r| r.values_milli[idx].map(|v| (r.t_s, v as f64 / 1000.0))).collect();
        let is_temperature = channel.name == "temperature";
        let options = Options {
            lower: channel.lower,
            upper: channel.upper,
            mkt_delta_h: is_temperature.then_some(DEFAULT_DELTA_H_KJ_PER_MOL),
        };
        statistics.push(stats::statistics(&samples, options));
        let mut current: Option<Excursion> = None;
        for &(t, v) in &samples {
            let kind = match (channel.lower, channel.upper) {
                (_, Some(upper)) if v > upper => Some(ExcursionKind::Above),
                (Some(lower), _) if v < lower => Some(ExcursionKind::Below),
                _ => None,
            };
            match (&mut current, kind) {
                (Some(e), Some(k)) if e.kind == k => {
                    e.end_s = t;
                    e.duration_s = t - e.start_s;
                    e.peak = if k == ExcursionKind::Above { e.peak.max(v) } else { e.peak.min(v) };
                }
                (_, kind) => {
                    excursions.extend(current.take());
                    current = kind.map(|kind| Excursion {
                        channel: channel.index,
                        kind,
                        start_s: t,
                        end_s: t,
                        duration_s: 0,
                        peak: v,
                    });
                }
            }
        }
        excursions.extend(current);
    }
    ReportSummary {
        statistics,
        mkt_delta_h: DEFAULT_DELTA_H_KJ_PER_MOL,
        excursions,
        n_blocks: 42,
        chain_verified: true,
    }
}

/// Runs a poppler tool and returns its standard output; a missing tool fails with the package to install.
fn poppler(tool: &str, args: &[&str], pdf: &Path) -> Vec<u8> {
    let output = Command::new(tool)
        .args(args)
        .arg(pdf)
        .args(if tool == "pdftotext" { &["-"][..] } else { &[][..] })
        .output()
        .unwrap_or_else(|e| panic!("{tool} did not run ({e}): install Debian's poppler-utils"));
    assert!(output.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

struct Rendered {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn render_to_file(header: &ExportHeader, rows: &[ExportRow], summary: &ReportSummary) -> Rendered {
    let bytes = render_pdf(header, rows, summary).expect("render");
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, bytes).unwrap();
    Rendered { _dir: dir, path }
}

fn text_of(pdf: &Path) -> String {
    String::from_utf8(poppler("pdftotext", &["-layout"], pdf)).unwrap()
}

fn n_pages(pdf: &Path) -> usize {
    let info = String::from_utf8(poppler("pdfinfo", &[], pdf)).unwrap();
    let line = info.lines().find(|l| l.starts_with("Pages:")).expect("Pages line");
    line["Pages:".len()..].trim().parse().unwrap()
}

fn value(v: f64) -> String {
    format_milli((v * 1000.0).round() as i64)
}

fn hms(seconds: f64) -> String {
    let s = seconds.round() as i64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[test]
fn the_report_text_has_the_device_period_statistics_excursions_and_page_numbers() {
    let header = header(7);
    // 40 minutes at 9.2 °C on day 2, 20 minutes at 1.5 °C on day 5.
    let rows = rows(7 * 288, &[(400, 9, 9_200), (1_500, 5, 1_500)]);
    let summary = summary(&header, &rows);
    assert_eq!(summary.excursions.len(), 2, "{:?}", summary.excursions);
    let rendered = render_to_file(&header, &rows, &summary);
    let text = text_of(&rendered.path);

    for expected in [
        "Measurement report",
        "LV-0001234",
        "Vaccine fridge 3",
        "St. Example Hospital Pharmacy",
        "Building B, room 2.14",
        "2026-11-01T00:00:00Z to 2026-11-08T00:00:00Z",
        "2026-12-02T09:30:15Z",
        "Quinn Auditor (user:17)",
        "83.144 kJ/mol",
        // Excursions: start and end of each, and the peaks.
        "2026-11-02T09:20:00Z",
        "2026-11-02T10:00:00Z",
        "0:40:00",
        "9.200 °C",
        "2026-11-06T05:00:00Z",
        "2026-11-06T05:20:00Z",
        "1.500 °C",
        // Integrity.
        "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a1c3e5b7d9f0a2c4e6b8d0f",
        "2016",
        "logvault verify-export FILE --public-key KEY",
        "Page 1 of ",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from the text:\n{text}");
    }
    let temperature = summary.statistics[0].as_ref().unwrap();
    let humidity = summary.statistics[1].as_ref().unwrap();
    for expected in [
        temperature.count.to_string(),
        value(temperature.min),
        value(temperature.max),
        value(temperature.mean),
        value(temperature.mkt.unwrap()),
        hms(temperature.seconds_above.unwrap()),
        hms(temperature.seconds_below.unwrap()),
        value(humidity.min),
        value(humidity.max),
        value(humidity.mean),
        hms(humidity.seconds_above.unwrap()),
    ] {
        assert!(text.contains(&expected), "statistic {expected:?} missing from the text:\n{text}");
    }
    let n = n_pages(&rendered.path);
    assert!(text.contains(&format!("Page {n} of {n}")), "last page footer missing:\n{text}");
}

#[test]
fn every_font_in_the_report_is_embedded() {
    let header = header(2);
    let rows = rows(2 * 288, &[]);
    let rendered = render_to_file(&header, &rows, &summary(&header, &rows));
    let listing = String::from_utf8(poppler("pdffonts", &[], &rendered.path)).unwrap();
    // name, type (one or two words), encoding, emb, sub, uni, object number, generation.
    let fonts: Vec<Vec<&str>> =
        listing.lines().skip(2).map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|t| t.len() >= 6).collect();
    assert!(!fonts.is_empty(), "no fonts listed:\n{listing}");
    for tokens in &fonts {
        assert_eq!(tokens[tokens.len() - 5], "yes", "a font is not embedded:\n{listing}");
        assert!(tokens[0].contains("DejaVuSans"), "an unexpected font:\n{listing}");
    }
}

#[test]
fn the_first_page_renders_with_ink_on_it() {
    let header = header(7);
    let rows = rows(7 * 288, &[(400, 9, 9_200)]);
    let rendered = render_to_file(&header, &rows, &summary(&header, &rows));
    let prefix = rendered.path.with_extension("");
    let prefix_str = prefix.to_str().unwrap();
    let status = Command::new("pdftoppm")
        .args(["-r", "50", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&rendered.path)
        .arg(prefix_str)
        .status()
        .expect("pdftoppm did not run: install Debian's poppler-utils");
    assert!(status.success());
    let ppm = std::fs::read(format!("{prefix_str}.ppm")).unwrap();
    let (width, height, pixels) = parse_ppm(&ppm);
    // A4 at 50 dpi: 8.27 × 11.69 in, rounded up by pdftoppm.
    assert!((413..=414).contains(&width) && (584..=585).contains(&height), "{width} × {height}");
    let n_inked = pixels.chunks(3).filter(|p| p.iter().any(|c| *c < 200)).count();
    let n_blue = pixels.chunks(3).filter(|p| p[2] > 120 && p[0] < 110 && p[1] < 150).count();
    let n_red = pixels.chunks(3).filter(|p| p[0] > 150 && p[1] < 100 && p[2] < 100).count();
    let fraction = n_inked as f64 / (width * height) as f64;
    assert!(fraction > 0.02 && fraction < 0.5, "inked fraction {fraction}");
    // The temperature line (blue) and its limits (red) are on page 1.
    assert!(n_blue > 100 && n_red > 50, "chart colours: {n_blue} blue, {n_red} red pixels");
    keep(&rendered, "report.pdf");
}

/// With `LOGVAULT_PDF_KEEP=DIR`, keeps a copy of the report in DIR to look at (the tests delete theirs).
fn keep(rendered: &Rendered, name: &str) {
    if let Ok(dir) = std::env::var("LOGVAULT_PDF_KEEP") {
        std::fs::copy(&rendered.path, Path::new(&dir).join(name)).unwrap();
    }
}

/// A binary PPM (P6, maxval 255): width, height and the RGB bytes.
fn parse_ppm(ppm: &[u8]) -> (usize, usize, &[u8]) {
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while ppm[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let start = pos;
        while !ppm[pos].is_ascii_whitespace() {
            pos += 1;
        }
        fields.push(std::str::from_utf8(&ppm[start..pos]).unwrap().to_owned());
    }
    assert_eq!((fields[0].as_str(), fields[3].as_str()), ("P6", "255"));
    let (width, height): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = &ppm[pos + 1..];
    assert_eq!(pixels.len(), width * height * 3);
    (width, height, pixels)
}

#[test]
fn many_rows_and_excursions_continue_over_several_pages() {
    // 200,000 rows (almost two years at five minutes) with 150 short excursions above 8 °C.
    let n_rows = 200_000;
    let spikes: Vec<(usize, usize, i64)> = (0..150).map(|i| (1_000 + i * 1_300, 3, 8_500 + i as i64)).collect();
    let header = header((n_rows as i64 * STEP_S + 86_399) / 86_400);
    let rows = rows(n_rows, &spikes);
    let summary = summary(&header, &rows);
    assert_eq!(summary.excursions.len(), 150);
    let rendered = render_to_file(&header, &rows, &summary);
    keep(&rendered, "report-many.pdf");
    let n = n_pages(&rendered.path);
    assert!(n >= 4, "{n} pages");
    let text = text_of(&rendered.path);
    assert!(text.contains(&format!("Page {n} of {n}")), "last page footer missing");
    assert!(text.contains("150 excursions"));
    // The last excursion (on a later page) is listed with its start and its peak.
    let last = summary.excursions.last().unwrap();
    let start = time::OffsetDateTime::from_unix_timestamp(last.start_s).unwrap();
    let start = start.format(&time::format_description::well_known::Rfc3339).unwrap();
    assert!(text.contains(&start), "{start} missing");
    assert!(text.contains("8.649 °C"));
    // The table header repeats on the continuation page.
    assert!(text.matches("Start (UTC)").count() >= 2);
}

#[test]
fn a_period_without_excursions_says_none_and_a_channel_without_samples_says_so() {
    let mut header = header(1);
    header.channels.push(ExportChannel {
        index: 2,
        name: "probe".to_owned(),
        unit: "°C".to_owned(),
        lower: None,
        upper: None,
    });
    header.site = None;
    let mut rows = rows(288, &[]);
    for row in &mut rows {
        row.values_milli.push(None);
    }
    let summary = summary(&header, &rows);
    assert!(summary.excursions.is_empty() && summary.statistics[2].is_none());
    let rendered = render_to_file(&header, &rows, &summary);
    let text = text_of(&rendered.path);
    assert!(text.contains("None."), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["probe", "(°C)", "0", "–", "–", "–", "–", "–", "–"]),
        "{text}"
    );
    assert!(text.contains("No samples in the period."), "{text}");
}

#[test]
fn the_same_input_renders_the_same_bytes() {
    let header = header(1);
    let rows = rows(288, &[(10, 2, 9_000)]);
    let summary = summary(&header, &rows);
    assert_eq!(render_pdf(&header, &rows, &summary).unwrap(), render_pdf(&header, &rows, &summary).unwrap());
}

#[test]
fn a_chain_that_did_not_verify_is_stated_plainly() {
    let header = header(1);
    let rows = rows(288, &[]);
    let summary = ReportSummary { chain_verified: false, ..summary(&header, &rows) };
    let text = text_of(&render_to_file(&header, &rows, &summary).path);
    assert!(text.contains("NO: the hash chain or a block's authentication tag did not verify"), "{text}");
}

#[test]
fn odd_input_still_renders_a_readable_report() {
    // A name with no space to break at, no channels, no rows, a period that ends before it starts, and an excursion
    // on an unknown channel at a time outside the calendar.
    let long_name = "X".repeat(400);
    let mut header = header(1);
    header.organisation = long_name.clone();
    header.device_name = "Fridge\twith\ncontrol characters and 冷蔵庫".to_owned();
    header.channels.clear();
    header.chain_heads.clear();
    header.to = header.from - time::Duration::days(1);
    let summary = ReportSummary {
        statistics: vec![],
        mkt_delta_h: f64::NAN,
        excursions: vec![Excursion {
            channel: 99,
            kind: ExcursionKind::Below,
            start_s: i64::MAX,
            end_s: i64::MIN,
            duration_s: i64::MAX,
            peak: f64::NEG_INFINITY,
        }],
        n_blocks: 0,
        chain_verified: false,
    };
    let rendered = render_to_file(&header, &[], &summary);
    keep(&rendered, "report-odd.pdf");
    let text = text_of(&rendered.path);
    // The long organisation wraps rather than being cut: every X is there on page 1.
    assert!(text.matches('X').count() >= 400, "{text}");
    // A time outside the calendar prints as Unix seconds (wrapped in its column).
    assert!(text.contains("channel 99") && text.contains("@92233720368547758"), "{text}");
    assert!(text.contains("No chain heads") && text.matches("No channels.").count() == 3, "{text}");
}
