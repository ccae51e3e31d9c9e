//! Rollups and bucketed queries on both engines: every bucket equals the aggregate of the raw rows between its
//! boundaries — for random series and at each edge case — the migration's backfill equals the raw rows, rollups only
//! grow, and another organisation sees nothing.

use std::collections::BTreeMap;

use logvault_core::OrgName;
use logvault_core::blockchain::Source;
use logvault_store::testing::{RawPool, TestDatabase, engines};
use logvault_store::{
    Bucket, BucketQuery, Engine, IncomingBlock, IncomingSample, MeasurementQuery, NewDevice, OrgScope, conformance,
};

/// A small, seeded generator (SplitMix64): the random cases are the same in every run, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[low, high]`.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        let span = u64::try_from(high - low).unwrap() + 1;
        low + i64::try_from(self.next() % span).unwrap()
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

/// One sample: time and one value per channel (temperature, humidity).
type Sample = (i64, [i32; 2]);

async fn device(db: &TestDatabase, scope: &OrgScope, serial: &str) -> i64 {
    let new = NewDevice {
        serial: serial.to_owned(),
        name: "Fridge".to_owned(),
        site_id: None,
        model: None,
        key_sealed: vec![1],
        now_us: 1,
    };
    db.store.create_device(scope, new).await.unwrap().id
}

async fn organisation(db: &TestDatabase, name: &str) -> OrgScope {
    let org = db.store.create_organisation(&OrgName::parse(name).unwrap()).await.unwrap();
    OrgScope::for_operator(org.id)
}

fn block(device_id: i64, serial: &str, counter: i64, samples: &[Sample]) -> IncomingBlock {
    IncomingBlock {
        device_id,
        serial: serial.to_owned(),
        counter,
        key_generation: 0,
        raw: format!("raw block {serial} {counter}").into_bytes(),
        received_at_us: counter,
        source: Source::Api,
        channel_layout: "temperature,relative_humidity".to_owned(),
        samples: samples.iter().map(|(t_s, values)| IncomingSample { t_s: *t_s, values: values.to_vec() }).collect(),
    }
}

/// Stores `samples` in one block each of at most 1,000.
async fn store(db: &TestDatabase, device_id: i64, serial: &str, samples: &[Sample]) {
    for (i, chunk) in samples.chunks(1_000).enumerate() {
        let counter = i64::try_from(i).unwrap() + 1;
        db.store.store_block(block(device_id, serial, counter, chunk)).await.unwrap();
    }
}

/// The aggregate of the values of `channel` with `start_s <= t_s < end_s`, computed from the series itself.
fn raw_bucket(samples: &[Sample], channel: usize, start_s: i64, end_s: i64) -> Option<Bucket> {
    let values: Vec<i32> =
        samples.iter().filter(|(t_s, _)| (start_s..end_s).contains(t_s)).map(|(_, values)| values[channel]).collect();
    Some(Bucket {
        start_s,
        end_s,
        count: i64::try_from(values.len()).unwrap(),
        min: *values.iter().min()?,
        max: *values.iter().max()?,
        sum: values.iter().map(|v| i64::from(*v)).sum(),
    })
}

/// The property: buckets are ordered, disjoint, inside the range, at most as many as asked for, of one width except
/// where cut at `from`/`to`, each exactly the raw aggregate between its boundaries, and together they hold every
/// value of the range.
fn assert_exact(samples: &[Sample], query: BucketQuery, buckets: &[Bucket]) {
    let channel = usize::try_from(query.channel).unwrap();
    let context = format!("{query:?} → {buckets:?}");
    assert!(buckets.len() <= usize::try_from(query.n_buckets.max(1)).unwrap(), "too many buckets: {context}");
    let width = buckets.iter().map(|b| b.end_s - b.start_s).max().unwrap_or(0);
    let mut previous_end = query.from_s;
    for bucket in buckets {
        assert!(previous_end <= bucket.start_s && bucket.start_s < bucket.end_s, "{context}");
        assert!(bucket.end_s <= query.to_s, "{context}");
        if bucket.start_s != query.from_s && bucket.end_s != query.to_s {
            assert_eq!(bucket.end_s - bucket.start_s, width, "one width: {context}");
        }
        assert_eq!(Some(*bucket), raw_bucket(samples, channel, bucket.start_s, bucket.end_s), "{context}");
        previous_end = bucket.end_s;
    }
    let in_range = raw_bucket(samples, channel, query.from_s, query.to_s).map_or(0, |all| all.count);
    assert_eq!(buckets.iter().map(|b| b.count).sum::<i64>(), in_range, "every value counted: {context}");
}

