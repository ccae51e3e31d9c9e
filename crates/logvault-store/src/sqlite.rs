//! The embedded engine: one SQLCipher-encrypted SQLite file in the data directory.
//!
//! Connections are opened with a raw 256-bit key (`PRAGMA key = "x'…'"`, executed first by sqlx), WAL journaling,
//! `synchronous = FULL` (a commit is on disk before we acknowledge it), foreign keys on, and temporary tables kept
//! in memory so nothing spills to an unencrypted temp file. Statement logging is off: the key pragma is a statement.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use logvault_core::SubKey;
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::group_commit::GroupCommit;
use crate::queries::{Lock, impl_queries};
use crate::{Engine, Guards, InstanceStore, MigrationStatus, StoreError};

/// The master-key derivation label of the SQLCipher key. Changing it makes every existing database unreadable.
pub const SQLCIPHER_KEY_PURPOSE: &str = "logvault/sqlcipher/v1";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store. Cheap to clone (the pool is reference-counted).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The ingest writer every clone shares: `store_block` goes through it (see [`crate::group_commit`]).
    group_commit: Arc<GroupCommit>,
}

impl SqliteStore {
    /// Applies the migrations up to and including `version` only (tests of a later migration's data changes).
    #[cfg(feature = "testing")]
    pub(crate) async fn migrate_to(&self, version: i64) -> Result<(), StoreError> {
        MIGRATOR.run_to(version, &self.pool).await?;
        Ok(())
    }

    /// Opens (creating if missing) the encrypted database at `path`.
    ///
    /// A wrong key fails here with [`StoreError::WrongKey`] before anything is written.
    pub async fn open(path: &Path, key: &SubKey) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(StoreError::Io)?;
        }
        silence_sqlcipher_logging().await;
        let key_pragma = format!("\"x'{}'\"", key.to_hex().as_str());
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .pragma("key", key_pragma)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "MEMORY")
            // REPLACE conflict resolution deletes the old row without firing DELETE triggers unless this is on:
            // with it, `INSERT OR REPLACE` cannot slip past the immutability guards.
            .pragma("recursive_triggers", "ON")
            .log_statements(tracing::log::LevelFilter::Off)
            .log_slow_statements(tracing::log::LevelFilter::Off, Duration::from_secs(3600));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|err| map_open_error(path, err))?;
        restrict_to_owner(path).map_err(StoreError::Io)?;
        let store = SqliteStore { pool, group_commit: Arc::default() };
        // Reading the schema forces SQLCipher to decrypt page 1; a wrong key fails here.
        store.ping().await.map_err(|err| match err {
            StoreError::Database(inner) => map_open_error(path, inner),
            other => other,
        })?;
        Ok(store)
    }

    /// Opens the file as plain, unencrypted SQLite; used only by tests to show that this fails.
    #[doc(hidden)]
    pub async fn open_without_key_for_tests(path: &Path) -> Result<(), sqlx::Error> {
        let mut conn = SqliteConnectOptions::from_str("sqlite://")?.filename(path).connect().await?;
        sqlx::query("SELECT count(*) FROM sqlite_master").fetch_one(&mut conn).await?;
        Ok(())
    }
}

/// SQLCipher writes its own diagnostics (e.g. "hmac check failed for pgno=1" on a wrong key) straight to stderr,
/// beside our one clear error. Its log level is process-wide, so set it once on a throwaway in-memory connection.
async fn silence_sqlcipher_logging() {
    static SILENCED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SILENCED
        .get_or_init(|| async {
            let Ok(options) = SqliteConnectOptions::from_str("sqlite::memory:") else {
                return;
            };
            if let Ok(mut conn) = options.connect().await {
                sqlx::query("PRAGMA cipher_log_level = NONE").execute(&mut conn).await.ok();
            }
        })
        .await;
}

/// SQLite creates the file with the process umask; the WAL and shared-memory files copy the main file's mode.
fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn map_open_error(path: &Path, err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        // SQLITE_NOTADB (26): SQLCipher could not decrypt page 1.
        if db.code().as_deref() == Some("26") || db.message().contains("file is not a database") {
            return StoreError::WrongKey { path: path.display().to_string() };
        }
    }
    StoreError::Database(err)
}

impl_queries!(SqliteStore, sqlx::Sqlite, "");

/// The hooks of the shared queries (see [`crate::queries`]).
impl SqliteStore {
    const ENGINE: Engine = Engine::Sqlite;

    /// Reading the schema makes SQLCipher decrypt page 1: a wrong key fails here.
    const PING: &'static str = "SELECT count(*) FROM sqlite_master";

    async fn run_migrations(&self, _before: &MigrationStatus) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn database_guards(&self) -> Result<Guards, StoreError> {
        Ok(Guards::Triggers)
    }

    /// `BEGIN IMMEDIATE` takes the database's write lock up front: writers run one at a time, so a transaction's
    /// reads stay true until it commits, and no [`Lock`] is needed.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A deferred transaction reads one snapshot of the WAL.
    async fn begin_snapshot(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// One transaction per device; IMMEDIATE takes the write lock, so no block is kept meanwhile.
    async fn begin_purge(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        self.begin_write().await
    }

    /// Through group commit: blocks that queue up while a commit is made share the next one.
    async fn commit_block(&self, block: IncomingBlock) -> Result<IngestOutcome, StoreError> {
        // The writer's own store shares the pool, not the queue, so the queue closes with the last caller's store.
        let writer = || SqliteStore { pool: self.pool.clone(), group_commit: Arc::default() };
        self.group_commit.keep(writer, block).await
    }

    /// Nothing to take: the write transaction already excludes every other writer.
    async fn lock(_conn: &mut sqlx::SqliteConnection, _lock: Lock<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    /// The purge record, returning its id.
    const INSERT_PURGE: &'static str = "INSERT INTO retention_purges (org_id, device_id, cutoff_s, through_seq, \
         purged_at_us) VALUES ($1, $2, $3, $4, $5) RETURNING id";

    /// Opens the recorded purge in `retention_open_purges`: the guard triggers let deletes of this device's expired
    /// rows through only while that row exists (inside this transaction).
    async fn open_purge(conn: &mut sqlx::SqliteConnection, purge_id: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO retention_open_purges (purge_id) VALUES ($1)")
            .bind(purge_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn close_purge(conn: &mut sqlx::SqliteConnection, purge_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM retention_open_purges WHERE purge_id = $1").bind(purge_id).execute(&mut *conn).await?;
        Ok(())
    }

    async fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(tables > 0)
    }
}
