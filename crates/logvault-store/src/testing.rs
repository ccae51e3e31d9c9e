//! Fresh databases for tests, on both engines (feature `testing`).
//!
//! SQLite: a new encrypted file in a temporary directory. PostgreSQL: a new database on the server named by
//! `LOGVAULT_TEST_DATABASE_URL` (an admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`), dropped when
//! the guard is dropped. When that variable is unset the PostgreSQL half is skipped with a message — except under
//! CI (`CI` set), where a skip would hide a whole engine and therefore fails the test.

use std::path::PathBuf;
use std::sync::Arc;

use logvault_core::MasterKey;
use secrecy::{ExposeSecret, SecretString};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::Engine;
use crate::prelude::*;

/// The environment variable naming the PostgreSQL server used by tests.
pub const TEST_DATABASE_URL_VAR: &str = "LOGVAULT_TEST_DATABASE_URL";

/// A fresh, migrated store and whatever keeps its database alive.
#[derive(Debug)]
pub struct TestDatabase {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    /// The SQLite file, for tests that inspect it.
    pub sqlite_path: Option<PathBuf>,
    raw: RawPool,
    keep: Arc<KeepAlive>,
}

/// Direct SQL access past the `Store` interface, for tests that play an attacker with database access.
#[derive(Debug, Clone)]
pub enum RawPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl RawPool {
    /// Closes the pool, waiting for its connections to finish.
    pub async fn close(&self) {
        match self {
            RawPool::Sqlite(pool) => pool.close().await,
            RawPool::Postgres(pool) => pool.close().await,
        }
    }

    /// The first column of every row of `sql`, as bytes (for looking at stored blobs as an attacker would).
    pub async fn blobs(&self, sql: &str) -> Result<Vec<Vec<u8>>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            RawPool::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            RawPool::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
    }

    /// A pool on the PostgreSQL database at `url` as the login role itself (the tables' owner), not switched to the
    /// restricted role the store's own pool runs as: what someone holding the database credentials can do.
    pub async fn postgres_owner(url: &SecretString) -> RawPool {
        let options: sqlx::postgres::PgConnectOptions = url.expose_secret().parse().expect("a postgres URL");
        RawPool::Postgres(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .expect("postgres opens as the owner"),
        )
    }

    /// Opens a second connection pool to the database a server in `data_dir` (and at `database_url`, for
    /// PostgreSQL, as the owner) uses, with the master key found there.
    pub async fn open_beside(data_dir: &std::path::Path, database_url: Option<&SecretString>) -> RawPool {
        match database_url {
            Some(url) => RawPool::postgres_owner(url).await,
            None => {
                let master = logvault_core::MasterKey::load(&data_dir.join("master.key")).expect("master key");
                let key = master.derive(crate::sqlite::SQLCIPHER_KEY_PURPOSE);
                let store = crate::sqlite::SqliteStore::open(&data_dir.join("logvault.db"), &key).await.expect("opens");
                RawPool::Sqlite(store.pool().clone())
            }
        }
    }

    /// The baseline of the ingest benchmark: inserts `rows` `(device_id, t_s, ordinal, channel, value, block_id)` into
    /// a plain table shaped like `measurements` (no triggers, no foreign keys), in one transaction, with multi-row
    /// statements — the least a database can do to store the same values durably.
    pub async fn insert_baseline_rows(&self, rows: &[(i64, i64, i32, i32, i32, i64)]) -> Result<(), sqlx::Error> {
        const CREATE: &str = "CREATE TABLE IF NOT EXISTS bench_measurements (device_id BIGINT NOT NULL, \
             t_s BIGINT NOT NULL, ordinal INTEGER NOT NULL, channel INTEGER NOT NULL, value INTEGER NOT NULL, \
             block_id BIGINT NOT NULL, PRIMARY KEY (device_id, channel, t_s, ordinal))";
        const INSERT: &str = "INSERT INTO bench_measurements (device_id, t_s, ordinal, channel, value, block_id) ";
        macro_rules! insert {
            ($pool:expr, $db:ty, $begin:expr) => {{
                sqlx::query(CREATE).execute($pool).await?;
                let mut tx = $begin;
                for chunk in rows.chunks(1_000) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(INSERT);
                    query.push_values(chunk, |mut row, r| {
                        row.push_bind(r.0).push_bind(r.1).push_bind(r.2).push_bind(r.3).push_bind(r.4).push_bind(r.5);
                    });
                    query.build().execute(&mut *tx).await?;
                }
                tx.commit().await
            }};
        }
        match self {
            RawPool::Sqlite(pool) => insert!(pool, sqlx::Sqlite, pool.begin_with("BEGIN IMMEDIATE").await?),
            RawPool::Postgres(pool) => insert!(pool, sqlx::Postgres, pool.begin().await?),
        }
    }

    /// The engine's plan for `sql` with `binds`, one line per plan row: SQLite's `EXPLAIN QUERY PLAN` details,
    /// PostgreSQL's `EXPLAIN` with sequential scans disabled — on a test database's few rows PostgreSQL would
    /// rightly read the whole table; disabled, it still does when no index serves the condition, so the plan shows
    /// whether one does.
    pub async fn query_plan(&self, sql: &str, binds: &[i64]) -> Result<String, sqlx::Error> {
        use sqlx::Row as _;
        macro_rules! plan {
            ($conn:expr, $explain:literal, $column:literal) => {{
                let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(concat!($explain, " {}"), sql)));
                for bind in binds {
                    query = query.bind(*bind);
                }
                let rows = query.fetch_all($conn).await?;
                rows.iter().map(|row| row.try_get::<String, _>($column)).collect::<Result<Vec<_>, _>>()?.join("\n")
            }};
        }
        match self {
            RawPool::Sqlite(pool) => Ok(plan!(pool, "EXPLAIN QUERY PLAN", "detail")),
            RawPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await?;
                let plan = plan!(&mut *tx, "EXPLAIN", 0);
                tx.rollback().await?;
                Ok(plan)
            }
        }
    }

    /// Executes one statement; returns the number of rows affected.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            RawPool::Sqlite(pool) => Ok(sqlx::query(sql).execute(pool).await?.rows_affected()),
            RawPool::Postgres(pool) => Ok(sqlx::query(sql).execute(pool).await?.rows_affected()),
        }
    }
}