async fn check(db: &TestDatabase, scope: &OrgScope, device_id: i64, samples: &[Sample], query: BucketQuery) {
    let buckets = db.store.measurement_buckets(scope, device_id, query).await.unwrap();
    assert_exact(samples, query, &buckets);
}

/// A random series: irregular steps (often several samples in one second, sometimes gaps of days), negative values,
/// a start anywhere from before 1970 to 2033. Samples sharing a second differ, so the stored rows are the series
/// whatever the block windows (two identical samples of one second split across windows are one sample to ingest).
fn random_series(rng: &mut Rng) -> Vec<Sample> {
    let n = rng.range(1, 900);
    let mut t_s = rng.range(-200_000, 2_000_000_000);
    let mut series: Vec<Sample> = Vec::new();
    for _ in 0..n {
        if !rng.chance(4) {
            t_s += if rng.chance(30) { rng.range(3_600, 3 * 86_400) } else { rng.range(1, 240) };
        }
        let mut values =
            [i32::try_from(rng.range(-40_000, 125_000)).unwrap(), i32::try_from(rng.range(0, 100_000)).unwrap()];
        while series.iter().rev().take_while(|(t, _)| *t == t_s).any(|(_, v)| *v == values) {
            values[0] += 1;
        }
        series.push((t_s, values));
    }
    series
}

/// Sends the series as overlapping windows — some re-sent whole under a new counter — alone or several together.
async fn send_overlapping(db: &TestDatabase, rng: &mut Rng, device_id: i64, serial: &str, series: &[Sample]) {
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < series.len() {
        let end = (start + usize::try_from(rng.range(1, 200)).unwrap()).min(series.len());
        let counter = i64::try_from(blocks.len()).unwrap() + 1;
        blocks.push(block(device_id, serial, counter, &series[start..end]));
        if rng.chance(5) {
            blocks.push(block(device_id, serial, counter + 1, &series[start..end]));
        }
        let overlap = usize::try_from(rng.range(0, 30)).unwrap().min(end - start - 1);
        start = if end == series.len() { end } else { end - overlap };
    }
    while !blocks.is_empty() {
        let take = usize::try_from(rng.range(1, 4)).unwrap().min(blocks.len());
        let group: Vec<IncomingBlock> = blocks.drain(..take).collect();
        if take == 1 {
            db.store.store_block(group.into_iter().next().unwrap()).await.unwrap();
        } else {
            for result in db.store.store_blocks(group).await.unwrap() {
                result.unwrap();
            }
        }
    }
}

async fn stored(db: &TestDatabase, scope: &OrgScope, device_id: i64, channel: i32) -> Vec<(i64, i32)> {
    let query = MeasurementQuery { channel, from_s: i64::MIN, to_s: i64::MAX, after: None, limit: 100_000 };
    db.store.measurements(scope, device_id, query).await.unwrap().into_iter().map(|m| (m.t_s, m.value)).collect()
}

conformance!(bucketed_queries_equal_the_raw_aggregate_for_random_series, |db: TestDatabase| async move {
    let scope = organisation(&db, "Acme").await;
    let mut rng = Rng(0x6c6f_6776_6175_6c74);
    for case in 0..16 {
        let serial = format!("LV-{case}");
        let id = device(&db, &scope, &serial).await;
        let series = random_series(&mut rng);
        send_overlapping(&db, &mut rng, id, &serial, &series).await;
        let expected: Vec<(i64, i32)> = series.iter().map(|(t, v)| (*t, v[0])).collect();
        assert_eq!(stored(&db, &scope, id, 0).await, expected, "case {case}: the raw rows are the series");

        let (first, last) = (series[0].0, series[series.len() - 1].0);
        for _ in 0..12 {
            let span = last - first + 1;
            let mut from_s = first + rng.range(-120, span);
            let mut to_s = from_s + rng.range(-5, span + 200);
            if rng.chance(4) {
                // Bounds on the day grid too, where no edge pieces are needed.
                from_s -= from_s.rem_euclid(86_400);
                to_s = from_s + 86_400 * rng.range(1, 4);
            }
            let n_buckets = [0, 1, 2, 3, 7, 24, 100, 1_000, 5_000][usize::try_from(rng.range(0, 8)).unwrap()];
            let channel = i32::try_from(rng.range(0, 1)).unwrap();
            check(&db, &scope, id, &series, BucketQuery { channel, from_s, to_s, n_buckets }).await;
        }
        check(&db, &scope, id, &series, BucketQuery { channel: 1, from_s: first, to_s: last + 1, n_buckets: 1 }).await;
    }
});

