//! Ingest rules found by outside testing (issue 14): the logger model's memory bounds a block, a block already kept
//! is a duplicate even after a key rotation, audit reasons say what really happened, and a channel the device does
//! not have is a 422.

use logvault_core::authz::Role;
use logvault_protocol::{DeviceKey, Envelope, KeyGeneration};
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Caller, PASSWORD, TestApp, assert_problem, member, sign_in};
use crate::ingest::block;

async fn post_raw(app: &TestApp, raw: Vec<u8>) -> reqwest::Response {
    app.post("/api/v1/ingest", "application/octet-stream", raw).await
}

/// Registers `serial` (optionally with a logger model) in organisation "Rules" with an owner; returns (org, owner,
/// key).
async fn owned_device(app: &TestApp, serial: &str, model: Option<Value>) -> (i64, Caller, DeviceKey) {
    let (org, _) = member(app, "Rules", "owner@rules.test", Role::Owner).await;
    let owner = sign_in(app, "owner@rules.test").await;
    let mut body = json!({"serial": serial});
    if let Some(model) = model {
        body["model"] = model;
    }
    let created = owner.post(app, &format!("/api/v1/orgs/{org}/devices"), body).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    (org, owner, DeviceKey::from_hex(created["key_hex"].as_str().unwrap()).unwrap())
}

/// The `reason:` details of the organisation's ingest audit entries, in order.
async fn ingest_reasons(app: &TestApp, chain: i64) -> Vec<String> {
    let entries = app.server().store.audit_entries(chain, 0, 10_000).await.unwrap();
    entries.iter().filter(|e| e.action.starts_with("ingest.")).filter_map(|e| e.detail.clone()).collect()
}

fn model(capacity: u32) -> Value {
    json!({
        "channels": [{"quantity": "temperature", "lowest": -40_000, "ranges": [[100, 125_000]]}],
        "memory": {"mode": "overwrite_oldest", "capacity": capacity},
        "interval_s": 300,
    })
}

both_engines!(a_block_never_holds_more_samples_than_its_logger_s_memory, async |app: &TestApp| {
    let (org, _, key) = owned_device(app, "CAP-0001", Some(model(100))).await;
    let seal = |counter, n| logvault_protocol::seal(&block("CAP-0001", counter, 0, n), &key, KeyGeneration(0));
    assert_problem(post_raw(app, seal(1, 101)).await, 422, "block-rejected").await;
    assert_eq!(ingest_reasons(app, org).await, ["reason:memory-capacity-exceeded"]);
    let full = post_raw(app, seal(2, 100)).await;
    assert_eq!(full.status(), 200);
    assert_eq!(full.json::<Value>().await.unwrap()["accepted"], 100);
});

both_engines!(a_block_kept_before_a_key_rotation_is_a_duplicate_after_it_and_adds_nothing, async |app: &TestApp| {
    let (org, owner, first_key) = owned_device(app, "ROT-0001", None).await;
    let old =
        |counter, first| logvault_protocol::seal(&block("ROT-0001", counter, first, 10), &first_key, KeyGeneration(0));
    let kept = old(1, 0);
    assert_eq!(post_raw(app, kept.clone()).await.status(), 200);

    let rotate = json!({"password": PASSWORD, "reason": "rotation after a staff change"});
    let rotated = owner.post(app, &format!("/api/v1/orgs/{org}/devices/ROT-0001/keys"), rotate).await;
    assert_eq!(rotated.status(), 201);

    // The QR code shown before the rotation, scanned again: the same 200, every sample a duplicate.
    for _ in 0..3 {
        let again = post_raw(app, kept.clone()).await;
        assert_eq!(again.status(), 200);
        let body: Value = again.json().await.unwrap();
        assert_eq!((body["accepted"].as_u64(), body["duplicates"].as_u64()), (Some(0), Some(10)), "{body}");
    }
    // A new block of the retired generation adds nothing.
    assert_problem(post_raw(app, old(2, 10)).await, 422, "block-rejected").await;
    assert_eq!(ingest_reasons(app, org).await, ["reason:retired-key"]);
    let device = app.server().store.device_org("ROT-0001").await.unwrap();
    assert_eq!(device, Some(org));
});

