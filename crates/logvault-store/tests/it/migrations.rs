//! Migrations: a fresh store is current, migrating twice is a no-op, and readiness can be read back.

use logvault_store::testing::TestDatabase;
use logvault_store::{Engine, conformance};

conformance!(a_fresh_store_is_fully_migrated_and_migrating_again_applies_nothing, |db: TestDatabase| async move {
    let status = db.store.migration_status().await.unwrap();
    assert!(status.is_current(), "{status:?}");
    assert!(!status.applied.is_empty());
    assert_eq!(db.store.migrate().await.unwrap(), Vec::<i64>::new());
    db.store.ping().await.unwrap();
});

conformance!(the_store_reports_its_engine, |db: TestDatabase| async move {
    assert_eq!(db.store.engine(), db.engine);
    assert!(matches!(db.engine, Engine::Sqlite | Engine::Postgres));
});