conformance!(an_empty_range_or_a_range_without_values_has_no_buckets, |db: TestDatabase| async move {
    let scope = organisation(&db, "Acme").await;
    let id = device(&db, &scope, "LV-1").await;
    store(&db, id, "LV-1", &[(1_000, [4_000, 50_000])]).await;
    for (from_s, to_s) in [(1_000, 1_000), (2_000, 1_000), (0, 1_000), (1_001, 90_000)] {
        let query = BucketQuery { channel: 0, from_s, to_s, n_buckets: 10 };
        assert_eq!(db.store.measurement_buckets(&scope, id, query).await.unwrap(), []);
    }
    assert_eq!(db.store.measurement_summary(&scope, id, 0, 1_001, 90_000).await.unwrap(), None);
    let unused_channel = BucketQuery { channel: 2, from_s: 0, to_s: 90_000, n_buckets: 10 };
    assert_eq!(db.store.measurement_buckets(&scope, id, unused_channel).await.unwrap(), []);
});

conformance!(one_sample_is_one_bucket_whatever_the_number_asked_for, |db: TestDatabase| async move {
    let scope = organisation(&db, "Acme").await;
    let id = device(&db, &scope, "LV-1").await;
    let samples = [(1_767_225_661, [-18_250, 40_000])];
    store(&db, id, "LV-1", &samples).await;
    for n_buckets in [0, 1, 10, 1_000_000] {
        let query = BucketQuery { channel: 0, from_s: 1_767_225_600, to_s: 1_767_225_600 + 366 * 86_400, n_buckets };
        let buckets = db.store.measurement_buckets(&scope, id, query).await.unwrap();
        assert_eq!(buckets.len(), 1);
        assert_eq!((buckets[0].count, buckets[0].min, buckets[0].max, buckets[0].sum), (1, -18_250, -18_250, -18_250));
        assert_eq!(buckets[0].mean(), -18_250.0);
        assert_exact(&samples, query, &buckets);
    }
});

conformance!(a_range_shorter_than_a_minute_is_bucketed_from_the_raw_rows, |db: TestDatabase| async move {
    let scope = organisation(&db, "Acme").await;
    let id = device(&db, &scope, "LV-1").await;
    // Several samples a second, across a minute boundary.
    let samples: Vec<Sample> =
        (0..120).map(|i| (6_030 + i / 3, [4_000 + i32::try_from(i * 7 % 50).unwrap() - 25, 0])).collect();
    store(&db, id, "LV-1", &samples).await;
    for (from_s, to_s, n_buckets) in [(6_031, 6_069, 1), (6_031, 6_069, 5), (6_035, 6_061, 26), (6_059, 6_061, 100)] {
        check(&db, &scope, id, &samples, BucketQuery { channel: 0, from_s, to_s, n_buckets }).await;
    }
    let buckets =
        db.store.measurement_buckets(&scope, id, BucketQuery { channel: 0, from_s: 6_030, to_s: 6_040, n_buckets: 10 });
    let widths: Vec<i64> = buckets.await.unwrap().iter().map(|b| b.end_s - b.start_s).collect();
    assert_eq!(widths, [1; 10], "one-second buckets of three samples each");
});

conformance!(unaligned_bounds_take_their_edges_from_finer_levels_and_raw_rows, |db: TestDatabase| async move {
    let scope = organisation(&db, "Acme").await;
    let id = device(&db, &scope, "LV-1").await;
    // Three days of 1-minute data with a few extra samples a second off the minute.
    let mut samples: Vec<Sample> =
        (0..3 * 1_440).map(|i| (i * 60, [i32::try_from(i % 97).unwrap() * 100 - 3_000, 0])).collect();
    samples.extend((0..200).map(|i| (i * 1_301 + 17, [i32::try_from(i).unwrap() - 50, 0])));
    samples.sort_by_key(|(t, _)| *t);
    store(&db, id, "LV-1", &samples).await;
    let day = 86_400;
    for (from_s, to_s) in [(3_617, 2 * day + 3_583), (59, 3 * day - 1), (1, 2), (day - 61, day + 61), (0, 3 * day)] {
        for n_buckets in [1, 2, 7, 100, 1_000] {
            check(&db, &scope, id, &samples, BucketQuery { channel: 0, from_s, to_s, n_buckets }).await;
        }
    }
    let summary = db.store.measurement_summary(&scope, id, 0, 3_617, 2 * day + 3_583).await.unwrap();
    assert_eq!(summary, raw_bucket(&samples, 0, 3_617, 2 * day + 3_583));
});

