//! Retention through the real server on both engines: indefinite by default and never under two years on the API,
//! the audited purge removing whole expired blocks, the chain (and a signed export) still verifying from the
//! retained point, bucketed queries equal to the raw rows after it, and the audit log untouched by it.

use logvault_core::authz::Role;
use logvault_export::verify_export;
use serde_json::{Value, json};

use crate::helpers::{Caller, TestApp, assert_problem, member, sign_in};
use crate::ingest::{block, registered, seal};
use crate::{both_engines, exports};

/// Five-minute samples per day.
const PER_DAY: i64 = 288;

fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

both_engines!(the_retention_is_indefinite_by_default_and_never_under_two_years, async |app: &TestApp| {
    let (org, operator, _) = registered(app, "LV-0001").await;
    member(app, "Acme", "admin@acme.test", Role::Admin).await;
    let admin = sign_in(app, "admin@acme.test").await;
    let path = format!("/api/v1/orgs/{org}/retention");
    let shown: Value = operator.get(app, &path).await.json().await.unwrap();
    assert_eq!(shown, json!({"days": null}), "indefinite by default");

    let put = async |caller: &Caller, body: Value| caller.send(app, reqwest::Method::PUT, &path, Some(body)).await;
    for days in [-1, 0, 365, 730, 36_526] {
        let problem = assert_problem(put(&admin, json!({"days": days})).await, 422, "validation-failed").await;
        assert!(problem["detail"].as_str().unwrap().contains("days"), "{problem}");
    }
    assert_problem(put(&admin, json!({"days": "two years"})).await, 422, "validation-failed").await;
    assert_problem(put(&admin, json!({"days": 800, "purge": true})).await, 422, "validation-failed").await;
    // An operator may read it but not change it.
    assert_eq!(put(&operator, json!({"days": 731})).await.status(), 403);
    let unchanged: Value = operator.get(app, &path).await.json().await.unwrap();
    assert_eq!(unchanged, json!({"days": null}), "nothing changed");

    let set: Value = put(&admin, json!({"days": 731})).await.json().await.unwrap();
    assert_eq!(set, json!({"days": 731}));
    assert_eq!(operator.get(app, &path).await.json::<Value>().await.unwrap(), json!({"days": 731}));
    let back: Value = put(&admin, json!({"days": null})).await.json().await.unwrap();
    assert_eq!(back, json!({"days": null}));

    let entries = app.server().store.audit_entries(org, 0, 1_000).await.unwrap();
    let details: Vec<_> =
        entries.iter().filter(|e| e.action == "retention.set").map(|e| e.detail.clone().unwrap_or_default()).collect();
    assert_eq!(details, ["days:731", "days:indefinite"]);
    // Another organisation's retention is not reachable.
    member(app, "Globex", "gus@globex.test", Role::Owner).await;
    let gus = sign_in(app, "gus@globex.test").await;
    assert_eq!(gus.get(app, &path).await.status(), 404);
});

both_engines!(a_purge_keeps_the_chain_exports_rollups_and_audit_log_verifiable, async |app: &TestApp| {
    let (org, operator, key) = registered(app, "LV-0001").await;
    member(app, "Acme", "admin@acme.test", Role::Admin).await;
    let admin = sign_in(app, "admin@acme.test").await;
    // The ingest tests' samples start on 2026-01-01; three years before that is long expired under two years.
    let expired = -3 * 365 * PER_DAY;
    let recent = (now_s() - exports::START) / 300 - 2 * PER_DAY;
    for (counter, first) in [(1, expired), (2, expired + 100), (3, recent), (4, recent + 100)] {
        let response = app
            .post("/api/v1/ingest", "application/octet-stream", seal(&block("LV-0001", counter, first, 100), &key))
            .await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
    let store = &app.server().store;
    let audit_before = store.audit_entries(org, 0, 1_000).await.unwrap();

    // Without a retention the purge removes nothing.
    let reports =
        logvault_server::app::retention::purge(store.as_ref(), None, "system:retention", now_s()).await.unwrap();
    assert!(reports.iter().all(|(_, report)| report.devices.is_empty()));

    let response = admin
        .send(app, reqwest::Method::PUT, &format!("/api/v1/orgs/{org}/retention"), Some(json!({"days": 731})))
        .await;
    assert_eq!(response.status(), 200);
    let reports =
        logvault_server::app::retention::purge(store.as_ref(), None, "system:retention", now_s()).await.unwrap();
    let (_, report) = reports.iter().find(|(o, _)| o.id == org).unwrap();
    assert_eq!((report.blocks_removed(), report.measurements_removed()), (2, 200));

    // What is left: the recent samples only, and the chain verifies from the retained point.
    let measurements: Value = operator
        .get(app, &format!("/api/v1/devices/LV-0001/measurements?from=0&to={}&limit=1000", now_s()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(measurements["measurements"].as_array().unwrap().len(), 200, "{measurements}");
    // A signed export of the retained period re-verifies the chain from its anchor first (refusing a broken one), and
    // verifies offline.
    let (from, to) = (exports::START + recent * 300, exports::START + (recent + 200) * 300);
    let csv = operator.get(app, &format!("/api/v1/devices/LV-0001/export?format=csv&from={from}&to={to}")).await;
    assert_eq!(csv.status(), 200);
    let verified = verify_export(&csv.bytes().await.unwrap(), Some(&exports::public_key(app).await)).unwrap();
    assert_eq!(verified.n_rows, 200);

    // Bucketed queries over the purged edge equal the raw rows kept.
    let buckets: Value = operator
        .get(app, &format!("/api/v1/devices/LV-0001/measurements?from=0&to={}&buckets=1", now_s()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(buckets["buckets"][0]["count"], 200, "{buckets}");

    // The audit log keeps every entry it had, plus the purge, and still verifies.
    let audit_after = store.audit_entries(org, 0, 1_000).await.unwrap();
    assert_eq!(&audit_after[..audit_before.len()], &audit_before[..]);
    let purge = audit_after.iter().find(|e| e.action == "retention.purge").expect("the purge is audited");
    assert_eq!(purge.actor, "system:retention");
    assert!(purge.detail.as_deref().unwrap().contains("blocks:2 measurements:200"), "{:?}", purge.detail);
    let head = store.audit_head(org).await.unwrap();
    assert_eq!(logvault_core::audit::verify_chain(org, &audit_after, head), Ok(()));

    // Idempotent: a second run removes nothing and audits nothing.
    let again =
        logvault_server::app::retention::purge(store.as_ref(), None, "system:retention", now_s()).await.unwrap();
    assert!(again.iter().all(|(_, report)| report.devices.is_empty()));
    assert_eq!(store.audit_entries(org, 0, 1_000).await.unwrap().len(), audit_after.len());
});
