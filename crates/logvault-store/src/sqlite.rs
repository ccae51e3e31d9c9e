//! The embedded engine: one SQLCipher-encrypted SQLite file in the data directory.
//!
//! Connections are opened with a raw 256-bit key (`PRAGMA key = "x'…'"`, executed first by sqlx), WAL journaling,
//! `synchronous = FULL` (a commit is on disk before we acknowledge it), foreign keys on, and temporary tables kept
//! in memory so nothing spills to an unencrypted temp file. Statement logging is off: the key pragma is a statement.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use logvault_core::{OrgName, SubKey};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Row};
use time::OffsetDateTime;

use crate::{Engine, MigrationStatus, Organisation, Store, StoreError};

/// The master-key derivation label of the SQLCipher key. Changing it makes every existing database unreadable.
pub const SQLCIPHER_KEY_PURPOSE: &str = "logvault/sqlcipher/v1";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store. Cheap to clone (the pool is reference-counted).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
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
            .log_statements(tracing::log::LevelFilter::Off)
            .log_slow_statements(tracing::log::LevelFilter::Off, Duration::from_secs(3600));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|err| map_open_error(path, err))?;
        restrict_to_owner(path).map_err(StoreError::Io)?;
        let store = SqliteStore { pool };
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

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT count(*) FROM sqlite_master").fetch_one(&self.pool).await?;
        Ok(())
    }

    async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let has_table: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
                .fetch_one(&self.pool)
                .await?;
        let applied = if has_table == 0 {
            Vec::new()
        } else {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&self.pool)
                .await?
        };
        let embedded: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        Ok(MigrationStatus::compare(&embedded, applied))
    }

    async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let before = self.migration_status().await?;
        MIGRATOR.run(&self.pool).await?;
        Ok(before.pending)
    }

    async fn create_organisation(&self, name: &OrgName) -> Result<Organisation, StoreError> {
        let created_at = now();
        let id: i64 = sqlx::query_scalar("INSERT INTO organisations (name, created_at) VALUES (?, ?) RETURNING id")
            .bind(name.as_str())
            .bind(created_at)
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("organisation", err))?;
        Ok(Organisation { id, name: name.clone(), created_at })
    }

    async fn organisation_by_name(&self, name: &OrgName) -> Result<Organisation, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM organisations WHERE name = ?")
            .bind(name.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("organisation", err))?;
        organisation_from_row(&row)
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        let rows =
            sqlx::query("SELECT id, name, created_at FROM organisations ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(organisation_from_row).collect()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

fn organisation_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Organisation, StoreError> {
    let name: String = row.try_get("name")?;
    Ok(Organisation {
        id: row.try_get("id")?,
        name: OrgName::parse(&name).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
        created_at: row.try_get("created_at")?,
    })
}

/// The current time, truncated to microseconds so it round-trips identically through both engines.
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let micros = now.microsecond();
    now.replace_microsecond(micros).unwrap_or(now)
}
