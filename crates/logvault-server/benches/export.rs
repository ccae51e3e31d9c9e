//! CSV export benchmark: one device holding 1,000,000 one-minute samples, exported over HTTPS from a real server, on
//! each engine. It reports what the export issue promises and a demanding user would check:
//!
//! - **memory**: the process's resident set growth while the export runs (peak RSS, reset through
//!   `/proc/self/clear_refs` just before, minus RSS before), for 10,000 rows and for 1,000,000 rows, and for the
//!   1,000,000 again once the database's bounded caches (SQLite: 2 MiB of pages per pooled connection) are filled —
//!   a streamed export stays within a few MiB whatever its length; the CSV itself is 27 MiB;
//! - **streaming**: the time to the first byte against the time to the last (the first bytes leave long before the
//!   store has read the last row);
//! - **throughput**: against the baseline of paging the very same rows out of the store with no formatting, hashing or
//!   HTTP, measured in the same run.
//!
//! `cargo bench -p logvault-server --bench export` (SQLite; PostgreSQL too when `LOGVAULT_TEST_DATABASE_URL` names an
//! admin URL). Prints a Markdown table for docs/PERFORMANCE.md. Never used as a pass/fail gate: machines are noisy.
//! The server runs in this process, so the client's own buffers (one chunk at a time) are part of the growth.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark: a failure is a crash with its message")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use logvault_core::authz::Role;
use logvault_core::blockchain::Source;
use logvault_core::{Email, OrgName};
use logvault_server::config::Config;
use logvault_store::testing::PgTestDb;
use logvault_store::{Engine, IncomingBlock, IncomingSample, IngestOutcome, MeasurementQuery, OrgScope};

const ROWS: i64 = 1_000_000;
const SMALL_ROWS: i64 = 10_000;
const SAMPLES_PER_BLOCK: i64 = 10_000;
/// 2024-01-01T00:00:00Z: a million minutes later is still in the past.
const START: i64 = 1_704_067_200;

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resets the peak resident set (`VmHWM`) to the current one.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

struct Export {
    rows: i64,
    bytes: usize,
    first_byte: Duration,
    total: Duration,
    growth_kib: u64,
    body: Option<Vec<u8>>,
}

/// Exports the first `rows` minutes as CSV, reading the body chunk by chunk; keeps the body only if `keep`.
async fn export(client: &reqwest::Client, url: &str, token: &str, rows: i64, keep: bool) -> Export {
    let before = status_kib("VmRSS");
    reset_peak();
    let started = Instant::now();
    let response = client
        .get(format!("{url}/api/v1/devices/BENCH-1/export?format=csv&from={START}&to={}", START + rows * 60))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut first_byte = None;
    let mut bytes = 0;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        first_byte.get_or_insert_with(|| started.elapsed());
        bytes += chunk.len();
        if keep {
            body.extend_from_slice(&chunk);
        }
    }
    let total = started.elapsed();
    let growth_kib = status_kib("VmHWM").saturating_sub(before);
    Export { rows, bytes, first_byte: first_byte.unwrap(), total, growth_kib, body: keep.then_some(body) }
}

struct Run {
    engine: Engine,
    small: Export,
    large: Export,
    repeat: Export,
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
    let (device, _) =
        logvault_server::app::devices::register(store.as_ref(), &wrap, &scope, "BENCH-1", None, None, None)
            .await
            .unwrap();
    let user = store.create_user(&Email::parse("qa@bench.test").unwrap(), "QA", None, 1).await.unwrap();
    store.add_member(&scope, user.id, Role::Viewer, 1).await.unwrap();
    let (secret, record) = logvault_server::app::tokens::mint(user.id, "bench".to_owned(), Role::Viewer, 1).unwrap();
    store.create_api_token(&scope, record).await.unwrap();