/// What must outlive every use of a [`TestDatabase`]'s store: its directory or its PostgreSQL database.
///
/// A closure that only uses `db.store` captures just that field, so the conformance macro holds one of these for
/// the whole test.
#[derive(Debug)]
pub struct KeepAlive {
    _sqlite_dir: Option<tempfile::TempDir>,
    _postgres: Option<PgTestDb>,
}

/// A PostgreSQL database created for one test and dropped (with `FORCE`) when this guard goes.
#[derive(Debug)]
pub struct PgTestDb {
    admin_url: String,
    name: String,
    url: SecretString,
}

impl TestDatabase {
    /// A fresh store on `engine`, or `None` when the PostgreSQL half is skipped outside CI.
    pub async fn new(engine: Engine) -> Option<TestDatabase> {
        match engine {
            Engine::Sqlite => Some(TestDatabase::sqlite().await),
            Engine::Postgres => TestDatabase::postgres().await,
        }
    }

    /// Direct SQL on the store's own connections (on PostgreSQL: as the restricted role they run as), bypassing
    /// the store's code (and its guards only where the database allows).
    pub async fn raw_pool(&self) -> RawPool {
        self.raw.clone()
    }

    /// The URL of the PostgreSQL test database (`None` on SQLite).
    pub fn postgres_url(&self) -> Option<&SecretString> {
        self.keep._postgres.as_ref().map(PgTestDb::url)
    }

    /// A handle that keeps the database alive for as long as it is held.
    pub fn keep_alive(&self) -> Arc<KeepAlive> {
        Arc::clone(&self.keep)
    }

    /// A fresh store on `engine` migrated only up to and including `version`, for tests of a later migration; `None`
    /// when the PostgreSQL half is skipped outside CI. [`Store::migrate`] applies the rest.
    pub async fn migrated_to(engine: Engine, version: i64) -> Option<TestDatabase> {
        match engine {
            Engine::Sqlite => Some(TestDatabase::sqlite_at(Some(version)).await),
            Engine::Postgres => TestDatabase::postgres_at(Some(version)).await,
        }
    }

    /// A fresh encrypted SQLite store in a temporary directory.
    pub async fn sqlite() -> TestDatabase {
        TestDatabase::sqlite_at(None).await
    }

    /// A fresh PostgreSQL store, or `None` when `LOGVAULT_TEST_DATABASE_URL` is unset outside CI.
    pub async fn postgres() -> Option<TestDatabase> {
        TestDatabase::postgres_at(None).await
    }

