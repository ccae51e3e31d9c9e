//! What the database itself refuses to the application's connections: on PostgreSQL they run as the restricted
//! role `logvault_app`, which owns no table and holds no UPDATE or DELETE on kept data; SQLite relies on triggers.

use logvault_core::OrgName;
use logvault_core::blockchain::Source;
use logvault_store::testing::{RawPool, TestDatabase};
use logvault_store::{Engine, Guards, IncomingBlock, IncomingSample, IngestOutcome, NewDevice, OrgScope, conformance};

/// The SQLSTATE of a failed statement.
fn sqlstate(result: Result<u64, sqlx::Error>) -> Option<String> {
    match result {
        Ok(_) => None,
        Err(err) => Some(err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned()).unwrap_or_default()),
    }
}

async fn kept_block(db: &TestDatabase) -> i64 {
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
    let block = IncomingBlock {
        device_id: device.id,
        serial: "LV-1".to_owned(),
        counter: 1,
        key_generation: 0,
        raw: b"raw".to_vec(),
        received_at_us: 1,
        source: Source::Api,
        channel_layout: "temperature".to_owned(),
        samples: vec![IncomingSample { t_s: 100, values: vec![4_000] }],
    };
    assert!(matches!(db.store.store_block(block).await.unwrap(), IngestOutcome::Stored { .. }));
    device.id
}

conformance!(the_store_says_which_database_guards_are_in_force, |db: TestDatabase| async move {
    let expected = match db.engine {
        Engine::Sqlite => Guards::Triggers,
        Engine::Postgres => Guards::RestrictedRole,
    };
    assert_eq!(db.store.guards().await.unwrap(), expected);
});

#[tokio::test]
async fn the_application_s_postgres_connections_may_not_change_kept_data_or_its_guards() {
    let Some(db) = TestDatabase::postgres().await else { return };
    let _keep = db.keep_alive();
    kept_block(&db).await;
    let RawPool::Postgres(pool) = db.raw_pool().await else { unreachable!("postgres") };
    let role: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&pool).await.unwrap();
    assert_eq!(role, logvault_store::postgres::APP_ROLE);
    let raw = db.raw_pool().await;
    // Refused by privilege (42501), before any trigger would run.
    for sql in [
        "UPDATE measurements SET value = 0",
        "DELETE FROM measurements",
        "UPDATE blocks SET raw = '\\x00'::bytea",
        "DELETE FROM blocks",
        "TRUNCATE measurements",
        "DELETE FROM device_chain_heads",
        "DELETE FROM device_keys",
        "UPDATE audit_log SET detail = 'forged'",
        "DELETE FROM audit_heads",
        "ALTER TABLE measurements DISABLE TRIGGER ALL",
        "ALTER TABLE blocks DISABLE TRIGGER USER",
        "DROP TRIGGER measurements_are_immutable ON measurements",
        "DROP TABLE measurements",
        "CREATE TABLE shadow (x INTEGER)",
        "DELETE FROM _sqlx_migrations",
        "DELETE FROM retention_purges",
        "UPDATE retention_purges SET cutoff_s = 0",
        "DELETE FROM device_chain_anchors",
    ] {
        assert_eq!(sqlstate(raw.execute(sql).await).as_deref(), Some("42501"), "{sql}");
    }
    // The triggers are all still enabled.
    let disabled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'D' \
         AND tgrelid IN ('measurements'::regclass, 'blocks'::regclass)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(disabled, 0);
    // What the application does need still works on those connections: heads move, other tables change.
    assert_eq!(raw.execute("UPDATE organisations SET require_mfa = TRUE").await.unwrap(), 1);
    db.store.close().await;
}

#[tokio::test]
async fn the_owner_keeps_its_own_privileges_beside_the_restricted_pool() {
    let Some(db) = TestDatabase::postgres().await else { return };
    let _keep = db.keep_alive();
    kept_block(&db).await;
    let owner = RawPool::postgres_owner(db.postgres_url().unwrap()).await;
    // The owner is refused by the trigger instead, the guard that stays where the role cannot be set up.
    let refused = sqlstate(owner.execute("DELETE FROM measurements").await);
    assert!(refused.is_some_and(|code| code != "42501"), "the owner reached the trigger");
    owner.close().await;
    db.store.close().await;
}