    // The fixture: a million rows kept through the store (ingest's own path, without the HTTP and crypto in front).
    let fixture = Instant::now();
    for (i, first) in (0..ROWS).step_by(usize::try_from(SAMPLES_PER_BLOCK).unwrap()).enumerate() {
        let counter = i64::try_from(i).unwrap() + 1;
        let samples = (first..first + SAMPLES_PER_BLOCK)
            .map(|m| IncomingSample { t_s: START + m * 60, values: vec![4_000 + i32::try_from(m % 40).unwrap() * 25] })
            .collect();
        let block = IncomingBlock {
            device_id: device.id,
            serial: "BENCH-1".to_owned(),
            counter,
            key_generation: 0,
            raw: format!("bench block {counter}").into_bytes(),
            received_at_us: counter,
            source: Source::Api,
            channel_layout: "temperature".to_owned(),
            samples,
        };
        let outcome = store.store_block(block).await.unwrap();
        assert!(matches!(outcome, IngestOutcome::Stored { .. }), "{outcome:?}");
    }
    eprintln!("{engine:?}: {ROWS} rows stored in {:.1} s", fixture.elapsed().as_secs_f64());

    let pem = server.certificate_pem.clone().unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let url = server.url();
    // A warm-up, so that the first measured export does not pay for pools and caches.
    export(&client, &url, secret.expose(), 1_000, false).await;
    let small = export(&client, &url, secret.expose(), SMALL_ROWS, false).await;
    let large = export(&client, &url, secret.expose(), ROWS, false).await;
    // Again: what the first full read left in the database's bounded caches is now in place, so this growth is the
    // export's own.
    let repeat = export(&client, &url, secret.expose(), ROWS, false).await;

    // The export is what it claims: every row, signed (checked on another export, so that holding the body here
    // is not counted as the server's memory).
    let kept = export(&client, &url, secret.expose(), ROWS, true).await;
    let body = kept.body.as_deref().unwrap();
    let verified = logvault_export::verify_export(body, None).unwrap();
    assert_eq!(verified.n_rows, u64::try_from(ROWS).unwrap());

    // The baseline: the same rows paged out of the store as the export reads them, and nothing else.
    let started = Instant::now();
    let mut after = None;
    let mut read = 0;
    loop {
        let query = MeasurementQuery { channel: 0, from_s: START, to_s: START + ROWS * 60, after, limit: 10_000 };
        let page = store.measurements(&scope, device.id, query).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.t_s, last.ordinal));
        read += page.len();
    }
    let baseline = started.elapsed();
    assert_eq!(read, usize::try_from(ROWS).unwrap());

    server.shutdown().await.unwrap();
    drop(postgres);
    Some(Run { engine, small, large, repeat, baseline })
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut runs = Vec::new();
    for engine in [Engine::Sqlite, Engine::Postgres] {
        match runtime.block_on(run(engine)) {
            Some(run) => runs.push(run),
            None => eprintln!("{engine:?}: skipped (no LOGVAULT_TEST_DATABASE_URL)"),
        }
    }
    println!(
        "| engine | export | rows | CSV bytes | RSS growth | first byte | last byte | rows/s | store paging alone | \
         export ÷ paging |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in &runs {
        for (label, export) in [("first", &run.small), ("first", &run.large), ("repeated", &run.repeat)] {
            let is_large = export.rows == ROWS;
            println!(
                "| {:?} | {label} | {} | {:.1} MiB | {:.1} MiB | {:.1} ms | {:.0} ms | {:.0} | {} | {} |",
                run.engine,
                export.rows,
                export.bytes as f64 / 1_048_576.0,
                export.growth_kib as f64 / 1_024.0,
                export.first_byte.as_secs_f64() * 1_000.0,
                export.total.as_secs_f64() * 1_000.0,
                export.rows as f64 / export.total.as_secs_f64(),
                if is_large { format!("{:.0} ms", run.baseline.as_secs_f64() * 1_000.0) } else { "".to_owned() },
                if is_large {
                    format!("{:.2}×", export.total.as_secs_f64() / run.baseline.as_secs_f64())
                } else {
                    "".to_owned()
                },
            );
        }
        println!(
            "| {:?} | first byte ÷ last byte of 1,000,000 rows: {:.4} | | | | | | | | |",
            run.engine,
            run.large.first_byte.as_secs_f64() / run.large.total.as_secs_f64(),
        );
    }
}
