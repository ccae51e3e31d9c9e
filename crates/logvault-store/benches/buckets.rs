//! Bucketed-query benchmark: a year of 1-minute data (525,600 measurements) ingested through the real store, then
//! queried into 1,000 buckets from the rollups, against a raw SQL `GROUP BY` computing the same min/max/sum/count
//! per bucket over the same rows, measured in the same run on the same database.
//!
//! `cargo bench -p logvault-store --bench buckets` (SQLite; PostgreSQL too when `LOGVAULT_TEST_DATABASE_URL` names an
//! admin URL). Prints a Markdown table for docs/PERFORMANCE.md. Never used as a pass/fail gate: machines are noisy.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark: a failure is a crash with its message")]

use std::time::{Duration, Instant};

use logvault_core::OrgName;
use logvault_core::blockchain::Source;
use logvault_store::testing::{RawPool, TestDatabase};
use logvault_store::{Bucket, BucketQuery, Engine, IncomingBlock, IncomingSample, NewDevice, OrgScope};

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;
const N_MEASUREMENTS: i64 = 525_600;
const SAMPLES_PER_BLOCK: i64 = 1_440;
const BLOCKS_PER_COMMIT: usize = 8;
const N_BUCKETS: u32 = 1_000;
const RUNS: usize = 9;

/// A raw `GROUP BY` bucket: `(index, min, max, sum, count)`.
type RawBucket = (i64, i32, i32, i64, i64);

fn block(device_id: i64, counter: i64) -> IncomingBlock {
    let first = (counter - 1) * SAMPLES_PER_BLOCK;
    let samples = (first..first + SAMPLES_PER_BLOCK)
        .map(|i| IncomingSample {
            t_s: START + i * 60,
            values: vec![4_000 + i32::try_from(i % 97).unwrap() * 50 - 2_000],
        })
        .collect();
    IncomingBlock {
        device_id,
        serial: "LV-BENCH".to_owned(),
        counter,
        key_generation: 0,
        raw: format!("bench block {counter}").into_bytes(),
        received_at_us: counter,
        source: Source::Api,
        channel_layout: "temperature".to_owned(),
        samples,
    }
}

async fn raw_group_by(
    raw: &RawPool,
    device_id: i64,
    query: BucketQuery,
    origin_s: i64,
    width_s: i64,
) -> Vec<RawBucket> {
    match raw {
        RawPool::Sqlite(pool) => sqlx::query_as(
            "SELECT (t_s - ?) / ? AS idx, MIN(value), MAX(value), SUM(value), COUNT(*) FROM measurements \
             WHERE device_id = ? AND channel = ? AND t_s >= ? AND t_s < ? GROUP BY idx ORDER BY idx",
        )
        .bind(origin_s)
        .bind(width_s)
        .bind(device_id)
        .bind(query.channel)
        .bind(query.from_s)
        .bind(query.to_s)
        .fetch_all(pool)
        .await
        .unwrap(),
        RawPool::Postgres(pool) => sqlx::query_as(
            "SELECT (t_s - $1) / $2 AS idx, MIN(value), MAX(value), SUM(value)::BIGINT, COUNT(*) FROM measurements \
             WHERE device_id = $3 AND channel = $4 AND t_s >= $5 AND t_s < $6 GROUP BY idx ORDER BY idx",
        )
        .bind(origin_s)
        .bind(width_s)
        .bind(device_id)
        .bind(query.channel)
        .bind(query.from_s)
        .bind(query.to_s)
        .fetch_all(pool)
        .await
        .unwrap(),
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

struct Row {
    engine: Engine,
    case: &'static str,
    ingest: Duration,
    n_buckets: usize,
    bucketed: Duration,
    raw: Duration,
}

async fn run(engine: Engine) -> Vec<Row> {
    let Some(db) = TestDatabase::new(engine).await else { return Vec::new() };
    let org = db.store.create_organisation(&OrgName::parse("Bench").unwrap()).await.unwrap();
    let scope = OrgScope::for_operator(org.id);
    let new = NewDevice {
        serial: "LV-BENCH".to_owned(),
        name: "Bench".to_owned(),
        site_id: None,
        model: None,
        key_sealed: vec![1],
        now_us: 1,
    };
    let device_id = db.store.create_device(&scope, new).await.unwrap().id;
    let blocks: Vec<IncomingBlock> = (1..=N_MEASUREMENTS / SAMPLES_PER_BLOCK).map(|c| block(device_id, c)).collect();
    let started = Instant::now();
    for group in blocks.chunks(BLOCKS_PER_COMMIT) {
        for result in db.store.store_blocks(group.to_vec()).await.unwrap() {
            result.unwrap();
        }
    }
    let ingest = started.elapsed();
    let raw = db.raw_pool().await;
    let end = START + N_MEASUREMENTS * 60;
    let mut rows = Vec::new();
    for (case, from_s, to_s) in [("aligned year", START, end), ("unaligned bounds", START + 17, end - 1_234)] {
        let query = BucketQuery { channel: 0, from_s, to_s, n_buckets: N_BUCKETS };
        let mut bucketed_times = Vec::new();
        let mut buckets: Vec<Bucket> = Vec::new();
        for _ in 0..RUNS {
            let started = Instant::now();
            buckets = db.store.measurement_buckets(&scope, device_id, query).await.unwrap();
            bucketed_times.push(started.elapsed());
        }
        // The grid the store chose, read off a full bucket.
        let width_s = buckets[1].end_s - buckets[1].start_s;
        let origin_s = buckets[1].start_s - width_s;
        let mut raw_times = Vec::new();
        let mut grouped = Vec::new();
        for _ in 0..RUNS {
            let started = Instant::now();
            grouped = raw_group_by(&raw, device_id, query, origin_s, width_s).await;
            raw_times.push(started.elapsed());
        }
        let same: Vec<RawBucket> =
            buckets.iter().map(|b| ((b.start_s - origin_s) / width_s, b.min, b.max, b.sum, b.count)).collect();
        assert_eq!(same, grouped, "{engine:?} {case}: the rollups must equal the raw aggregate");
        assert_eq!(buckets.iter().map(|b| b.count).sum::<i64>(), grouped.iter().map(|g| g.4).sum::<i64>());
        rows.push(Row {
            engine,
            case,
            ingest,
            n_buckets: buckets.len(),
            bucketed: median(bucketed_times),
            raw: median(raw_times),
        });
    }
    db.store.close().await;
    raw.close().await;
    rows
}

#[tokio::main]
async fn main() {
    let mut rows = run(Engine::Sqlite).await;
    rows.extend(run(Engine::Postgres).await);
    println!(
        "| engine | query | ingest (measurements/s) | buckets | bucketed query (ms) | raw GROUP BY (ms) | raw ÷ bucketed |"
    );
    println!("|---|---|--:|--:|--:|--:|--:|");
    for row in rows {
        let per_s = N_MEASUREMENTS as f64 / row.ingest.as_secs_f64();
        println!(
            "| {:?} | {} | {:.0} | {} | {:.2} | {:.2} | {:.0}× |",
            row.engine,
            row.case,
            per_s,
            row.n_buckets,
            row.bucketed.as_secs_f64() * 1_000.0,
            row.raw.as_secs_f64() * 1_000.0,
            row.raw.as_secs_f64() / row.bucketed.as_secs_f64(),
        );
    }
}
