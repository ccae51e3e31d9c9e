//! Device ingest through the real server: verified blocks are kept once, anything altered is refused with one
//! answer and leaves nothing behind, and what was kept is readable by the device's organisation only.

use logvault_core::audit::INSTANCE_CHAIN;
use logvault_core::authz::Role;
use logvault_protocol::{Block, Channel, DeviceKey, KeyGeneration, Quantity, ResolutionTable, Sample, Serial};
use logvault_store::{Engine, MeasurementQuery, OrgScope};
use serde_json::{Value, json};

use crate::helpers::{Caller, TestApp, assert_problem, member, sign_in};

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;

/// A block of `n` five-minute temperature samples from `first` on.
pub(crate) fn block(serial: &str, counter: u64, first: i64, n: i64) -> Block {
    let channel = Channel {
        quantity: Quantity::Temperature,
        resolution: ResolutionTable::uniform(-40_000, 100, 125_000).unwrap(),
    };
    let samples = (first..first + n)
        .map(|i| Sample { time: START + i * 300, values: vec![4_000 + i32::try_from(i % 20).unwrap() * 100] })
        .collect();
    Block::new(Serial::parse(serial).unwrap(), counter, vec![channel], samples).unwrap()
}

pub(crate) fn seal(block: &Block, key: &DeviceKey) -> Vec<u8> {
    logvault_protocol::seal(block, key, KeyGeneration(0))
}

/// Registers `serial` in a new organisation "Acme" with an operator; returns (org id, operator, device key).
pub(crate) async fn registered(app: &TestApp, serial: &str) -> (i64, Caller, DeviceKey) {
    let (org, _) = member(app, "Acme", "op@acme.test", Role::Operator).await;
    let operator = sign_in(app, "op@acme.test").await;
    let created: Value = operator
        .post(app, &format!("/api/v1/orgs/{org}/devices"), json!({"serial": serial}))
        .await
        .json()
        .await
        .unwrap();
    let key = DeviceKey::from_hex(created["key_hex"].as_str().unwrap()).unwrap();
    (org, operator, key)
}

