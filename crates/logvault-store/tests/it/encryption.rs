//! SQLite encryption at rest: the file is SQLCipher, not SQLite, and only the right key opens it.

use std::collections::BTreeMap;
use std::path::Path;

use logvault_core::{MasterKey, OrgName};
use logvault_store::sqlite::{SQLCIPHER_KEY_PURPOSE, SqliteStore};
use logvault_store::testing::TestDatabase;
use logvault_store::{Location, StoreError};

const CANARY: &str = "Canary Organisation 7f3a9c";

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_sqlite_file_has_no_sqlite_header_and_no_plaintext_canary() {
    let db = TestDatabase::sqlite().await;
    db.store.create_organisation(&OrgName::parse(CANARY).unwrap()).await.unwrap();
    db.store.close().await;
    let path = db.sqlite_path.clone().unwrap();
    let dir = path.parent().unwrap();
    for (name, bytes) in snapshot(dir) {
        assert!(!bytes.starts_with(b"SQLite format 3"), "{name} has a plain SQLite header");
        assert!(!contains(&bytes, CANARY.as_bytes()), "{name} holds the canary in plaintext");
        assert!(!contains(&bytes, b"organisations"), "{name} holds the schema in plaintext");
    }
    assert!(SqliteStore::open_without_key_for_tests(&path).await.is_err());
}

#[tokio::test]
async fn a_wrong_key_is_one_clear_error_and_changes_nothing_on_disk() {
    let db = TestDatabase::sqlite().await;
    db.store.create_organisation(&OrgName::parse(CANARY).unwrap()).await.unwrap();
    db.store.close().await;
    let path = db.sqlite_path.clone().unwrap();
    let dir = path.parent().unwrap();
    let before = snapshot(dir);

    let other_dir = tempfile::tempdir().unwrap();
    let wrong = MasterKey::create(&other_dir.path().join("master.key")).unwrap();
    let err = logvault_store::open(Location::Sqlite { path: path.clone(), key: wrong.derive(SQLCIPHER_KEY_PURPOSE) })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err:?}");
    assert!(err.to_string().contains("wrong master key"), "{err}");
    assert_eq!(before, snapshot(dir), "a failed open changed the data directory");

    // The right key still opens it, with the data intact.
    let right = MasterKey::load(&dir.join("master.key")).unwrap();
    let store =
        logvault_store::open(Location::Sqlite { path, key: right.derive(SQLCIPHER_KEY_PURPOSE) }).await.unwrap();
    store.organisation_by_name(&OrgName::parse(CANARY).unwrap()).await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn a_plain_sqlite_file_is_refused_as_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.db");
    {
        use sqlx::{ConnectOptions, Connection};
        let mut conn =
            sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true).connect().await.unwrap();
        sqlx::query("CREATE TABLE t (x)").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let key = MasterKey::create(&dir.path().join("master.key")).unwrap();
    let err =
        logvault_store::open(Location::Sqlite { path, key: key.derive(SQLCIPHER_KEY_PURPOSE) }).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err:?}");
}

#[tokio::test]
async fn sqlite_connections_use_wal_full_sync_foreign_keys_and_in_memory_temp_storage() {
    let db = TestDatabase::sqlite().await;
    let logvault_store::testing::RawPool::Sqlite(pool) = db.raw_pool().await else { unreachable!("sqlite") };
    // Several connections, so a pragma applied to the first one only would show.
    for _ in 0..3 {
        let mut conn = pool.acquire().await.unwrap();
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap();
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store").fetch_one(&mut *conn).await.unwrap();
        let cipher: String = sqlx::query_scalar("PRAGMA cipher_version").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(synchronous, 2, "synchronous must be FULL");
        assert_eq!(foreign_keys, 1);
        assert_eq!(temp_store, 2, "temp_store must be MEMORY");
        assert!(!cipher.is_empty(), "not linked against SQLCipher");
    }
    db.store.close().await;
}
