//! `logvault user create` and `logvault audit verify`: changing, deleting or swapping an audit entry directly in
//! the database (as someone with database access who first disables the guards would) is found and named.

use std::io::Write;
use std::process::Stdio;

use logvault_core::MasterKey;
use logvault_store::sqlite::{SQLCIPHER_KEY_PURPOSE, SqliteStore};

use crate::support::{Instance, error_line, logvault, run};

const PASSWORD: &str = "a long and unusual passphrase for the audit tests";

impl Instance {
    fn create_user(&self, email: &str, role: &str) {
        let mut child = self
            .command()
            .args(["user", "create", "--org", "Acme", "--email", email, "--role", role, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    fn verify(&self) -> std::process::Output {
        run(self.command().args(["audit", "verify"]))
    }
}

async fn instance(postgres: bool) -> Option<Instance> {
    let instance = Instance::new(postgres).await?;
    for (email, role) in [("ana@example.test", "owner"), ("bo@example.test", "viewer"), ("cy@example.test", "auditor")]
    {
        instance.create_user(email, role);
    }
    let output = instance.verify();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("3 entries, intact"));
    Some(instance)
}

async fn tampering_is_found_and_the_entry_named(postgres: bool) {
    let cases: [(&[&str], &str); 3] = [
        (&["UPDATE audit_log SET detail = 'role:owner' WHERE seq = 2"], "entry 2 was changed"),
        (&["DELETE FROM audit_log WHERE seq = 2"], "entry 2 is missing"),
        (
            &[
                "UPDATE audit_log SET seq = 100 WHERE seq = 1",
                "UPDATE audit_log SET seq = 1 WHERE seq = 2",
                "UPDATE audit_log SET seq = 2 WHERE seq = 100",
            ],
            "entry 1 was changed",
        ),
    ];
    for (statements, expected) in cases {
        let Some(instance) = instance(postgres).await else { return };
        instance
            .tamper(&["audit_log"], &["audit_log_is_append_only_update", "audit_log_is_append_only_delete"], statements)
            .await;
        let line = error_line(&instance.verify());
        assert!(line.contains("audit log verification failed"), "{line}");
        assert!(line.contains(expected), "expected {expected:?} in {line:?}");
    }
}

#[tokio::test]
async fn audit_verify_names_a_changed_deleted_or_swapped_entry_on_sqlite() {
    tampering_is_found_and_the_entry_named(false).await;
}

#[tokio::test]
async fn audit_verify_names_a_changed_deleted_or_swapped_entry_on_postgres() {
    tampering_is_found_and_the_entry_named(true).await;
}

#[tokio::test]
async fn user_create_refuses_a_weak_password_with_the_reason_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = logvault()
        .args(["user", "create", "--org", "Acme", "--email", "ana@example.test", "--password-stdin", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"password1234567\n").unwrap();
    let line = error_line(&child.wait_with_output().unwrap());
    assert!(line.contains("common"), "{line}");
    assert!(!line.contains("password1234567"), "the password was echoed: {line}");
    assert!(!dir.path().join("logvault.db").exists(), "a refused command created a database");

    let line = error_line(&run(logvault()
        .args(["user", "create", "--org", "Acme", "--email", "not-an-email", "--data-dir"])
        .arg(dir.path())));
    assert!(line.contains("email"), "{line}");
    let line = error_line(&run(logvault()
        .args(["user", "create", "--org", "Acme", "--email", "a@example.test", "--role", "god", "--data-dir"])
        .arg(dir.path())));
    assert!(line.contains("role"), "{line}");
}

#[tokio::test]
async fn user_unlock_clears_a_lockout_and_is_audited() {
    let Some(instance) = instance(false).await else { return };
    let key = MasterKey::load(&instance.dir.path().join("master.key")).unwrap();
    let path = instance.dir.path().join("logvault.db");
    let store = SqliteStore::open(&path, &key.derive(SQLCIPHER_KEY_PURPOSE)).await.unwrap();
    use logvault_store::prelude::*;
    let user = store.user_credentials(&logvault_core::Email::parse("bo@example.test").unwrap()).await.unwrap().user;
    let mut now = 1_000_000_000;
    for _ in 0..100 {
        now = now.max(store.account_counters(user.id).await.unwrap().locked_until_us.min(i64::MAX - 1));
        store.begin_sign_in_attempt(user.id, now).await.unwrap().expect("not locked yet");
        now += 60_000_000;
    }
    assert!(store.account_counters(user.id).await.unwrap().is_locked(i64::MAX - 1), "locked for good");
    store.close().await;

    let output = run(instance.command().args(["user", "unlock", "--email", "bo@example.test"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let store = SqliteStore::open(&path, &key.derive(SQLCIPHER_KEY_PURPOSE)).await.unwrap();
    assert!(!store.account_counters(user.id).await.unwrap().is_locked(now));
    let trail = store.audit_entries(logvault_core::audit::INSTANCE_CHAIN, 0, 10).await.unwrap();
    assert!(trail.iter().any(|e| e.action == "auth.unlock" && e.actor == "cli"), "{trail:?}");
    store.close().await;
    let line = error_line(&run(instance.command().args(["user", "unlock", "--email", "nobody@example.test"])));
    assert!(line.contains("no user"), "{line}");
}
