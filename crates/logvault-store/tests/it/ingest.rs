//! Keeping blocks on both engines: each sample once however often it arrives, a reused counter refused, the
//! device's chain verifiable, and measurements and blocks beyond UPDATE and DELETE.

use logvault_core::OrgName;
use logvault_core::blockchain::{self, Source};
use logvault_store::testing::TestDatabase;
use logvault_store::{
    IncomingBlock, IncomingSample, IngestOutcome, MeasurementQuery, NewDevice, OrgScope, conformance,
};

/// Organisation "Acme" with device LV-1 (single temperature channel); the operator's scope and the device id.
pub(crate) async fn device(db: &TestDatabase) -> (OrgScope, i64) {
    let org = db.store.create_organisation(&OrgName::parse("Acme").unwrap()).await.unwrap();
    let scope = OrgScope::for_operator(org.id);
    let new = NewDevice {
        serial: "LV-1".to_owned(),
        name: "Fridge".to_owned(),
        site_id: None,
        model: None,
        key_sealed: vec![1],
        now_us: 1,
    };
    let device = db.store.create_device(&scope, new).await.unwrap();
    (scope, device.id)
}

/// A block of LV-1 with one temperature value per sample.
pub(crate) fn block(device_id: i64, counter: i64, samples: &[(i64, i32)]) -> IncomingBlock {
    IncomingBlock {
        device_id,
        serial: "LV-1".to_owned(),
        counter,
        key_generation: 0,
        raw: format!("raw block {counter} {samples:?}").into_bytes(),
        received_at_us: counter * 1_000,
        source: Source::Qr,
        channel_layout: "temperature".to_owned(),
        samples: samples.iter().map(|(t_s, v)| IncomingSample { t_s: *t_s, values: vec![*v] }).collect(),
    }
}

async fn values(db: &TestDatabase, scope: &OrgScope, device_id: i64) -> Vec<(i64, i32)> {
    let query = MeasurementQuery { channel: 0, from_s: 0, to_s: i64::MAX, after: None, limit: 10_000 };
    db.store.measurements(scope, device_id, query).await.unwrap().into_iter().map(|m| (m.t_s, m.value)).collect()
}

