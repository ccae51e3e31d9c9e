//! Retention on both engines: the two-year floor, the purge of whole expired blocks with their measurements (and
//! nothing else), the chain verifiable from its anchor, idempotence, and the guards still refusing every other
//! DELETE.

use logvault_core::blockchain;
use logvault_core::retention::{Retention, RetentionError};
use logvault_store::testing::TestDatabase;
use logvault_store::{BucketQuery, DeviceChain, IncomingBlock, IngestOutcome, MeasurementQuery, OrgScope, conformance};

use crate::ingest::{block, device};

/// A time in 2001: long expired under any retention.
const OLD_S: i64 = 1_000_000_000;

fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Stores a block, which must be kept (not refused as implausible).
async fn keep(db: &TestDatabase, block: IncomingBlock) {
    let outcome = db.store.store_block(block).await.unwrap();
    assert!(matches!(outcome, IngestOutcome::Stored { .. }), "{outcome:?}");
}

async fn times(db: &TestDatabase, scope: &OrgScope, device_id: i64) -> Vec<i64> {
    let query = MeasurementQuery { channel: 0, from_s: 0, to_s: i64::MAX, after: None, limit: 10_000 };
    db.store.measurements(scope, device_id, query).await.unwrap().into_iter().map(|m| m.t_s).collect()
}

/// Three expired blocks (the third overlapping the second), then two recent ones.
async fn history(db: &TestDatabase, id: i64) -> i64 {
    let recent = now_s() - 10 * 86_400;
    for (counter, samples) in [
        (1, vec![(OLD_S, 4_000), (OLD_S + 60, 4_010)]),
        (2, vec![(OLD_S + 120, 4_020)]),
        (3, vec![(OLD_S + 120, 4_020), (OLD_S + 180, 4_030)]),
        (4, vec![(recent, 5_000)]),
        (5, vec![(recent + 60, 5_010)]),
    ] {
        keep(db, block(id, counter, &samples)).await;
    }
    recent
}

fn verifies(chain: &DeviceChain) -> Result<(), blockchain::BlockChainBreak> {
    blockchain::verify_chain_from("LV-1", chain.anchor.as_ref(), &chain.blocks, chain.head)
}

#[test]
fn a_retention_under_two_years_is_refused() {
    assert_eq!(Retention::from_days(730), Err(RetentionError::BelowFloor));
    assert!(Retention::from_days(731).is_ok());
}

conformance!(the_retention_is_indefinite_by_default_and_keeps_everything, |db: TestDatabase| async move {
    let (scope, id) = device(&db).await;
    let recent = history(&db, id).await;
    assert_eq!(db.store.retention(&scope).await.unwrap(), None);
    let report = db.store.purge_expired(&scope, now_s()).await.unwrap();
    assert_eq!(report.cutoff_s, None);
    assert!(report.devices.is_empty());
    assert_eq!(times(&db, &scope, id).await.len(), 6);
    assert!(times(&db, &scope, id).await.contains(&recent));
    assert_eq!(db.store.device_chain(id).await.unwrap().blocks.len(), 5);
});

