//! End-to-end ingest benchmark: a real server over HTTPS, concurrent clients each posting blocks of 500 samples for
//! their own device, against the baseline of inserting the very same rows into the same engine with plain batched
//! statements (one transaction per block, the same concurrency), measured in the same run.
//!
//! `cargo bench -p logvault-server --bench ingest` (SQLite; PostgreSQL too when `LOGVAULT_TEST_DATABASE_URL` names an
//! admin URL). Prints a Markdown table for docs/PERFORMANCE.md. Never used as a pass/fail gate: machines are noisy.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark: a failure is a crash with its message")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use logvault_core::OrgName;
use logvault_protocol::{Block, Channel, DeviceKey, KeyGeneration, Quantity, ResolutionTable, Sample, Serial};
use logvault_server::config::Config;
use logvault_store::testing::{PgTestDb, RawPool};
use logvault_store::{Engine, OrgScope};

const CLIENTS: usize = 8;
const BLOCKS_PER_CLIENT: u64 = 25;
const SAMPLES_PER_BLOCK: i64 = 500;
/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;

fn block(serial: &str, counter: u64) -> Block {
    let channel = Channel {
        quantity: Quantity::Temperature,
        resolution: ResolutionTable::uniform(-40_000, 100, 125_000).unwrap(),
    };
    let first = i64::try_from(counter - 1).unwrap() * SAMPLES_PER_BLOCK;
    let samples = (first..first + SAMPLES_PER_BLOCK)
        .map(|i| Sample { time: START + i * 60, values: vec![4_000 + i32::try_from(i % 40).unwrap() * 100] })
        .collect();
    Block::new(Serial::parse(serial).unwrap(), counter, vec![channel], samples).unwrap()
}

struct Run {
    engine: Engine,
    measurements: u64,
    ingest: Duration,
    baseline: Duration,
}

async fn run(engine: Engine) -> Option<Run> {
    let data_dir = tempfile::tempdir().unwrap();
    let postgres = match engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(PgTestDb::create().await?),
    };
    let config = Config {
        data_dir: data_dir.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: postgres.as_ref().map(|db| db.url().clone()),
        ..Config::default()
    };
    let server = logvault_server::start(&config).await.unwrap();
    let store = Arc::clone(&server.store);
    let organisation = store.create_organisation(&OrgName::parse("Bench").unwrap()).await.unwrap();
    let scope = OrgScope::for_operator(organisation.id);
    let master = logvault_core::MasterKey::load(&config.data_dir.join("master.key")).unwrap();
    let wrap = master.derive(logvault_core::custody::DATA_KEY_WRAP_PURPOSE);

    // Every block sealed before the clock starts.
    let mut per_client = Vec::new();
    for client in 0..CLIENTS {
        let serial = format!("BENCH-{client}");
        let (_, key) =
            logvault_server::app::devices::register(store.as_ref(), &wrap, &scope, &serial, None, None, None)
                .await
                .unwrap();
        let key = DeviceKey::from_bytes(*key);
        let blocks: Vec<Vec<u8>> = (1..=BLOCKS_PER_CLIENT)
            .map(|counter| logvault_protocol::seal(&block(&serial, counter), &key, KeyGeneration(0)))
            .collect();
        per_client.push(blocks);
    }
    let pem = server.certificate_pem.clone().unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("{}/api/v1/ingest", server.url());

    let started = Instant::now();
    let mut tasks = Vec::new();
    for blocks in per_client {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            for raw in blocks {
                let response = client
                    .post(&url)
                    .header("content-type", "application/octet-stream")
                    .body(raw)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let body: serde_json::Value = response.json().await.unwrap();
                accepted += body["accepted"].as_u64().unwrap();
            }
            accepted
        }));
    }
    let mut measurements = 0;
    for task in tasks {
        measurements += task.await.unwrap();
    }
    let ingest = started.elapsed();
    assert_eq!(measurements, CLIENTS as u64 * BLOCKS_PER_CLIENT * u64::try_from(SAMPLES_PER_BLOCK).unwrap());

    // The baseline: the same rows, one transaction per block, the same concurrency, plain multi-row inserts.
    let raw = RawPool::open_beside(&config.data_dir, config.database_url.as_ref()).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let raw = raw.clone();
        tasks.push(tokio::spawn(async move {
            for counter in 1..=BLOCKS_PER_CLIENT {
                let block_id = i64::try_from(client).unwrap() * 1_000 + i64::try_from(counter).unwrap();
                let rows: Vec<_> = block("BENCH-0", counter)
                    .samples()
                    .iter()
                    .map(|s| (i64::try_from(client).unwrap(), s.time, 0, 0, s.values[0], block_id))
                    .collect();
                raw.insert_baseline_rows(&rows).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let baseline = started.elapsed();
    raw.close().await;
    server.shutdown().await.unwrap();
    drop(postgres);
    Some(Run { engine, measurements, ingest, baseline })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    println!(
        "{CLIENTS} concurrent clients × {BLOCKS_PER_CLIENT} blocks × {SAMPLES_PER_BLOCK} samples, HTTPS, durable commits\n"
    );
    println!("| engine | ingest (measurements/s) | baseline: batched insert (rows/s) | ingest ÷ baseline |");
    println!("|---|--:|--:|--:|");
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let Some(run) = run(engine).await else {
            println!("| {engine:?} | skipped (set LOGVAULT_TEST_DATABASE_URL) | | |");
            continue;
        };
        let per_second = |d: Duration| run.measurements as f64 / d.as_secs_f64();
        println!(
            "| {:?} | {:.0} | {:.0} | {:.2} |",
            run.engine,
            per_second(run.ingest),
            per_second(run.baseline),
            run.baseline.as_secs_f64() / run.ingest.as_secs_f64()
        );
    }
}
