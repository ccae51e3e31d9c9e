//! Statistics, device settings and signed exports through the real server: what quality staff read and hand to an
//! auditor, checked with the offline verifier and real readers, on both engines.

use logvault_core::authz::Role;
use logvault_core::stats::{DEFAULT_DELTA_H_KJ_PER_MOL, Options, statistics};
use logvault_export::{KeyTrust, PublicKey, VerifyError, verify_export};
use logvault_store::Engine;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Caller, TestApp, assert_problem, member, sign_in};
use crate::ingest::{block, registered, seal};

/// 2026-01-01T00:00:00Z, as the ingest tests use.
pub(crate) const START: i64 = 1_767_225_600;

/// Registers LV-0001 and ingests `n` five-minute samples (4.0 °C + 0.1 °C × (i mod 20)) in blocks of 100.
async fn device_with_samples(app: &TestApp, n: i64) -> (i64, Caller) {
    let (org, operator, key) = registered(app, "LV-0001").await;
    for (counter, first) in (0..n).step_by(100).enumerate() {
        let sealed = seal(&block("LV-0001", counter as u64 + 1, first, 100.min(n - first)), &key);
        let response = app.post("/api/v1/ingest", "application/octet-stream", sealed).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    (org, operator)
}

fn expected_series(n: i64) -> Vec<(i64, f64)> {
    (0..n).map(|i| (START + i * 300, 4.0 + (i % 20) as f64 * 0.1)).collect()
}

pub(crate) async fn public_key(app: &TestApp) -> PublicKey {
    let body: Value = app.get("/api/v1/signing-key").await.json().await.unwrap();
    assert_eq!(body["algorithm"], "Ed25519");
    PublicKey::parse(body["public_key"].as_str().unwrap()).unwrap()
}

fn period_query(n: i64) -> String {
    format!("from={START}&to={}", START + n * 300)
}

both_engines!(statistics_follow_the_device_settings_and_match_the_core_computation, async |app: &TestApp| {
    let (_, operator) = device_with_samples(app, 300).await;
    let path = "/api/v1/devices/LV-0001";
    // No settings yet: no limits, the USP ΔH.
    let settings: Value = operator.get(app, &format!("{path}/settings")).await.json().await.unwrap();
    assert_eq!(settings, json!({"limits": [], "mkt_delta_h_kj_per_mol": null}));

    let new = json!({"limits": [{"channel": 0, "lower": 4.2, "upper": 5.5}], "mkt_delta_h_kj_per_mol": 83.144});
    let response = operator.send(app, reqwest::Method::PUT, &format!("{path}/settings"), Some(new.clone())).await;
    assert_eq!(response.status(), 204);
    let stored: Value = operator.get(app, &format!("{path}/settings")).await.json().await.unwrap();
    assert_eq!(stored, new);

    let stats: Value =
        operator.get(app, &format!("{path}/statistics?{}", period_query(300))).await.json().await.unwrap();
    let expected = statistics(
        &expected_series(300),
        Options { lower: Some(4.2), upper: Some(5.5), mkt_delta_h: Some(DEFAULT_DELTA_H_KJ_PER_MOL) },
    )
    .unwrap();
    let channel = &stats["channels"][0];
    assert_eq!((channel["name"].as_str(), channel["unit"].as_str()), (Some("temperature"), Some("°C")));
    let got = &channel["statistics"];
    assert_eq!(got["count"], 300);
    for (field, value) in [
        ("min", expected.min),
        ("max", expected.max),
        ("mean", expected.mean),
        ("mkt", expected.mkt.unwrap()),
        ("seconds_above", expected.seconds_above.unwrap()),
        ("seconds_below", expected.seconds_below.unwrap()),
    ] {
        assert!((got[field].as_f64().unwrap() - value).abs() < 1e-9, "{field}: {got}");
    }
    // Every 20-sample cycle goes above 5.5 once and below 4.2 once: 15 cycles, 30 excursions.
    let excursions = stats["excursions"].as_array().unwrap();
    assert_eq!(excursions.len(), 30);
    assert_eq!(excursions[0]["kind"], "below");
    assert_eq!(excursions[0]["start_s"], START);

    // Bad settings and bad periods are 422 problems; nothing changes.
    for bad in [
        json!({"limits": [{"channel": 0, "lower": 9.0, "upper": 2.0}]}),
        json!({"limits": [{"channel": 3, "lower": 1.0, "upper": 2.0}]}),
        json!({"mkt_delta_h_kj_per_mol": 0.5}),
    ] {
        let response = operator.send(app, reqwest::Method::PUT, &format!("{path}/settings"), Some(bad)).await;
        assert_problem(response, 422, "validation-failed").await;
    }
    let unchanged: Value = operator.get(app, &format!("{path}/settings")).await.json().await.unwrap();
    assert_eq!(unchanged, new);
    let reversed = operator.get(app, &format!("{path}/statistics?from={}&to={START}", START + 600)).await;
    assert_problem(reversed, 422, "validation-failed").await;
    let missing = operator.get(app, &format!("{path}/statistics")).await;
    assert_problem(missing, 422, "validation-failed").await;

    // A viewer reads but may not change the settings; another organisation sees nothing.
    member(app, "Acme", "viewer@acme.test", Role::Viewer).await;
    let viewer = sign_in(app, "viewer@acme.test").await;
    assert_eq!(viewer.get(app, &format!("{path}/statistics?{}", period_query(300))).await.status(), 200);
    let denied = viewer.send(app, reqwest::Method::PUT, &format!("{path}/settings"), Some(new.clone())).await;
    assert_eq!(denied.status(), 403);
    member(app, "Globex", "gus@globex.test", Role::Owner).await;
    let gus = sign_in(app, "gus@globex.test").await;
    assert_eq!(gus.get(app, &format!("{path}/statistics?{}", period_query(300))).await.status(), 404);
    assert_eq!(Caller::anonymous().get(app, &format!("{path}/statistics?{}", period_query(300))).await.status(), 401);
});

both_engines!(a_csv_export_is_streamed_signed_and_verifies_offline_until_a_value_changes, async |app: &TestApp| {
    let (org, operator) = device_with_samples(app, 1_000).await;
    let key = public_key(app).await;
    let url = format!("/api/v1/devices/LV-0001/export?format=csv&{}", period_query(1_000));
    let response = operator.get(app, &url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert_eq!(disposition, "attachment; filename=\"LV-0001_20260101T000000Z_20260104T112000Z.csv\"");
    // Streamed: no length known up front.
    assert!(response.headers().get("content-length").is_none());
    let csv = response.bytes().await.unwrap().to_vec();

    let verified = verify_export(&csv, Some(&key)).expect("an untouched export verifies");
    assert_eq!((verified.serial.as_str(), verified.n_rows, verified.key_trust), ("LV-0001", 1_000, KeyTrust::Expected));
    assert_eq!(verified.organisation, "Acme");
    assert_eq!(verified.chain_heads.len(), 1);
    assert_eq!(verified.chain_heads[0].seq, 10);
    let text = String::from_utf8(csv.clone()).unwrap();
    assert!(text.contains("2026-01-01T00:05:00Z,4.100\r\n"), "{}", &text[..200]);

    // One value changed: refused.
    let forged = text.replacen("2026-01-01T00:05:00Z,4.100", "2026-01-01T00:05:00Z,4.000", 1);
    assert!(matches!(verify_export(forged.as_bytes(), Some(&key)), Err(VerifyError::RowsChanged(_))));
    // Another server's key: refused.
    let other = logvault_export::SigningKey::from_seed(&[42; 32]).unwrap().public_key();
    assert!(matches!(verify_export(&csv, Some(&other)), Err(VerifyError::OtherKey { .. })));

    // Audited: who, which device, period and format.
    let entries = app.server().store.audit_entries(org, 0, 1_000).await.unwrap();
    let event = entries.iter().find(|e| e.action == "export.created").expect("the export is audited");
    assert_eq!(event.target.as_deref(), Some("device:LV-0001"));
    let detail: Value = serde_json::from_str(event.detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail, json!({"format": "csv", "from": START, "to": START + 300_000, "channels": [0]}));

    // Only the organisation's members with the export permission; nobody without credentials.
    member(app, "Globex", "gus@globex.test", Role::Owner).await;
    let gus = sign_in(app, "gus@globex.test").await;
    assert_eq!(gus.get(app, &url).await.status(), 404);
    assert_eq!(Caller::anonymous().get(app, &url).await.status(), 401);
    let bad_format = operator.get(app, &url.replace("format=csv", "format=docx")).await;
    assert_eq!(bad_format.status(), 400);
});

both_engines!(xlsx_and_pdf_reports_are_signed_and_state_the_statistics, async |app: &TestApp| {
    let (_, operator) = device_with_samples(app, 600).await;
    let settings = json!({"limits": [{"channel": 0, "lower": 4.2, "upper": 5.5}]});
    let put = operator.send(app, reqwest::Method::PUT, "/api/v1/devices/LV-0001/settings", Some(settings)).await;
    assert_eq!(put.status(), 204);
    let key = public_key(app).await;
    for format in ["xlsx", "pdf"] {
        let url = format!("/api/v1/devices/LV-0001/export?format={format}&{}", period_query(600));
        let response = operator.get(app, &url).await;
        assert_eq!(response.status(), 200, "{format}");
        let bytes = response.bytes().await.unwrap().to_vec();
        let verified = verify_export(&bytes, Some(&key)).unwrap_or_else(|err| panic!("{format}: {err}"));
        assert_eq!(verified.n_rows, 600);
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 1;
        assert!(verify_export(&flipped, Some(&key)).is_err(), "{format} with a flipped byte verifies");
        if format == "pdf" {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("report.pdf");
            std::fs::write(&path, &bytes).unwrap();
            let output = std::process::Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().unwrap();
            let text = String::from_utf8(output.stdout).unwrap();
            assert!(text.contains("LV-0001") && text.contains("Acme"), "{text}");
            // The statistics the API computes are the ones the report states, and the chain verified.
            assert!(text.contains("5.900") && text.contains("4.000"), "{text}");
            assert!(text.to_lowercase().contains("verified"), "{text}");
        }
    }
});

async fn the_signing_key_is_kept_across_restarts(engine: Engine) {
    let Some(mut app) = TestApp::spawn(engine).await else { return };
    let first = public_key(&app).await;
    app.restart().await;
    assert_eq!(public_key(&app).await, first);
    let records = app.server().store.signing_keys().await.unwrap();
    assert_eq!(records.len(), 1);
    // Sealed at rest: the stored value is not the seed in any encoding the public key would betray.
    assert_ne!(records[0].seed_sealed.len(), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_key_is_kept_across_restarts_on_sqlite() {
    the_signing_key_is_kept_across_restarts(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_key_is_kept_across_restarts_on_postgres() {
    the_signing_key_is_kept_across_restarts(Engine::Postgres).await;
}

both_engines!(bucketed_measurements_equal_the_aggregate_of_the_raw_points, async |app: &TestApp| {
    let (_, operator) = device_with_samples(app, 600).await;
    // Ten five-hour buckets over 50 hours of five-minute samples: 60 samples each.
    let url = format!("/api/v1/devices/LV-0001/measurements?{}&buckets=10", period_query(600));
    let page: Value = operator.get(app, &url).await.json().await.unwrap();
    assert!(page.get("measurements").is_none());
    let buckets = page["buckets"].as_array().unwrap();
    let series = expected_series(600);
    let mut total = 0;
    for bucket in buckets {
        let (start, end) = (bucket["start_s"].as_i64().unwrap(), bucket["end_s"].as_i64().unwrap());
        let inside: Vec<f64> = series.iter().filter(|(t, _)| (start..end).contains(t)).map(|(_, v)| *v).collect();
        assert_eq!(bucket["count"].as_i64().unwrap(), inside.len() as i64);
        let min = inside.iter().copied().fold(f64::INFINITY, f64::min);
        let max = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = inside.iter().sum::<f64>() / inside.len() as f64;
        assert!((bucket["min"].as_f64().unwrap() - min).abs() < 1e-9, "{bucket}");
        assert!((bucket["max"].as_f64().unwrap() - max).abs() < 1e-9, "{bucket}");
        assert!((bucket["mean"].as_f64().unwrap() - mean).abs() < 1e-9, "{bucket}");
        total += inside.len();
    }
    assert!(!buckets.is_empty() && buckets.len() <= 10);
    assert_eq!(total, 600);
    let bad = operator.get(app, "/api/v1/devices/LV-0001/measurements?buckets=10").await;
    assert_problem(bad, 422, "validation-failed").await;
});