conformance!(each_sample_is_kept_once_however_often_it_arrives, |db: TestDatabase| async move {
    let (scope, id) = device(&db).await;
    let first = block(id, 1, &[(100, 4_000), (400, 4_100), (700, 4_200)]);
    assert_eq!(db.store.store_block(first.clone()).await.unwrap(), IngestOutcome::Stored { new: 3, duplicates: 0 });
    for _ in 0..5 {
        assert_eq!(db.store.store_block(first.clone()).await.unwrap(), IngestOutcome::Duplicate { samples: 3 });
    }
    // The next scan's window overlaps the first.
    let overlapping = block(id, 2, &[(400, 4_100), (700, 4_200), (1_000, 4_300)]);
    assert_eq!(db.store.store_block(overlapping).await.unwrap(), IngestOutcome::Stored { new: 1, duplicates: 2 });
    assert_eq!(values(&db, &scope, id).await, [(100, 4_000), (400, 4_100), (700, 4_200), (1_000, 4_300)]);

    // The same counter with other content changes nothing.
    let clone = block(id, 2, &[(1_300, 9_999)]);
    assert_eq!(db.store.store_block(clone).await.unwrap(), IngestOutcome::CounterReused);
    // A block with other channels than the device has sent so far changes nothing either.
    let mut humid = block(id, 3, &[(1_300, 50_000)]);
    humid.channel_layout = "temperature,relative_humidity".to_owned();
    assert_eq!(db.store.store_block(humid).await.unwrap(), IngestOutcome::LayoutChanged);
    assert_eq!(values(&db, &scope, id).await.len(), 4);

    // Two links, verifiable, the second naming only its new sample.
    let logvault_store::DeviceChain { blocks: chain, head, .. } = db.store.device_chain(id).await.unwrap();
    assert_eq!(chain.iter().map(|b| b.counter).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(blockchain::verify_chain("LV-1", &chain, head), Ok(()));
    let rows = db.store.device_measurements(id).await.unwrap();
    let second: Vec<_> = rows.into_iter().filter(|row| row.seq == 2).map(|row| row.t_s).collect();
    assert_eq!(second, [1_000]);
});

conformance!(measurements_are_paged_and_seen_by_their_organisation_only, |db: TestDatabase| async move {
    let (scope, id) = device(&db).await;
    let samples: Vec<(i64, i32)> = (0..25).map(|i| (i * 60, 4_000 + i32::try_from(i).unwrap())).collect();
    db.store.store_block(block(id, 1, &samples)).await.unwrap();
    let mut query = MeasurementQuery { channel: 0, from_s: 60, to_s: 1_200, after: None, limit: 7 };
    let mut seen = Vec::new();
    loop {
        let page = db.store.measurements(&scope, id, query).await.unwrap();
        let Some(last) = page.last() else { break };
        query.after = Some((last.t_s, last.ordinal));
        seen.extend(page.into_iter().map(|m| m.t_s));
    }
    assert_eq!(seen, (1..20).map(|i| i * 60).collect::<Vec<_>>(), "[from, to) in pages");
    let globex = db.store.create_organisation(&OrgName::parse("Globex").unwrap()).await.unwrap();
    let query = MeasurementQuery { channel: 0, from_s: 0, to_s: i64::MAX, after: None, limit: 100 };
    let foreign = db.store.measurements(&OrgScope::for_operator(globex.id), id, query).await.unwrap();
    assert!(foreign.is_empty());
});

conformance!(
    measurements_and_blocks_refuse_update_and_delete_on_the_application_s_connection,
    |db: TestDatabase| async move {
        let (scope, id) = device(&db).await;
        db.store.put_org_data_key(&scope, b"wrapped data key", 1).await.unwrap();
        db.store.store_block(block(id, 1, &[(100, 4_000)])).await.unwrap();
        let raw = db.raw_pool().await;
        for sql in [
            "UPDATE measurements SET value = 0",
            "DELETE FROM measurements",
            "UPDATE blocks SET raw = x'00'",
            "DELETE FROM blocks",
            "DELETE FROM device_chain_heads",
            "UPDATE device_chain_heads SET seq = 5",
            "UPDATE device_chain_heads SET seq = seq + 1",
            "UPDATE device_keys SET key_sealed = key_sealed",
            "DELETE FROM device_keys",
            "DELETE FROM org_data_keys WHERE org_id > 0",
            "INSERT INTO blocks (device_id, seq, counter, key_generation, raw, received_at_us, source, n_samples, \
             n_new, prev_hash, block_hash) SELECT device_id, seq + 5, counter + 5, key_generation, raw, \
             received_at_us, source, n_samples, n_new, prev_hash, block_hash FROM blocks",
        ] {
            let sql = if db.store.engine() == logvault_store::Engine::Postgres {
                sql.replace("x'00'", "'\\x00'::bytea")
            } else {
                sql.to_owned()
            };
            assert!(raw.execute(&sql).await.is_err(), "{sql} was allowed");
        }
        if db.store.engine() == logvault_store::Engine::Sqlite {
            for sql in [
                "INSERT OR REPLACE INTO measurements \
                 SELECT device_id, t_s, ordinal, channel, value + 1, block_id FROM measurements",
                "INSERT OR REPLACE INTO blocks SELECT * FROM blocks",
                "INSERT OR REPLACE INTO device_chain_heads SELECT device_id, seq, zeroblob(32) FROM device_chain_heads",
            ] {
                assert!(raw.execute(sql).await.is_err(), "{sql} was allowed");
            }
        }
        let logvault_store::DeviceChain { blocks: chain, head, .. } = db.store.device_chain(id).await.unwrap();
        assert_eq!(blockchain::verify_chain("LV-1", &chain, head), Ok(()));
        assert_eq!(values(&db, &scope, id).await, [(100, 4_000)]);
    }
);

conformance!(blocks_kept_together_fail_alone, |db: TestDatabase| async move {
    let (scope, id) = device(&db).await;
    let results = db
        .store
        .store_blocks(vec![
            block(id, 1, &[(100, 4_000)]),
            block(id, 1, &[(200, 9_999)]),
            block(999_999, 1, &[(100, 4_000)]),
            block(id, 2, &[(300, 4_100)]),
        ])
        .await
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap(), &IngestOutcome::Stored { new: 1, duplicates: 0 });
    assert_eq!(results[1].as_ref().unwrap(), &IngestOutcome::CounterReused);
    assert!(results[2].is_err(), "a block of an unknown device fails: {:?}", results[2]);
    assert_eq!(results[3].as_ref().unwrap(), &IngestOutcome::Stored { new: 1, duplicates: 0 });
    assert_eq!(values(&db, &scope, id).await, [(100, 4_000), (300, 4_100)]);
    let logvault_store::DeviceChain { blocks: chain, head, .. } = db.store.device_chain(id).await.unwrap();
    assert_eq!(blockchain::verify_chain("LV-1", &chain, head), Ok(()));
});