conformance!(more_buckets_than_points_gives_one_bucket_per_point, |db: TestDatabase| async move {
    let scope = organisation(&db, "Acme").await;
    let id = device(&db, &scope, "LV-1").await;
    let samples: Vec<Sample> =
        [0, 61, 3_700, 90_000, 90_001].iter().map(|t| (*t, [i32::try_from(*t % 1_000).unwrap(), 0])).collect();
    store(&db, id, "LV-1", &samples).await;
    let query = BucketQuery { channel: 0, from_s: 0, to_s: 100_000, n_buckets: 1_000 };
    let buckets = db.store.measurement_buckets(&scope, id, query).await.unwrap();
    assert_exact(&samples, query, &buckets);
    // 100 s per bucket rounds up to 120 s (two minutes): 0 and 61 share one, and so do the two a second apart.
    assert_eq!(buckets.iter().map(|b| (b.start_s, b.count)).collect::<Vec<_>>(), [(0, 2), (3_600, 1), (90_000, 2)]);
    let query = BucketQuery { channel: 0, from_s: 0, to_s: 100_000, n_buckets: 1_000_000 };
    let buckets = db.store.measurement_buckets(&scope, id, query).await.unwrap();
    assert_exact(&samples, query, &buckets);
    assert_eq!(buckets.len(), 5);
});

conformance!(another_organisation_sees_no_buckets_of_the_device, |db: TestDatabase| async move {
    let scope = organisation(&db, "Acme").await;
    let id = device(&db, &scope, "LV-1").await;
    store(&db, id, "LV-1", &[(100, [4_000, 0]), (200, [4_100, 0])]).await;
    let query = BucketQuery { channel: 0, from_s: 0, to_s: 1_000, n_buckets: 10 };
    assert_eq!(db.store.measurement_buckets(&scope, id, query).await.unwrap().len(), 2);
    let globex = organisation(&db, "Globex").await;
    assert_eq!(db.store.measurement_buckets(&globex, id, query).await.unwrap(), []);
    assert_eq!(db.store.measurement_summary(&globex, id, 0, 0, 1_000).await.unwrap(), None);
    // Far-off bounds are clamped rather than overflowing.
    let everything = BucketQuery { channel: 0, from_s: i64::MIN, to_s: i64::MAX, n_buckets: 3 };
    let buckets = db.store.measurement_buckets(&scope, id, everything).await.unwrap();
    assert_eq!(buckets.iter().map(|b| b.count).sum::<i64>(), 2);
});

conformance!(rollups_refuse_delete_and_any_update_but_growth, |db: TestDatabase| async move {
    let scope = organisation(&db, "Acme").await;
    let id = device(&db, &scope, "LV-1").await;
    store(&db, id, "LV-1", &[(100, [4_000, 0]), (130, [4_100, 0])]).await;
    let raw = db.raw_pool().await;
    for sql in [
        "DELETE FROM measurement_rollups",
        "UPDATE measurement_rollups SET sum_value = sum_value + 1",
        "UPDATE measurement_rollups SET min_value = min_value + 1, n_values = n_values + 1",
        "UPDATE measurement_rollups SET max_value = max_value - 1, n_values = n_values + 1",
        "UPDATE measurement_rollups SET bucket_start_s = bucket_start_s + level_s, n_values = n_values + 1",
        "UPDATE measurement_rollups SET n_values = n_values - 1",
    ] {
        assert!(raw.execute(sql).await.is_err(), "{sql} was allowed");
    }
    if db.engine == Engine::Postgres {
        assert!(raw.execute("TRUNCATE measurement_rollups").await.is_err());
    }
    let summary = db.store.measurement_summary(&scope, id, 0, 0, 1_000).await.unwrap().unwrap();
    assert_eq!((summary.count, summary.min, summary.max, summary.sum), (2, 4_000, 4_100, 8_100));
});