    async fn sqlite_at(version: Option<i64>) -> TestDatabase {
        let dir = tempfile::tempdir().expect("create temp dir");
        let key = MasterKey::create(&dir.path().join("master.key")).expect("create master key");
        let path = dir.path().join("logvault.db");
        let sqlite = crate::sqlite::SqliteStore::open(&path, &key.derive(crate::sqlite::SQLCIPHER_KEY_PURPOSE))
            .await
            .expect("open fresh sqlite store");
        match version {
            Some(version) => sqlite.migrate_to(version).await.expect("migrate fresh sqlite store partly"),
            None => drop(sqlite.migrate().await.expect("migrate fresh sqlite store")),
        }
        TestDatabase {
            raw: RawPool::Sqlite(sqlite.pool().clone()),
            store: Arc::new(sqlite),
            engine: Engine::Sqlite,
            sqlite_path: Some(path),
            keep: Arc::new(KeepAlive { _sqlite_dir: Some(dir), _postgres: None }),
        }
    }

    async fn postgres_at(version: Option<i64>) -> Option<TestDatabase> {
        let db = PgTestDb::create().await?;
        let postgres = crate::postgres::PgStore::open(&db.url).await.expect("open fresh postgres store");
        match version {
            Some(version) => postgres.migrate_to(version).await.expect("migrate fresh postgres store partly"),
            None => drop(postgres.migrate().await.expect("migrate fresh postgres store")),
        }
        Some(TestDatabase {
            raw: RawPool::Postgres(postgres.pool().clone()),
            store: Arc::new(postgres),
            engine: Engine::Postgres,
            sqlite_path: None,
            keep: Arc::new(KeepAlive { _sqlite_dir: None, _postgres: Some(db) }),
        })
    }
}

impl PgTestDb {
    /// Creates an empty database, or returns `None` when PostgreSQL tests are not configured (outside CI).
    pub async fn create() -> Option<PgTestDb> {
        let admin_url = match std::env::var(TEST_DATABASE_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var_os("CI").is_some() => panic!(
                "{TEST_DATABASE_URL_VAR} is not set under CI: the PostgreSQL half of the storage tests would \
                 silently skip"
            ),
            _ => {
                eprintln!("note: {TEST_DATABASE_URL_VAR} is not set; skipping the PostgreSQL half of this test");
                return None;
            }
        };
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).expect("os random");
        let name = format!("logvault_test_{}", hex::encode(suffix));
        let mut conn = PgConnection::connect(&admin_url).await.expect("connect to the PostgreSQL test server");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let url = replace_database(&admin_url, &name);
        Some(PgTestDb { admin_url, name, url: SecretString::from(url) })
    }

    /// The URL of the fresh database.
    pub fn url(&self) -> &SecretString {
        &self.url
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside a Tokio runtime, which must not block on another; a plain thread with its own small
        // runtime is always allowed to.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok();
                }
            });
        });
        dropper.join().ok();
    }
}

/// Replaces the database name (the URL path) of a `postgres://` URL, keeping any query string.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// The engines a storage test runs on, for tests that loop rather than use [`conformance!`](crate::conformance).
pub fn engines() -> [Engine; 2] {
    [Engine::Sqlite, Engine::Postgres]
}

/// Exposes the secret URL for tests that hand it to a server under test.
pub fn expose(url: &SecretString) -> &str {
    url.expose_secret()
}

/// Writes one storage test once and runs it on both engines, as `NAME::sqlite` and `NAME::postgres`.
///
/// ```text
/// conformance!(organisations_are_unique, |db: TestDatabase| async move { ... });
/// ```
#[macro_export]
macro_rules! conformance {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let db = $crate::testing::TestDatabase::new($crate::Engine::Sqlite).await.expect("sqlite always runs");
                let _keep = db.keep_alive();
                let store = std::sync::Arc::clone(&db.store);
                ($body)(db).await;
                // Close before the test ends: connections finalised during process exit race OpenSSL's cleanup.
                store.close().await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDatabase::new($crate::Engine::Postgres).await {
                    let _keep = db.keep_alive();
                    let store = std::sync::Arc::clone(&db.store);
                    ($body)(db).await;
                    store.close().await;
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(replace_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(replace_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
        assert_eq!(replace_database("postgres://u@h/db?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    }
}