conformance!(
    concurrent_blocks_are_each_answered_after_their_commit_and_one_failure_stays_its_own,
    |db: TestDatabase| async move {
        // Kept through `store_block` at once, as concurrent uploads are: on SQLite they share group commits, on
        // PostgreSQL each has its own transaction. Either way every caller gets its own block's outcome.
        let (scope, id) = device(&db).await;
        let mut uploads = tokio::task::JoinSet::new();
        for counter in 1..=24 {
            let store = std::sync::Arc::clone(&db.store);
            let value = 4_000 + i32::try_from(counter).unwrap();
            uploads.spawn(
                async move { (counter, store.store_block(block(id, counter, &[(counter * 100, value)])).await) },
            );
        }
        let store = std::sync::Arc::clone(&db.store);
        uploads.spawn(async move { (0, store.store_block(block(999_999, 1, &[(100, 4_000)])).await) });
        let mut answered = Vec::new();
        while let Some(upload) = uploads.join_next().await {
            let (counter, outcome) = upload.unwrap();
            match counter {
                0 => assert!(outcome.is_err(), "a block of an unknown device fails: {outcome:?}"),
                _ => assert_eq!(outcome.unwrap(), IngestOutcome::Stored { new: 1, duplicates: 0 }, "counter {counter}"),
            }
            answered.push(counter);
        }
        answered.sort_unstable();
        assert_eq!(answered, (0..=24).collect::<Vec<_>>());
        // Each answer came after its commit: everything is readable, in one verifiable chain.
        let expected: Vec<(i64, i32)> = (1..=24).map(|c| (c * 100, 4_000 + i32::try_from(c).unwrap())).collect();
        assert_eq!(values(&db, &scope, id).await, expected);
        let logvault_store::DeviceChain { blocks: chain, head, .. } = db.store.device_chain(id).await.unwrap();
        assert_eq!(chain.len(), 24);
        assert_eq!(blockchain::verify_chain("LV-1", &chain, head), Ok(()));
    }
);

conformance!(a_kept_block_is_recognised_by_its_counter_and_exact_bytes_only, |db: TestDatabase| async move {
    let (_, id) = device(&db).await;
    let kept = block(id, 3, &[(100, 4_000)]);
    assert!(!db.store.block_is_kept(id, 3, &kept.raw).await.unwrap(), "nothing is kept yet");
    db.store.store_block(kept.clone()).await.unwrap();
    assert!(db.store.block_is_kept(id, 3, &kept.raw).await.unwrap());
    assert!(!db.store.block_is_kept(id, 3, b"other bytes").await.unwrap(), "the same counter, other content");
    assert!(!db.store.block_is_kept(id, 4, &kept.raw).await.unwrap(), "the same bytes under another counter");
    let org = db.store.create_organisation(&OrgName::parse("Other").unwrap()).await.unwrap();
    let new = NewDevice {
        serial: "LV-2".to_owned(),
        name: "Freezer".to_owned(),
        site_id: None,
        model: None,
        key_sealed: vec![1],
        now_us: 1,
    };
    let other = db.store.create_device(&OrgScope::for_operator(org.id), new).await.unwrap().id;
    assert!(!db.store.block_is_kept(other, 3, &kept.raw).await.unwrap(), "another device's counter");
});