async fn post_raw(app: &TestApp, raw: Vec<u8>, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/api/v1/ingest", app.url))
        .header("content-type", "application/octet-stream")
        .body(raw);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

/// Everything ingest could have written: (blocks, measurements, ingest audit entries).
async fn footprint(app: &TestApp, org: i64) -> (usize, usize, usize) {
    let store = &app.server().store;
    let devices = store.devices(&OrgScope::for_operator(org)).await.unwrap();
    let mut blocks = 0;
    let mut values = 0;
    for device in &devices {
        blocks += store.device_chain(device.id).await.unwrap().blocks.len();
        let query = MeasurementQuery { channel: 0, from_s: i64::MIN, to_s: i64::MAX, after: None, limit: 1_000_000 };
        values += store.measurements(&OrgScope::for_operator(org), device.id, query).await.unwrap().len();
    }
    let mut audits = 0;
    for chain in [INSTANCE_CHAIN, org] {
        let entries = store.audit_entries(chain, 0, 1_000_000).await.unwrap();
        audits += entries.iter().filter(|e| e.action.starts_with("ingest.")).count();
    }
    (blocks, values, audits)
}

async fn a_block_is_kept_once_and_read_by_its_organisation_only(engine: Engine) {
    let Some(app) = TestApp::spawn(engine).await else { return };
    let (org, operator, key) = registered(&app, "LV-0001").await;
    let raw = seal(&block("LV-0001", 1, 0, 500), &key);

    for attempt in 0..100 {
        let response = post_raw(&app, raw.clone(), None).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let expected = if attempt == 0 { (500, 0) } else { (0, 500) };
        assert_eq!((body["accepted"].as_u64().unwrap(), body["duplicates"].as_u64().unwrap()), expected, "{body}");
        assert_eq!(body["device"], "LV-0001");
    }
    assert_eq!(footprint(&app, org).await, (1, 500, 0), "stored once");

    // The next scan's window overlaps this one by 400 samples: only the 100 new ones are added.
    let overlapping = seal(&block("LV-0001", 2, 100, 500), &key);
    let body: Value = post_raw(&app, overlapping, None).await.json().await.unwrap();
    assert_eq!((body["accepted"].as_u64(), body["duplicates"].as_u64()), (Some(100), Some(400)));
    assert_eq!(footprint(&app, org).await, (2, 600, 0));

    // Members read it, in pages; another organisation's member gets the 404 of an unknown serial; nobody else.
    let path = "/api/v1/devices/LV-0001/measurements";
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let url = match &cursor {
            Some(cursor) => format!("{path}?limit=250&cursor={cursor}"),
            None => format!("{path}?limit=250"),
        };
        let page: Value = operator.get(&app, &url).await.json().await.unwrap();
        assert_eq!((page["quantity"].as_str(), page["unit"].as_str()), (Some("temperature"), Some("°C")));
        seen.extend(page["measurements"].as_array().unwrap().iter().map(|m| m[0].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (0..600).map(|i| START + i * 300).collect::<Vec<_>>());
    let first: Value = operator.get(&app, &format!("{path}?limit=1")).await.json().await.unwrap();
    assert_eq!(first["measurements"][0], json!([START, 4.0]));
    // A period, as RFC 3339 or Unix seconds: [from, to).
    let hour: Value = operator
        .get(&app, &format!("{path}?from=2026-01-01T01:00:00Z&to={}", START + 7_200))
        .await
        .json()
        .await
        .unwrap();
    let times: Vec<i64> = hour["measurements"].as_array().unwrap().iter().map(|m| m[0].as_i64().unwrap()).collect();
    assert_eq!(times, (12..24).map(|i| START + i * 300).collect::<Vec<_>>());
    let bad = operator.get(&app, &format!("{path}?from=yesterday")).await;
    assert_problem(bad, 422, "validation-failed").await;

    member(&app, "Globex", "gus@globex.test", Role::Owner).await;
    let gus = sign_in(&app, "gus@globex.test").await;
    let foreign = assert_problem(gus.get(&app, path).await, 404, "not-found").await;
    let unknown = assert_problem(gus.get(&app, "/api/v1/devices/LV-9999/measurements").await, 404, "not-found").await;
    assert_eq!(foreign["detail"], unknown["detail"]);
    assert_problem(Caller::anonymous().get(&app, path).await, 401, "unauthorized").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_is_kept_once_and_read_by_its_organisation_only_on_sqlite() {
    a_block_is_kept_once_and_read_by_its_organisation_only(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_is_kept_once_and_read_by_its_organisation_only_on_postgres() {
    a_block_is_kept_once_and_read_by_its_organisation_only(Engine::Postgres).await;
}

async fn every_single_bit_flip_is_refused_and_leaves_only_its_audit_entry(engine: Engine) {
    // Behind a trusted proxy each flip comes from its own address, so the per-address limit does not interfere.
    let trusted = |config: &mut logvault_server::config::Config| {
        config.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    };
    let Some(app) = TestApp::spawn_with(engine, trusted).await else { return };
    let (org, _, key) = registered(&app, "LV-0002").await;
    let raw = seal(&block("LV-0002", 1, 0, 8), &key);
    let before = footprint(&app, org).await;
    let mut problems = std::collections::BTreeSet::new();
    for bit in 0..raw.len() * 8 {
        let mut flipped = raw.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let address = format!("10.{}.{}.{}", bit / 65_536, (bit / 256) % 256, bit % 256);
        let response = post_raw(&app, flipped, Some(&address)).await;
        let mut body = assert_problem(response, 422, "block-rejected").await;
        body.as_object_mut().unwrap().remove("request_id");
        problems.insert(body.to_string());
        let (blocks, values, audits) = footprint(&app, org).await;
        assert_eq!((blocks, values), (before.0, before.1), "bit {bit}: nothing stored");
        assert_eq!(audits, before.2 + bit + 1, "bit {bit}: exactly one audit entry");
    }
    assert_eq!(problems.len(), 1, "one indistinguishable answer: {problems:?}");
    // The untouched block is still accepted.
    assert_eq!(post_raw(&app, raw, Some("10.200.0.1")).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_bit_flip_is_refused_and_leaves_only_its_audit_entry_on_sqlite() {
    every_single_bit_flip_is_refused_and_leaves_only_its_audit_entry(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_bit_flip_is_refused_and_leaves_only_its_audit_entry_on_postgres() {
    every_single_bit_flip_is_refused_and_leaves_only_its_audit_entry(Engine::Postgres).await;
}

async fn a_reused_counter_is_a_security_event_and_forgeries_are_throttled(engine: Engine) {
    let Some(app) = TestApp::spawn(engine).await else { return };
    let (org, _, key) = registered(&app, "LV-0003").await;
    assert_eq!(post_raw(&app, seal(&block("LV-0003", 7, 0, 10), &key), None).await.status(), 200);
    let clone = seal(&block("LV-0003", 7, 50, 10), &key);
    assert_problem(post_raw(&app, clone, None).await, 422, "block-rejected").await;
    let entries = app.server().store.audit_entries(org, 0, 1_000).await.unwrap();
    let event = entries.iter().find(|e| e.action == "ingest.counter_reused").expect("a security event");
    assert_eq!(event.target.as_deref(), Some("device:LV-0003"));
    assert_eq!(footprint(&app, org).await.0, 1, "the clone's block was not kept");

    // A forger's address runs out of its allowance (one already spent on the clone above): its refusals are 429,
    // while a block that verifies is still kept.
    for _ in 0..99 {
        assert_eq!(post_raw(&app, b"not a block".to_vec(), None).await.status(), 422);
    }
    let throttled = post_raw(&app, b"not a block".to_vec(), None).await;
    assert!(throttled.headers().contains_key("retry-after"));
    assert_problem(throttled, 429, "ingest-rate-limited").await;
    assert_eq!(post_raw(&app, seal(&block("LV-0003", 8, 100, 10), &key), None).await.status(), 200);
}

async fn a_counter_that_contradicts_the_block_s_time_is_a_security_event(engine: Engine) {
    let Some(app) = TestApp::spawn(engine).await else { return };
    let (org, _, key) = registered(&app, "LV-0004").await;
    assert_eq!(post_raw(&app, seal(&block("LV-0004", 7, 50, 10), &key), None).await.status(), 200);
    // Delivered late, a lower counter with an earlier window is genuine.
    assert_eq!(post_raw(&app, seal(&block("LV-0004", 6, 40, 10), &key), None).await.status(), 200);
    // A higher counter whose samples all end before counter 7's last one: time went back while the counter went on.
    let implausible = seal(&block("LV-0004", 8, 0, 10), &key);
    assert_problem(post_raw(&app, implausible, None).await, 422, "block-rejected").await;
    let entries = app.server().store.audit_entries(org, 0, 1_000).await.unwrap();
    let event = entries.iter().find(|e| e.action == "ingest.counter_implausible").expect("a security event");
    assert_eq!(event.target.as_deref(), Some("device:LV-0004"));
    assert_eq!(footprint(&app, org).await.0, 2, "the implausible block was not kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_that_contradicts_the_block_s_time_is_a_security_event_on_sqlite() {
    a_counter_that_contradicts_the_block_s_time_is_a_security_event(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_that_contradicts_the_block_s_time_is_a_security_event_on_postgres() {
    a_counter_that_contradicts_the_block_s_time_is_a_security_event(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_counter_is_a_security_event_and_forgeries_are_throttled_on_sqlite() {
    a_reused_counter_is_a_security_event_and_forgeries_are_throttled(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_counter_is_a_security_event_and_forgeries_are_throttled_on_postgres() {
    a_reused_counter_is_a_security_event_and_forgeries_are_throttled(Engine::Postgres).await;
}

async fn links_and_gateway_batches_are_accepted(engine: Engine) {
    let token = "metrics-token-for-ingest-tests-0123456789";
    let with_metrics = |config: &mut logvault_server::config::Config| {
        config.metrics.token = Some(secrecy::SecretString::from(token.to_owned()));
    };
    let Some(app) = TestApp::spawn_with(engine, with_metrics).await else { return };
    let (org, _, key) = registered(&app, "LV-0004").await;
    let link = logvault_protocol::to_link("https://logvault.example.test", &seal(&block("LV-0004", 1, 0, 5), &key));
    let response = app.post("/api/v1/ingest", "text/plain; charset=utf-8", link).await;
    assert_eq!(response.status(), 200);
    let payload = logvault_protocol::to_payload_text(&seal(&block("LV-0004", 2, 5, 5), &key));
    let batch = json!({"blocks": [payload, "AAAA"]}).to_string();
    let response = app.post("/api/v1/ingest", "application/json", batch).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["results"][0]["accepted"], 5);
    assert!(body["results"][1]["rejected"].is_string(), "{body}");
    let logvault_store::DeviceChain { blocks: chain, .. } = app
        .server()
        .store
        .device_chain(app.server().store.devices(&OrgScope::for_operator(org)).await.unwrap()[0].id)
        .await
        .unwrap();
    let sources: Vec<_> = chain.iter().map(|b| b.source.as_str()).collect();
    assert_eq!(sources, ["qr", "gateway"]);
    assert_problem(app.post("/api/v1/ingest", "image/png", "x").await, 415, "unsupported-media-type").await;

    // Every outcome is counted.
    let metrics = app.client.get(format!("{}/metrics", app.url)).bearer_auth(token).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains(r#"logvault_ingest_blocks_total{outcome="stored"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"logvault_ingest_blocks_total{outcome="undecodable"} 1"#), "{metrics}");
    assert!(metrics.contains("logvault_ingest_new_samples_total 10"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_gateway_batches_are_accepted_on_sqlite() {
    links_and_gateway_batches_are_accepted(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_gateway_batches_are_accepted_on_postgres() {
    links_and_gateway_batches_are_accepted(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_page_and_its_script_are_served_under_the_strict_policy() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let page = app.get("/l").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/static/sync.js" defer></script>"#), "{html}");
    assert!(!html.contains("<script>"), "no inline script");
    let script = app.get("/static/sync.js").await;
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let script = script.text().await.unwrap();
    assert!(script.contains(r#"fetch("/api/v1/ingest""#) && script.contains("location.hash"), "{script}");
    assert_eq!(app.get("/static/sync.css").await.headers()["content-type"], "text/css; charset=utf-8");
}