both_engines!(audit_reasons_say_what_really_happened_and_land_in_the_device_s_organisation, async |app: &TestApp| {
    let (org, _, key) = owned_device(app, "AUD-0001", None).await;
    let block = block("AUD-0001", 1, 0, 5);

    // Authentic (the right key) around a malformed plaintext: not a forgery.
    let mut plaintext = logvault_protocol::encode_plaintext(&block);
    plaintext.push(0);
    let malformed = logvault_protocol::seal_plaintext(block.serial(), 1, &plaintext, &key, KeyGeneration(0));
    assert!(Envelope::parse(&malformed).unwrap().verify(&key).is_ok());
    let answer_malformed = assert_problem(post_raw(app, malformed).await, 422, "block-rejected").await;

    // A forgery: the wrong key.
    let forged = logvault_protocol::seal(&block, &DeviceKey::from_bytes([9; 16]), KeyGeneration(0));
    let answer_forged = assert_problem(post_raw(app, forged).await, 422, "block-rejected").await;

    // Version 2 with a valid tag for a registered serial: the header fails, yet the serial's organisation hears of it.
    let mut version_2 = logvault_protocol::seal(&block, &key, KeyGeneration(0));
    version_2[0] = 2;
    assert_problem(post_raw(app, version_2).await, 422, "block-rejected").await;

    assert_eq!(
        ingest_reasons(app, org).await,
        ["reason:malformed", "reason:authentication-failed", "reason:undecodable"]
    );
    let entries = app.server().store.audit_entries(org, 0, 1_000).await.unwrap();
    assert!(
        entries
            .iter()
            .filter(|e| e.action.starts_with("ingest."))
            .all(|e| e.target.as_deref() == Some("device:AUD-0001"))
    );
    // The answers stay one and the same.
    assert_eq!(answer_malformed["detail"], answer_forged["detail"]);
    assert_eq!(answer_malformed["type"], answer_forged["type"]);
});

both_engines!(
    a_channel_the_device_does_not_have_is_refused_as_statistics_and_export_refuse_it,
    async |app: &TestApp| {
        let (_, owner, key) = owned_device(app, "CHN-0001", None).await;
        let raw = logvault_protocol::seal(&block("CHN-0001", 1, 0, 5), &key, KeyGeneration(0));
        assert_eq!(post_raw(app, raw).await.status(), 200);
        let path = "/api/v1/devices/CHN-0001";
        let ok = owner.get(app, &format!("{path}/measurements?channel=0")).await;
        assert_eq!(ok.status(), 200);
        for channel in ["7", "1", "-1"] {
            let measurements = owner.get(app, &format!("{path}/measurements?channel={channel}")).await;
            assert_problem(measurements, 422, "validation-failed").await;
        }
        let period = "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z";
        let statistics = owner.get(app, &format!("{path}/statistics?{period}&channel=7")).await;
        assert_problem(statistics, 422, "validation-failed").await;
    }
);

both_engines!(a_block_that_verifies_is_accepted_after_a_hundred_forgeries_from_its_address, async |app: &TestApp| {
    let (org, _, key) = owned_device(app, "NAT-0001", None).await;
    let genuine =
        |counter, first| logvault_protocol::seal(&block("NAT-0001", counter, first, 10), &key, KeyGeneration(0));
    let forged_key = DeviceKey::from_bytes([7; 16]);
    let forged = |counter| logvault_protocol::seal(&block("NAT-0001", counter, 0, 10), &forged_key, KeyGeneration(0));
    let unknown = |counter| logvault_protocol::seal(&block("NAT-9999", counter, 0, 10), &forged_key, KeyGeneration(0));
    // Someone else behind the same address: forgeries of a registered serial and blocks of unknown serials (the
    // dummy-MAC work), 60 + 60: the first 100 spend the day's allowance, the rest are 429.
    for counter in 1..=60 {
        let expected = if counter <= 50 { 422 } else { 429 };
        assert_eq!(post_raw(app, forged(counter)).await.status(), expected);
        assert_eq!(post_raw(app, unknown(counter)).await.status(), expected);
    }
    let throttled = post_raw(app, forged(61)).await;
    assert!(throttled.headers().contains_key("retry-after"));
    let problem = assert_problem(throttled, 429, "ingest-rate-limited").await;
    let said = format!("{} {}", problem["title"], problem["detail"]).to_lowercase();
    assert!(said.contains("refused blocks") && !said.contains("sign"), "{problem}");

    // The logger's own blocks are still kept: alone, as a link, and in a gateway batch beside a forgery.
    let kept = post_raw(app, genuine(1, 0)).await;
    assert_eq!(kept.status(), 200);
    assert_eq!(kept.json::<Value>().await.unwrap()["accepted"], 10);
    let link = logvault_protocol::to_link("https://logvault.example.test", &genuine(2, 10));
    assert_eq!(app.post("/api/v1/ingest", "text/plain", link).await.status(), 200);
    let batch = json!({"blocks": [
        logvault_protocol::to_payload_text(&genuine(3, 20)),
        logvault_protocol::to_payload_text(&forged(62)),
    ]});
    let answer = app.post("/api/v1/ingest", "application/json", batch.to_string()).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["results"][0]["accepted"], 10, "{answer}");
    assert!(answer["results"][1]["rejected"].as_str().unwrap().contains("too many refused blocks"), "{answer}");

    // Only the allowance's refusals were audited one by one: a flood past it does not fill the audit trail.
    let refused_here = ingest_reasons(app, org).await;
    let refused_anywhere = refused_here.len()
        + app
            .server()
            .store
            .audit_entries(logvault_core::audit::INSTANCE_CHAIN, 0, 10_000)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.action.starts_with("ingest."))
            .count();
    assert_eq!(refused_anywhere, 100);
    assert!(refused_here.iter().all(|reason| reason == "reason:authentication-failed"), "{refused_here:?}");
});
