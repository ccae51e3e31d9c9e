//! Query plans of ingest's per-block reads, on both engines: each is answered through an index on the block's
//! identity or window, never by reading the device's whole chain or history.

use logvault_core::blockchain::Source;
use logvault_store::conformance;
use logvault_store::ingest::{KEPT_BLOCK_SQL, stored_samples_sql};
use logvault_store::testing::{RawPool, TestDatabase};
use logvault_store::{IncomingBlock, IncomingSample, IngestOutcome};

use crate::ingest::device;

/// A device with two channels and a history of 20,000 measurement rows (statistics gathered), so each engine plans
/// as it would for a device that has logged for months.
async fn device_with_history(db: &TestDatabase) -> i64 {
    let (_, id) = device(db).await;
    for counter in 1..=40 {
        let samples =
            (0..250).map(|i| IncomingSample { t_s: (counter * 250 + i) * 60, values: vec![4_000, 50_000] }).collect();
        let block = IncomingBlock {
            device_id: id,
            serial: "LV-1".to_owned(),
            counter,
            key_generation: 0,
            raw: format!("raw block {counter}").into_bytes(),
            received_at_us: counter,
            source: Source::Gateway,
            channel_layout: "temperature,relative_humidity".to_owned(),
            samples,
        };
        assert!(matches!(db.store.store_block(block).await.unwrap(), IngestOutcome::Stored { new: 250, .. }));
    }
    // PostgreSQL plans by its statistics; only the tables' owner may gather them.
    match db.postgres_url() {
        Some(url) => {
            let owner = RawPool::postgres_owner(url).await;
            owner.execute("ANALYZE").await.unwrap();
            owner.close().await;
        }
        None => {
            db.raw_pool().await.execute("ANALYZE").await.unwrap();
        }
    }
    id
}

conformance!(a_re_sent_block_is_found_by_its_identity_through_the_unique_index, |db: TestDatabase| async move {
    let id = device_with_history(&db).await;
    let plan = db.raw_pool().await.query_plan(KEPT_BLOCK_SQL, &[id, 7]).await.unwrap();
    match db.engine {
        logvault_store::Engine::Sqlite => {
            assert!(plan.contains("SEARCH blocks USING INDEX"), "{plan}");
            assert!(plan.contains("(device_id=? AND counter=?)"), "{plan}");
        }
        logvault_store::Engine::Postgres => {
            assert!(plan.contains("Index") && plan.contains("blocks_device_id_counter_key"), "{plan}");
            let condition = plan.lines().find(|line| line.contains("Index Cond")).unwrap_or_default();
            assert!(condition.contains("device_id =") && condition.contains("counter ="), "{plan}");
        }
    }
    assert!(!plan.contains("SCAN blocks") && !plan.contains("Seq Scan"), "{plan}");
});

conformance!(the_dedupe_read_of_a_block_touches_its_window_through_the_primary_key, |db: TestDatabase| async move {
    let id = device_with_history(&db).await;
    let sql = stored_samples_sql(2).unwrap();
    let plan = db.raw_pool().await.query_plan(&sql, &[id, 600_000, 660_000, 0, 1]).await.unwrap();
    match db.engine {
        logvault_store::Engine::Sqlite => {
            // Device, channel and the time range all bound the index search: the window only.
            assert!(plan.contains("SEARCH measurements USING"), "{plan}");
            assert!(plan.contains("device_id=? AND channel=? AND t_s>? AND t_s<?"), "{plan}");
        }
        logvault_store::Engine::Postgres => {
            assert!(plan.contains("measurements_pkey"), "{plan}");
            let condition = plan.lines().find(|line| line.contains("Index Cond")).unwrap_or_default();
            for column in ["device_id", "channel", "t_s"] {
                assert!(condition.contains(column), "{column} does not bound the index search:\n{plan}");
            }
        }
    }
    assert!(!plan.contains("SCAN measurements") && !plan.contains("Seq Scan"), "{plan}");
});