conformance!(genuine_blocks_delivered_out_of_order_are_all_kept, |db: TestDatabase| async move {
    let (scope, id) = device(&db).await;
    // Four scans of one logger (counters 1–4, windows moving forward), delivered 3, 1, 4, 2 by a gateway; counter
    // 5 met a full memory (same last sample as 4) and counter 6 a cleared one (no samples).
    let blocks = [
        block(id, 1, &[(100, 4_000), (200, 4_010)]),
        block(id, 2, &[(200, 4_010), (300, 4_020)]),
        block(id, 3, &[(300, 4_020), (400, 4_030)]),
        block(id, 4, &[(400, 4_030), (500, 4_040)]),
        block(id, 5, &[(400, 4_030), (500, 4_040)]),
        block(id, 6, &[]),
    ];
    for i in [2, 0, 3, 1, 5, 4] {
        let outcome = db.store.store_block(blocks[i].clone()).await.unwrap();
        assert!(matches!(outcome, IngestOutcome::Stored { .. }), "counter {}: {outcome:?}", i + 1);
    }
    assert_eq!(values(&db, &scope, id).await.len(), 5);
    let logvault_store::DeviceChain { blocks: chain, head, .. } = db.store.device_chain(id).await.unwrap();
    assert_eq!(chain.len(), 6);
    assert_eq!(blockchain::verify_chain("LV-1", &chain, head), Ok(()));
});

conformance!(
    a_counter_that_contradicts_the_block_s_time_is_refused_and_changes_nothing,
    |db: TestDatabase| async move {
        let (scope, id) = device(&db).await;
        db.store.store_block(block(id, 10, &[(1_000, 4_000), (2_000, 4_100)])).await.unwrap();
        db.store.store_block(block(id, 20, &[(2_000, 4_100), (3_000, 4_200)])).await.unwrap();
        for (counter, samples) in [
            // A lower counter than 10 whose last sample is later than 10's.
            (5, vec![(1_500, 4_050), (2_500, 4_150)]),
            // Between 10 and 20, ending after 20 ended.
            (15, vec![(2_000, 4_100), (3_500, 4_300)]),
            // Between 10 and 20, ending before 10 ended.
            (15, vec![(500, 3_900), (1_500, 4_050)]),
            // A higher counter than 20 whose samples all end before 20's last sample.
            (30, vec![(2_100, 4_110), (2_900, 4_190)]),
        ] {
            let outcome = db.store.store_block(block(id, counter, &samples)).await.unwrap();
            assert_eq!(outcome, IngestOutcome::CounterImplausible, "counter {counter}");
        }
        // The same through the batched path.
        let results = db.store.store_blocks(vec![block(id, 1, &[(9_000, 4_000)])]).await.unwrap();
        assert_eq!(results[0].as_ref().unwrap(), &IngestOutcome::CounterImplausible);
        assert_eq!(values(&db, &scope, id).await, [(1_000, 4_000), (2_000, 4_100), (3_000, 4_200)]);
        let logvault_store::DeviceChain { blocks: chain, head, .. } = db.store.device_chain(id).await.unwrap();
        assert_eq!(chain.iter().map(|b| b.counter).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(blockchain::verify_chain("LV-1", &chain, head), Ok(()));
        // A plausible block in a gap is still kept.
        let between = block(id, 15, &[(2_000, 4_100), (2_500, 4_150)]);
        assert_eq!(db.store.store_block(between).await.unwrap(), IngestOutcome::Stored { new: 1, duplicates: 1 });
    }
);
