//! The audit log on both engines: chained appends, concurrent appends, and database-level append-only guards.

use logvault_core::audit::{self, NewEntry, Outcome};
use logvault_store::testing::TestDatabase;
use logvault_store::{Engine, conformance};

fn event(chain_id: i64, action: &str) -> NewEntry {
    NewEntry {
        chain_id,
        occurred_at_us: 1_700_000_000_000_000,
        actor: "user:1".to_owned(),
        action: action.to_owned(),
        target: Some("user:2".to_owned()),
        outcome: Outcome::Success,
        request_id: Some("0123456789abcdef01234567".to_owned()),
        detail: None,
    }
}

conformance!(appended_entries_form_a_verifiable_chain_per_organisation, |db: TestDatabase| async move {
    for i in 0..5 {
        db.store.append_audit(event(1, &format!("a.{i}"))).await.unwrap();
    }
    db.store.append_audit(event(2, "b.0")).await.unwrap();
    let entries = db.store.audit_entries(1, 0, 100).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(entries[4].action, "a.4");
    assert_eq!(audit::verify_chain(1, &entries, db.store.audit_head(1).await.unwrap()), Ok(()));
    assert_eq!(db.store.audit_entries(1, 3, 1).await.unwrap()[0].seq, 4);
    assert_eq!(db.store.audit_chain_ids().await.unwrap(), [1, 2]);
    assert_eq!(db.store.audit_head(2).await.unwrap().map(|h| h.0), Some(1));
});

conformance!(concurrent_appends_never_fork_the_chain, |db: TestDatabase| async move {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move { store.append_audit(event(3, &format!("c.{i}"))).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let entries = db.store.audit_entries(3, 0, 100).await.unwrap();
    assert_eq!(entries.len(), 20);
    assert_eq!(audit::verify_chain(3, &entries, db.store.audit_head(3).await.unwrap()), Ok(()));
});

conformance!(the_database_refuses_to_update_or_delete_audit_entries, |db: TestDatabase| async move {
    db.store.append_audit(event(1, "x")).await.unwrap();
    let pool = db.raw_pool().await;
    db.store.append_audit(event(1, "y")).await.unwrap();
    let mut refused = vec![
        "UPDATE audit_log SET detail = 'forged'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_heads",
        "UPDATE audit_heads SET seq = 7",
        "UPDATE audit_heads SET seq = 3",
        // An entry that does not extend the head, and one that skips ahead.
        "INSERT INTO audit_log (chain_id, seq, occurred_at_us, actor, action, outcome, prev_hash, entry_hash) \
         SELECT 1, 3, 0, 'x', 'forged', 'success', entry_hash, entry_hash FROM audit_log WHERE seq = 1",
        "INSERT INTO audit_log (chain_id, seq, occurred_at_us, actor, action, outcome, prev_hash, entry_hash) \
         SELECT 1, 4, 0, 'x', 'forged', 'success', entry_hash, entry_hash FROM audit_log WHERE seq = 2",
        // A second head for a chain.
        "INSERT INTO audit_heads (chain_id, seq, entry_hash) SELECT 1, 1, entry_hash FROM audit_log WHERE seq = 1",
    ];
    if db.engine == Engine::Sqlite {
        // REPLACE deletes without firing DELETE triggers; the insert guards must stop it.
        refused.push(
            "INSERT OR REPLACE INTO audit_log (chain_id, seq, occurred_at_us, actor, action, outcome, prev_hash, \
             entry_hash) SELECT chain_id, seq, occurred_at_us, actor, 'forged', outcome, prev_hash, entry_hash \
             FROM audit_log WHERE seq = 1",
        );
        refused.push(
            "INSERT OR REPLACE INTO audit_heads (chain_id, seq, entry_hash) \
             SELECT 1, 1, entry_hash FROM audit_log WHERE seq = 1",
        );
    }
    for sql in refused {
        let refused = pool.execute(sql).await;
        assert!(refused.is_err(), "{sql} was allowed");
    }
    if db.engine == Engine::Postgres {
        assert!(pool.execute("TRUNCATE audit_log").await.is_err(), "TRUNCATE was allowed");
    }
    assert_eq!(db.store.audit_entries(1, 0, 10).await.unwrap()[0].detail, None);
});