/// Every rollup row `(device, channel, level, start, min, max, sum, count)`, in key order.
type RollupRow = (i64, i32, i32, i64, i32, i32, i64, i64);

async fn rollup_rows(raw: &RawPool) -> Vec<RollupRow> {
    const SQL: &str = "SELECT device_id, channel, level_s, bucket_start_s, min_value, max_value, sum_value, n_values \
                       FROM measurement_rollups ORDER BY device_id, channel, level_s, bucket_start_s";
    match raw {
        RawPool::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
        RawPool::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
    }
}

/// The rollups of raw rows `(device, t_s, channel, value)`, computed here.
fn expected_rollups(rows: &[(i64, i64, i32, i32)]) -> Vec<RollupRow> {
    // (device, channel, level, start) → (min, max, sum, count).
    type Key = (i64, i32, i32, i64);
    let mut rollups: BTreeMap<Key, (i32, i32, i64, i64)> = BTreeMap::new();
    for (device_id, t_s, channel, value) in rows {
        for level in [60, 3_600, 86_400] {
            let start = t_s - t_s.rem_euclid(i64::from(level));
            let entry = rollups.entry((*device_id, *channel, level, start)).or_insert((*value, *value, 0, 0));
            *entry = (entry.0.min(*value), entry.1.max(*value), entry.2 + i64::from(*value), entry.3 + 1);
        }
    }
    rollups.into_iter().map(|((d, c, l, s), (min, max, sum, n))| (d, c, l, s, min, max, sum, n)).collect()
}

#[tokio::test]
async fn the_migration_backfills_rollups_equal_to_the_stored_rows_and_ingest_continues_them() {
    for engine in engines() {
        let Some(db) = TestDatabase::migrated_to(engine, 12).await else { continue };
        let scope = organisation(&db, "Acme").await;
        let devices = [device(&db, &scope, "LV-1").await, device(&db, &scope, "LV-2").await];
        let raw = db.raw_pool().await;
        let (raw_blob, zeros) = match engine {
            Engine::Sqlite => ("x'01'", "zeroblob(32)"),
            Engine::Postgres => ("'\\x01'::bytea", "decode(repeat('00', 32), 'hex')"),
        };
        let mut rng = Rng(12);
        let mut rows = Vec::new();
        for (block_id, device_id) in (1..).zip(devices) {
            let sql = format!(
                "INSERT INTO blocks (device_id, seq, counter, key_generation, raw, received_at_us, source, n_samples, \
                 n_new, prev_hash, block_hash) VALUES ({device_id}, 1, 1, 0, {raw_blob}, 0, 'api', 1, 1, {zeros}, {zeros})"
            );
            raw.execute(&sql).await.unwrap();
            let sql =
                format!("INSERT INTO device_chain_heads (device_id, seq, block_hash) VALUES ({device_id}, 1, {zeros})");
            raw.execute(&sql).await.unwrap();
            let mut t_s = -100_000;
            let mut values = Vec::new();
            for _ in 0..1_500 {
                t_s += rng.range(0, 400);
                for channel in 0..2 {
                    let value = i32::try_from(rng.range(-40_000, 125_000)).unwrap();
                    rows.push((device_id, t_s, channel, value));
                    values.push(format!("({device_id}, {t_s}, {}, {channel}, {value}, {block_id})", values.len()));
                }
            }
            let sql = format!(
                "INSERT INTO measurements (device_id, t_s, ordinal, channel, value, block_id) VALUES {}",
                values.join(", ")
            );
            raw.execute(&sql).await.unwrap();
        }
        // 0013 backfills; later migrations follow it.
        assert_eq!(db.store.migrate().await.unwrap().first(), Some(&13));
        assert_eq!(rollup_rows(&raw).await, expected_rollups(&rows), "{engine:?}");

        // Ingest adds to the backfilled rollups.
        let more = [(-99_990, [7, 8]), (5, [-9, 10]), (1_000_000, [11, 12])];
        db.store.store_block(block(devices[0], "LV-1", 2, &more)).await.unwrap();
        for (t_s, values) in more {
            for (channel, value) in (0..).zip(values) {
                rows.push((devices[0], t_s, channel, value));
            }
        }
        assert_eq!(rollup_rows(&raw).await, expected_rollups(&rows), "{engine:?}");
        db.store.close().await;
    }
}