conformance!(
    a_purge_removes_only_whole_expired_blocks_and_the_chain_verifies_from_its_anchor,
    |db: TestDatabase| async move {
        let (scope, id) = device(&db).await;
        let recent = history(&db, id).await;
        let before = db.store.device_chain(id).await.unwrap();
        let retention = Retention::from_days(731).unwrap();
        db.store.set_retention(&scope, Some(retention)).await.unwrap();
        assert_eq!(db.store.retention(&scope).await.unwrap(), Some(retention));

        let report = db.store.purge_expired(&scope, now_s()).await.unwrap();
        assert_eq!(report.devices.len(), 1);
        let purged = &report.devices[0];
        assert_eq!((purged.serial.as_str(), purged.blocks_removed, purged.measurements_removed), ("LV-1", 3, 4));
        assert_eq!(purged.first_retained_seq, 4);
        assert_eq!(times(&db, &scope, id).await, [recent, recent + 60]);

        let after = db.store.device_chain(id).await.unwrap();
        assert_eq!(after.blocks.iter().map(|b| b.seq).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(after.head, before.head, "the head stays");
        let anchor = after.anchor.unwrap();
        assert_eq!((anchor.seq, anchor.prev_hash), (4, before.blocks[2].block_hash));
        assert_eq!(anchor.purged_through_s, OLD_S + 180);
        assert_eq!(verifies(&after), Ok(()));
        assert!(blockchain::verify_chain("LV-1", &after.blocks, after.head).is_err(), "not from the genesis");

        // Idempotent: nothing left to remove.
        let again = db.store.purge_expired(&scope, now_s()).await.unwrap();
        assert!(again.devices.is_empty());
        assert_eq!(db.store.device_chain(id).await.unwrap(), after);

        // The chain goes on from the head.
        keep(&db, block(id, 6, &[(recent + 120, 5_020)])).await;
        let extended = db.store.device_chain(id).await.unwrap();
        assert_eq!(extended.blocks.len(), 3);
        assert_eq!(verifies(&extended), Ok(()));
    }
);

conformance!(
    an_expired_block_behind_a_recent_one_stays_until_the_chain_before_it_can_go,
    |db: TestDatabase| async move {
        let (scope, id) = device(&db).await;
        let recent = now_s() - 86_400;
        keep(&db, block(id, 1, &[(OLD_S, 4_000)])).await;
        keep(&db, block(id, 3, &[(recent, 5_000)])).await;
        // A late upload of old data (the device's block between the two), kept after the recent block.
        keep(&db, block(id, 2, &[(OLD_S + 60, 4_010)])).await;
        db.store.set_retention(&scope, Some(Retention::from_days(800).unwrap())).await.unwrap();
        let report = db.store.purge_expired(&scope, now_s()).await.unwrap();
        assert_eq!(report.blocks_removed(), 1);
        assert_eq!(times(&db, &scope, id).await, [OLD_S + 60, recent]);
        assert_eq!(verifies(&db.store.device_chain(id).await.unwrap()), Ok(()));
    }
);

conformance!(a_fully_expired_chain_keeps_its_head_and_verifies, |db: TestDatabase| async move {
    let (scope, id) = device(&db).await;
    keep(&db, block(id, 1, &[(OLD_S, 4_000)])).await;
    keep(&db, block(id, 2, &[(OLD_S + 60, 4_010)])).await;
    db.store.set_retention(&scope, Some(Retention::from_days(731).unwrap())).await.unwrap();
    let report = db.store.purge_expired(&scope, now_s()).await.unwrap();
    assert_eq!(report.devices[0].first_retained_seq, 3);
    let chain = db.store.device_chain(id).await.unwrap();
    assert!(chain.blocks.is_empty());
    assert_eq!(chain.head.map(|h| h.0), Some(2));
    assert_eq!(verifies(&chain), Ok(()));
    keep(&db, block(id, 3, &[(now_s() - 60, 5_000)])).await;
    assert_eq!(verifies(&db.store.device_chain(id).await.unwrap()), Ok(()));
});

conformance!(deletes_outside_the_purge_are_still_refused_after_a_retention_is_set, |db: TestDatabase| async move {
    let (scope, id) = device(&db).await;
    history(&db, id).await;
    db.store.set_retention(&scope, Some(Retention::from_days(731).unwrap())).await.unwrap();
    let raw = db.raw_pool().await;
    let postgres = db.store.engine() == logvault_store::Engine::Postgres;
    let org_id = scope.org_id();
    let mut refused = vec![
        "DELETE FROM measurements".to_owned(),
        "DELETE FROM blocks WHERE seq = 1".to_owned(),
        "DELETE FROM measurements WHERE t_s < 1000000100".to_owned(),
        "UPDATE measurements SET value = 0".to_owned(),
        "DELETE FROM measurement_rollups".to_owned(),
        // A purge inside the retention is refused by the database itself.
        format!(
            "INSERT INTO retention_purges (org_id, device_id, cutoff_s, through_seq, purged_at_us{}) \
             VALUES ({org_id}, {id}, {}, 5, 0{})",
            if postgres { ", txid" } else { "" },
            now_s(),
            if postgres { ", 0" } else { "" },
        ),
        "INSERT INTO device_chain_anchors (device_id, seq, prev_hash, purged_through_s) \
         SELECT device_id, seq + 1, block_hash, 0 FROM blocks WHERE seq = 1"
            .to_owned(),
    ];
    if !postgres {
        // A committed open purge would authorise later deletes: the deferred reference makes its commit fail.
        refused.push("INSERT INTO retention_open_purges (purge_id) VALUES (1)".to_owned());
    }
    for sql in &refused {
        assert!(raw.execute(sql).await.is_err(), "{sql} was allowed");
    }
    let report = db.store.purge_expired(&scope, now_s()).await.unwrap();
    assert_eq!(report.blocks_removed(), 3);
    for sql in [
        "DELETE FROM measurement_rollups",
        "DELETE FROM retention_purges",
        "UPDATE retention_purges SET cutoff_s = 0",
        "DELETE FROM device_chain_anchors",
    ] {
        assert!(raw.execute(sql).await.is_err(), "{sql} was allowed");
    }
    // The purge record does not outlive its transaction: blocks still refuse a direct DELETE.
    assert!(raw.execute("DELETE FROM measurements").await.is_err());
    assert!(raw.execute("DELETE FROM blocks").await.is_err());
    assert_eq!(db.store.device_chain(id).await.unwrap().blocks.len(), 2);
});

/// The aggregate of the retained raw rows of `[from_s, to_s)`: `(count, min, max, sum)`.
async fn raw_aggregate(db: &TestDatabase, scope: &OrgScope, id: i64, from_s: i64, to_s: i64) -> (i64, i32, i32, i64) {
    let query = MeasurementQuery { channel: 0, from_s, to_s, after: None, limit: 10_000 };
    let values: Vec<i32> =
        db.store.measurements(scope, id, query).await.unwrap().into_iter().map(|m| m.value).collect();
    let count = i64::try_from(values.len()).unwrap();
    let (min, max) = (values.iter().copied().min().unwrap_or(0), values.iter().copied().max().unwrap_or(0));
    (count, min, max, values.iter().map(|v| i64::from(*v)).sum())
}

conformance!(rollups_describe_exactly_the_measurements_a_purge_retains, |db: TestDatabase| async move {
    let (scope, id) = device(&db).await;
    let recent = now_s() - 86_400;
    // Blocks 10 and 20 expire; block 25 (a late upload of old data, kept after the recent block 30) stays, and
    // shares its minute, hour and day with rows of block 20, so those rollups must shrink to block 25's rows alone.
    let day = OLD_S - OLD_S.rem_euclid(86_400);
    keep(&db, block(id, 10, &[(day + 10, 3_000), (day + 3_700, 9_000)])).await;
    keep(&db, block(id, 20, &[(day + 7_200, 1_000), (day + 7_205, 8_000)])).await;
    keep(&db, block(id, 30, &[(recent, 5_000)])).await;
    keep(&db, block(id, 25, &[(day + 7_210, 4_000), (day + 7_215, 4_500)])).await;
    db.store.set_retention(&scope, Some(Retention::from_days(731).unwrap())).await.unwrap();
    let report = db.store.purge_expired(&scope, now_s()).await.unwrap();
    assert_eq!(report.measurements_removed(), 4);

    // One bucket per minute, hour and day of the old data, and over everything: each equals the raw aggregate.
    for (from_s, to_s, n_buckets) in
        [(day + 7_200, day + 7_260, 1), (day, day + 86_400, 24), (day, day + 86_400, 1), (day - 86_400, now_s(), 1)]
    {
        let buckets = db.store.measurement_buckets(&scope, id, BucketQuery { channel: 0, from_s, to_s, n_buckets });
        for bucket in buckets.await.unwrap() {
            let raw = raw_aggregate(&db, &scope, id, bucket.start_s, bucket.end_s).await;
            assert_eq!((bucket.count, bucket.min, bucket.max, bucket.sum), raw, "{from_s}..{to_s} / {n_buckets}");
        }
    }
    let summary = db.store.measurement_summary(&scope, id, 0, day, day + 86_400).await.unwrap().unwrap();
    assert_eq!((summary.count, summary.min, summary.max, summary.sum), (2, 4_000, 4_500, 8_500));
    assert_eq!(db.store.measurement_summary(&scope, id, 0, day, day + 7_200).await.unwrap(), None);
});
