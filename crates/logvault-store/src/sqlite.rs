//! The embedded engine: one SQLCipher-encrypted SQLite file in the data directory.
//!
//! Connections are opened with a raw 256-bit key (`PRAGMA key = "x'…'"`, executed first by sqlx), WAL journaling,
//! `synchronous = FULL` (a commit is on disk before we acknowledge it), foreign keys on, and temporary tables kept
//! in memory so nothing spills to an unencrypted temp file. Statement logging is off: the key pragma is a statement.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use logvault_core::audit::{Entry, NewEntry, Outcome};
use logvault_core::authz::Role;
use logvault_core::blockchain::ChainAnchor;
use logvault_core::retention::Retention;
use logvault_core::throttle::{AccountCounters, FailureEffect, IpBucket};
use logvault_core::{Email, OrgName, SubKey};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Row};

use crate::model::{api_token_columns, hash32, now, parse_role};
use crate::retention::{self, retention_from_days};
use crate::rollups::{self, Source};
use crate::{
    Acceptance, AcceptedInvitation, ApiToken, Credentials, Device, DeviceChain, DevicePurge, EmailCode, Engine, Guards,
    IncomingBlock, IngestDevice, IngestOutcome, Invitation, InvitationPurpose, ManufacturerToken, Measurement,
    MeasurementQuery, Member, Membership, MigrationStatus, NewApiToken, NewDevice, NewInvitation, NewSession, OrgScope,
    Organisation, PurgeReport, Session, Site, Store, StoreError, TotpRecord, UnclaimedDevice, User,
};
use crate::{Bucket, BucketQuery, ChainSummary, SigningKeyRecord, ingest};

/// The master-key derivation label of the SQLCipher key. Changing it makes every existing database unreadable.
pub const SQLCIPHER_KEY_PURPOSE: &str = "logvault/sqlcipher/v1";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store. Cheap to clone (the pool is reference-counted).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
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

#[cfg(feature = "testing")]
impl SqliteStore {
    /// The pool, for tests that must reach past the store (e.g. to tamper with rows as an attacker would).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
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

    async fn guards(&self) -> Result<Guards, StoreError> {
        Ok(Guards::Triggers)
    }

    async fn key_check(&self) -> Result<Option<[u8; 32]>, StoreError> {
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'instance_key_check'",
        )
        .fetch_one(&self.pool)
        .await?;
        if tables == 0 {
            return Ok(None);
        }
        let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT key_check FROM instance_key_check WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        stored.map(hash32).transpose()
    }

    async fn set_key_check(&self, key_check: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO instance_key_check (id, key_check) VALUES (1, ?) ON CONFLICT (id) DO NOTHING")
            .bind(key_check.as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
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

    async fn organisation(&self, scope: &OrgScope) -> Result<Organisation, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM organisations WHERE id = ?")
            .bind(scope.org_id())
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("organisation", err))?;
        organisation_from_row(&row)
    }

    async fn require_mfa(&self, scope: &OrgScope) -> Result<bool, StoreError> {
        let require: i64 = sqlx::query_scalar("SELECT require_mfa FROM organisations WHERE id = ?")
            .bind(scope.org_id())
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("organisation", err))?;
        Ok(require != 0)
    }

    async fn set_require_mfa(&self, scope: &OrgScope, require: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE organisations SET require_mfa = ? WHERE id = ?")
            .bind(require)
            .bind(scope.org_id())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn user_requires_mfa(&self, user_id: i64) -> Result<bool, StoreError> {
        let require: i64 = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM memberships m JOIN organisations o ON o.id = m.org_id \
             WHERE m.user_id = ? AND o.require_mfa = 1)",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(require != 0)
    }

    async fn member(&self, scope: &OrgScope, user_id: i64) -> Result<Member, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.name, u.disabled, u.created_at_us, m.role, m.site_id FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND m.user_id = ?",
        )
        .bind(scope.org_id())
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("member", err))?;
        let role: String = row.try_get("role")?;
        Ok(Member { user: user_from_row(&row)?, role: parse_role(&role)?, site_id: row.try_get("site_id")? })
    }

    async fn create_site(&self, scope: &OrgScope, name: &str, now_us: i64) -> Result<Site, StoreError> {
        let id: i64 =
            sqlx::query_scalar("INSERT INTO sites (org_id, name, created_at_us) VALUES (?, ?, ?) RETURNING id")
                .bind(scope.org_id())
                .bind(name)
                .bind(now_us)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("site", err))?;
        Ok(Site { id, org_id: scope.org_id(), name: name.to_owned(), created_at_us: now_us })
    }

    async fn sites(&self, scope: &OrgScope) -> Result<Vec<Site>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_id, name, created_at_us FROM sites \
             WHERE org_id = ? AND (? IS NULL OR id = ?) ORDER BY name",
        )
        .bind(scope.org_id())
        .bind(scope.site_id())
        .bind(scope.site_id())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Site {
                    id: row.try_get("id")?,
                    org_id: row.try_get("org_id")?,
                    name: row.try_get("name")?,
                    created_at_us: row.try_get("created_at_us")?,
                })
            })
            .collect()
    }

    async fn set_member_site(&self, scope: &OrgScope, user_id: i64, site_id: Option<i64>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(site_id) = site_id {
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM sites WHERE id = ? AND org_id = ?")
                .bind(site_id)
                .bind(scope.org_id())
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound { entity: "site" });
            }
        }
        let role: String = sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = ? AND user_id = ?")
            .bind(scope.org_id())
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::from_sqlx("member", err))?;
        if site_id.is_some() && matches!(parse_role(&role)?, Role::Owner | Role::Admin) {
            return Err(StoreError::Conflict { entity: "site scope of an owner or admin" });
        }
        sqlx::query("UPDATE memberships SET site_id = ? WHERE org_id = ? AND user_id = ?")
            .bind(site_id)
            .bind(scope.org_id())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn change_role(&self, scope: &OrgScope, user_id: i64, expected: Role, role: Role) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if expected == Role::Owner && role != Role::Owner {
            sqlite_keep_an_owner(&mut tx, scope.org_id()).await?;
        }
        let done = sqlx::query("UPDATE memberships SET role = ? WHERE org_id = ? AND user_id = ? AND role = ?")
            .bind(role.as_str())
            .bind(scope.org_id())
            .bind(user_id)
            .bind(expected.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict { entity: "membership" });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(&self, scope: &OrgScope, user_id: i64, expected: Role) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if expected == Role::Owner {
            sqlite_keep_an_owner(&mut tx, scope.org_id()).await?;
        }
        let done = sqlx::query("DELETE FROM memberships WHERE org_id = ? AND user_id = ? AND role = ?")
            .bind(scope.org_id())
            .bind(user_id)
            .bind(expected.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict { entity: "membership" });
        }
        sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE org_id = ? AND user_id = ?")
            .bind(scope.org_id())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn org_data_key(&self, scope: &OrgScope) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT wrapped FROM org_data_keys WHERE org_id = ?")
            .bind(scope.org_id())
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn put_org_data_key(&self, scope: &OrgScope, wrapped: &[u8], now_us: i64) -> Result<Vec<u8>, StoreError> {
        sqlx::query(
            "INSERT INTO org_data_keys (org_id, wrapped, created_at_us) VALUES (?, ?, ?) \
             ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(scope.org_id())
        .bind(wrapped)
        .bind(now_us)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_scalar("SELECT wrapped FROM org_data_keys WHERE org_id = ?")
            .bind(scope.org_id())
            .fetch_one(&self.pool)
            .await?)
    }

    async fn create_device(&self, scope: &OrgScope, device: NewDevice) -> Result<Device, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let created = insert_device(&mut tx, scope, device).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn devices(&self, scope: &OrgScope) -> Result<Vec<Device>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, serial, org_id, name, site_id, channel_layout, model, settings, created_at_us FROM devices \
             WHERE org_id = ? AND (? IS NULL OR site_id = ?) ORDER BY serial",
        )
        .bind(scope.org_id())
        .bind(scope.site_id())
        .bind(scope.site_id())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(device_from_row).collect()
    }

    async fn device(&self, scope: &OrgScope, serial: &str) -> Result<Device, StoreError> {
        let row = sqlx::query(
            "SELECT id, serial, org_id, name, site_id, channel_layout, model, settings, created_at_us FROM devices \
             WHERE serial = ? AND org_id = ? AND (? IS NULL OR site_id = ?)",
        )
        .bind(serial)
        .bind(scope.org_id())
        .bind(scope.site_id())
        .bind(scope.site_id())
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("device", err))?;
        device_from_row(&row)
    }

    async fn device_keys(&self, scope: &OrgScope, device_id: i64) -> Result<Vec<(u8, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT k.generation, k.key_sealed FROM device_keys k JOIN devices d ON d.id = k.device_id \
             WHERE k.device_id = ? AND d.org_id = ? AND (? IS NULL OR d.site_id = ?) ORDER BY k.generation",
        )
        .bind(device_id)
        .bind(scope.org_id())
        .bind(scope.site_id())
        .bind(scope.site_id())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let generation: i64 = row.try_get("generation")?;
                let generation = u8::try_from(generation)
                    .map_err(|_| StoreError::Database(sqlx::Error::Decode("key generation out of range".into())))?;
                Ok((generation, row.try_get("key_sealed")?))
            })
            .collect()
    }

    async fn add_device_key(
        &self,
        scope: &OrgScope,
        device_id: i64,
        generation: u8,
        key_sealed: &[u8],
        now_us: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO device_keys (device_id, generation, key_sealed, created_at_us) \
             SELECT id, ?, ?, ? FROM devices WHERE id = ? AND org_id = ? AND (? IS NULL OR site_id = ?)",
        )
        .bind(i64::from(generation))
        .bind(key_sealed)
        .bind(now_us)
        .bind(device_id)
        .bind(scope.org_id())
        .bind(scope.site_id())
        .bind(scope.site_id())
        .execute(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("device key", err))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { entity: "device" });
        }
        Ok(())
    }

    async fn create_manufacturer_token(
        &self,
        name: &str,
        token_hash: &[u8; 32],
        now_us: i64,
        expires_at_us: i64,
    ) -> Result<ManufacturerToken, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO manufacturer_tokens (name, token_hash, created_at_us, expires_at_us) VALUES (?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(name)
        .bind(token_hash.as_slice())
        .bind(now_us)
        .bind(expires_at_us)
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("manufacturer token", err))?;
        Ok(ManufacturerToken { id, name: name.to_owned(), expires_at_us, revoked: false })
    }

    async fn manufacturer_token_by_hash(&self, token_hash: &[u8; 32]) -> Result<ManufacturerToken, StoreError> {
        let row = sqlx::query("SELECT id, name, expires_at_us, revoked FROM manufacturer_tokens WHERE token_hash = ?")
            .bind(token_hash.as_slice())
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("manufacturer token", err))?;
        Ok(ManufacturerToken {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            expires_at_us: row.try_get("expires_at_us")?,
            revoked: row.try_get::<i64, _>("revoked")? != 0,
        })
    }

    async fn upload_devices(&self, token_id: i64, devices: &[UnclaimedDevice], now_us: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for device in devices {
            let registered: Option<i64> = sqlx::query_scalar("SELECT id FROM devices WHERE serial = ?")
                .bind(&device.serial)
                .fetch_optional(&mut *tx)
                .await?;
            if registered.is_some() {
                return Err(StoreError::Conflict { entity: "device" });
            }
            sqlx::query(
                "INSERT INTO unclaimed_devices (serial, key_sealed, claim_code_hash, token_id, uploaded_at_us) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&device.serial)
            .bind(&device.key_sealed)
            .bind(device.claim_code_hash.as_slice())
            .bind(token_id)
            .bind(now_us)
            .execute(&mut *tx)
            .await
            .map_err(|err| StoreError::from_sqlx("device", err))?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unclaimed_device(&self, serial: &str) -> Result<Option<UnclaimedDevice>, StoreError> {
        let row = sqlx::query("SELECT serial, key_sealed, claim_code_hash FROM unclaimed_devices WHERE serial = ?")
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(UnclaimedDevice {
                serial: row.try_get("serial")?,
                key_sealed: row.try_get("key_sealed")?,
                claim_code_hash: hash32(row.try_get("claim_code_hash")?)?,
            })
        })
        .transpose()
    }

    async fn claim_device(
        &self,
        scope: &OrgScope,
        claim_code_hash: &[u8; 32],
        device: NewDevice,
    ) -> Result<Device, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let removed = sqlx::query("DELETE FROM unclaimed_devices WHERE serial = ? AND claim_code_hash = ?")
            .bind(&device.serial)
            .bind(claim_code_hash.as_slice())
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() != 1 {
            return Err(StoreError::NotFound { entity: "unclaimed device" });
        }
        let created = insert_device(&mut tx, scope, device).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn device_org(&self, serial: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT org_id FROM devices WHERE serial = ?")
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn ingest_device(&self, serial: &str) -> Result<Option<IngestDevice>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT d.id, d.org_id, d.serial, d.model, k.wrapped FROM devices d \
             LEFT JOIN org_data_keys k ON k.org_id = d.org_id WHERE d.serial = ?",
        )
        .bind(serial)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let device_id: i64 = row.try_get("id")?;
        let keys =
            sqlx::query("SELECT generation, key_sealed FROM device_keys WHERE device_id = ? ORDER BY generation")
                .bind(device_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| {
                    let generation: i64 = row.try_get("generation")?;
                    let generation = u8::try_from(generation)
                        .map_err(|_| StoreError::Database(sqlx::Error::Decode("key generation out of range".into())))?;
                    Ok((generation, row.try_get("key_sealed")?))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(IngestDevice {
            device_id,
            org_id: row.try_get("org_id")?,
            serial: row.try_get("serial")?,
            model: row.try_get("model")?,
            wrapped_data_key: row.try_get("wrapped")?,
            keys,
        }))
    }

    async fn store_block(&self, block: IncomingBlock) -> Result<IngestOutcome, StoreError> {
        // BEGIN IMMEDIATE takes the write lock: blocks are kept one transaction at a time.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let outcome = keep_block(&mut tx, &block).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn store_blocks(
        &self,
        blocks: Vec<IncomingBlock>,
    ) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut results = Vec::with_capacity(blocks.len());
        for block in &blocks {
            // A savepoint per block: one block's failure undoes that block only.
            let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
            match keep_block(&mut savepoint, block).await {
                Ok(outcome) => {
                    savepoint.commit().await?;
                    results.push(Ok(outcome));
                }
                Err(err) => {
                    savepoint.rollback().await?;
                    results.push(Err(err));
                }
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn measurements(
        &self,
        scope: &OrgScope,
        device_id: i64,
        query: MeasurementQuery,
    ) -> Result<Vec<Measurement>, StoreError> {
        let (after_t, after_ordinal) = query.after.unwrap_or((i64::MIN, i32::MIN));
        let rows = sqlx::query(
            "SELECT m.t_s, m.ordinal, m.channel, m.value FROM measurements m JOIN devices d ON d.id = m.device_id \
             WHERE m.device_id = ? AND d.org_id = ? AND (? IS NULL OR d.site_id = ?) AND m.channel = ? \
             AND m.t_s >= ? AND m.t_s < ? AND (m.t_s > ? OR (m.t_s = ? AND m.ordinal > ?)) \
             ORDER BY m.t_s, m.ordinal LIMIT ?",
        )
        .bind(device_id)
        .bind(scope.org_id())
        .bind(scope.site_id())
        .bind(scope.site_id())
        .bind(query.channel)
        .bind(query.from_s)
        .bind(query.to_s)
        .bind(after_t)
        .bind(after_t)
        .bind(after_ordinal)
        .bind(query.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(measurement_from_row).collect()
    }

    async fn measurement_buckets(
        &self,
        scope: &OrgScope,
        device_id: i64,
        query: BucketQuery,
    ) -> Result<Vec<Bucket>, StoreError> {
        match rollups::plan(&query) {
            Some(plan) => buckets(&self.pool, scope, device_id, query.channel, &plan).await,
            None => Ok(Vec::new()),
        }
    }

    async fn device_chain(&self, device_id: i64) -> Result<DeviceChain, StoreError> {
        // One read transaction, so a purge cannot move the anchor between reading it and the blocks.
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT d.serial, b.seq, b.counter, b.key_generation, b.received_at_us, b.source, b.raw, b.prev_hash, \
             b.block_hash FROM blocks b JOIN devices d ON d.id = b.device_id WHERE b.device_id = ? ORDER BY b.id",
        )
        .bind(device_id)
        .fetch_all(&mut *tx)
        .await?;
        let blocks = rows.iter().map(chained_block_from_row).collect::<Result<Vec<_>, _>>()?;
        let head = sqlx::query("SELECT seq, block_hash FROM device_chain_heads WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
        let head = match head {
            Some(row) => Some((row.try_get::<i64, _>("seq")?, hash32(row.try_get("block_hash")?)?)),
            None => None,
        };
        let anchor =
            sqlx::query("SELECT seq, prev_hash, purged_through_s FROM device_chain_anchors WHERE device_id = ?")
                .bind(device_id)
                .fetch_optional(&mut *tx)
                .await?;
        let anchor = match anchor {
            Some(row) => Some(ChainAnchor {
                seq: row.try_get("seq")?,
                prev_hash: hash32(row.try_get("prev_hash")?)?,
                purged_through_s: row.try_get("purged_through_s")?,
            }),
            None => None,
        };
        tx.commit().await?;
        Ok(DeviceChain { blocks, head, anchor })
    }

    async fn device_measurements(&self, device_id: i64) -> Result<Vec<ingest::KeptRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.seq, m.t_s, m.ordinal, m.channel, m.value FROM measurements m JOIN blocks b ON b.id = m.block_id \
             WHERE m.device_id = ? ORDER BY m.t_s, m.ordinal, m.channel",
        )
        .bind(device_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("seq")?,
                    row.try_get("t_s")?,
                    row.try_get("ordinal")?,
                    row.try_get("channel")?,
                    row.try_get("value")?,
                ))
            })
            .collect()
    }

    async fn all_devices(&self) -> Result<Vec<Device>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, serial, org_id, name, site_id, channel_layout, model, settings, created_at_us FROM devices ORDER BY serial",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(device_from_row).collect()
    }

    async fn set_device_settings(&self, scope: &OrgScope, device_id: i64, settings: &str) -> Result<(), StoreError> {
        let result =
            sqlx::query("UPDATE devices SET settings = ? WHERE id = ? AND org_id = ? AND (? IS NULL OR site_id = ?)")
                .bind(settings)
                .bind(device_id)
                .bind(scope.org_id())
                .bind(scope.site_id())
                .bind(scope.site_id())
                .execute(&self.pool)
                .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound { entity: "device" });
        }
        Ok(())
    }

    async fn chain_summary(
        &self,
        scope: &OrgScope,
        device_id: i64,
        from_s: i64,
        to_s: i64,
    ) -> Result<ChainSummary, StoreError> {
        let row = sqlx::query(
            "SELECT h.seq, h.block_hash, (SELECT COUNT(*) FROM blocks b WHERE b.device_id = d.id \
             AND b.first_sample_s < ? AND b.last_sample_s >= ?) AS n_blocks \
             FROM devices d LEFT JOIN device_chain_heads h ON h.device_id = d.id \
             WHERE d.id = ? AND d.org_id = ? AND (? IS NULL OR d.site_id = ?)",
        )
        .bind(to_s)
        .bind(from_s)
        .bind(device_id)
        .bind(scope.org_id())
        .bind(scope.site_id())
        .bind(scope.site_id())
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("device", err))?;
        let seq: Option<i64> = row.try_get("seq")?;
        let hash: Option<Vec<u8>> = row.try_get("block_hash")?;
        let head = match (seq, hash) {
            (Some(seq), Some(hash)) => Some((seq, hash32(hash)?)),
            _ => None,
        };
        Ok(ChainSummary { head, n_blocks_in_period: row.try_get("n_blocks")? })
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT id, public_key, seed_sealed, created_at_us FROM signing_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRecord {
                    id: row.try_get("id")?,
                    public_key: row.try_get("public_key")?,
                    seed_sealed: row.try_get("seed_sealed")?,
                    created_at_us: row.try_get("created_at_us")?,
                })
            })
            .collect()
    }

    async fn add_signing_key(&self, public_key: &[u8], seed_sealed: &[u8], now_us: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO signing_keys (public_key, seed_sealed, created_at_us) VALUES (?, ?, ?)")
            .bind(public_key)
            .bind(seed_sealed)
            .bind(now_us)
            .execute(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("signing key", err))?;
        Ok(())
    }

    async fn retention(&self, scope: &OrgScope) -> Result<Option<Retention>, StoreError> {
        let days: Option<i64> = sqlx::query_scalar("SELECT retention_days FROM organisations WHERE id = ?")
            .bind(scope.org_id())
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("organisation", err))?;
        days.map(retention_from_days).transpose()
    }

    async fn set_retention(&self, scope: &OrgScope, retention: Option<Retention>) -> Result<(), StoreError> {
        let updated = sqlx::query("UPDATE organisations SET retention_days = ? WHERE id = ?")
            .bind(retention.map(Retention::days))
            .bind(scope.org_id())
            .execute(&self.pool)
            .await?;
        match updated.rows_affected() {
            0 => Err(StoreError::NotFound { entity: "organisation" }),
            _ => Ok(()),
        }
    }

    async fn purge_expired(&self, scope: &OrgScope, now_s: i64) -> Result<PurgeReport, StoreError> {
        let Some(retention) = self.retention(scope).await? else { return Ok(PurgeReport::default()) };
        let cutoff_s = retention.cutoff_s(now_s);
        let devices = sqlx::query(
            "SELECT id, serial FROM devices WHERE org_id = ? AND (? IS NULL OR site_id = ?) ORDER BY serial",
        )
        .bind(scope.org_id())
        .bind(scope.site_id())
        .bind(scope.site_id())
        .fetch_all(&self.pool)
        .await?;
        let mut report = PurgeReport { cutoff_s: Some(cutoff_s), devices: Vec::new() };
        for row in &devices {
            let (device_id, serial): (i64, String) = (row.try_get("id")?, row.try_get("serial")?);
            // One transaction per device; IMMEDIATE takes the write lock, so no block is kept meanwhile.
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let purged = purge_device(&mut tx, scope.org_id(), device_id, cutoff_s).await?;
            tx.commit().await?;
            if let Some(purged) = purged {
                report.devices.push(DevicePurge { device_id, serial, ..purged });
            }
        }
        Ok(report)
    }

    async fn create_invitation(&self, scope: &OrgScope, invitation: NewInvitation) -> Result<Invitation, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO invitations (org_id, email, role, token_hash, invited_by, purpose, created_at_us, expires_at_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(scope.org_id())
        .bind(invitation.email.as_str())
        .bind(invitation.role.as_str())
        .bind(invitation.token_hash.as_slice())
        .bind(invitation.invited_by)
        .bind(invitation.purpose.as_str())
        .bind(invitation.now_us)
        .bind(invitation.expires_at_us)
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("invitation", err))?;
        Ok(Invitation {
            id,
            org_id: scope.org_id(),
            email: invitation.email,
            role: invitation.role,
            invited_by: invitation.invited_by,
            purpose: invitation.purpose,
            created_at_us: invitation.now_us,
            expires_at_us: invitation.expires_at_us,
        })
    }

    async fn invitations(&self, scope: &OrgScope, now_us: i64) -> Result<Vec<Invitation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_id, email, role, invited_by, purpose, created_at_us, expires_at_us FROM invitations \
             WHERE org_id = ? AND accepted_at_us IS NULL AND revoked = 0 AND expires_at_us > ? ORDER BY id",
        )
        .bind(scope.org_id())
        .bind(now_us)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(invitation_from_row).collect()
    }

    async fn revoke_invitation(&self, scope: &OrgScope, invitation_id: i64) -> Result<Invitation, StoreError> {
        let row = sqlx::query(
            "UPDATE invitations SET revoked = 1 WHERE id = ? AND org_id = ? AND accepted_at_us IS NULL AND revoked = 0 \
             RETURNING id, org_id, email, role, invited_by, purpose, created_at_us, expires_at_us",
        )
        .bind(invitation_id)
        .bind(scope.org_id())
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("invitation", err))?;
        invitation_from_row(&row)
    }

    async fn invitation_by_token(
        &self,
        token_hash: &[u8; 32],
        now_us: i64,
    ) -> Result<(Invitation, Organisation), StoreError> {
        let row = sqlx::query(
            "SELECT i.id, i.org_id, i.email, i.role, i.invited_by, i.purpose, i.created_at_us, i.expires_at_us, \
             o.name, o.created_at FROM invitations i JOIN organisations o ON o.id = i.org_id \
             WHERE i.token_hash = ? AND i.accepted_at_us IS NULL AND i.revoked = 0 AND i.expires_at_us > ?",
        )
        .bind(token_hash.as_slice())
        .bind(now_us)
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("invitation", err))?;
        let invitation = invitation_from_row(&row)?;
        let name: String = row.try_get("name")?;
        let organisation = Organisation {
            id: invitation.org_id,
            name: OrgName::parse(&name).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
            created_at: row.try_get("created_at")?,
        };
        Ok((invitation, organisation))
    }

    async fn accept_invitation(
        &self,
        token_hash: &[u8; 32],
        now_us: i64,
        acceptance: Acceptance<'_>,
    ) -> Result<AcceptedInvitation, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "UPDATE invitations SET accepted_at_us = ? \
             WHERE token_hash = ? AND accepted_at_us IS NULL AND revoked = 0 AND expires_at_us > ? \
             RETURNING org_id, email, role, purpose",
        )
        .bind(now_us)
        .bind(token_hash.as_slice())
        .bind(now_us)
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| StoreError::from_sqlx("invitation", err))?;
        let org_id: i64 = row.try_get("org_id")?;
        let email: String = row.try_get("email")?;
        let invited_role = parse_role(&row.try_get::<String, _>("role")?)?;
        let purpose = InvitationPurpose::parse(&row.try_get::<String, _>("purpose")?)?;
        let existing = sqlx::query("SELECT id, email, name, disabled, created_at_us FROM users WHERE email = ?")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
        let (user, created_user) = match (acceptance, existing) {
            (Acceptance::NewAccount { name, password_hash }, None) => {
                let row = sqlx::query(
                    "INSERT INTO users (email, name, password_hash, created_at_us) VALUES (?, ?, ?, ?) \
                     RETURNING id, email, name, disabled, created_at_us",
                )
                .bind(&email)
                .bind(name)
                .bind(password_hash)
                .bind(now_us)
                .fetch_one(&mut *tx)
                .await
                .map_err(|err| StoreError::from_sqlx("user", err))?;
                (user_from_row(&row)?, true)
            }
            (Acceptance::Existing { user_id, password_hash }, Some(row)) => {
                let user = user_from_row(&row)?;
                if user.id != user_id {
                    return Err(StoreError::Conflict { entity: "invitation" });
                }
                if let (InvitationPurpose::Setup, Some(hash)) = (purpose, password_hash) {
                    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash IS NULL")
                        .bind(hash)
                        .bind(user.id)
                        .execute(&mut *tx)
                        .await?;
                }
                (user, false)
            }
            _ => return Err(StoreError::Conflict { entity: "invitation" }),
        };
        let inserted = sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at_us) VALUES (?, ?, ?, ?) \
             ON CONFLICT (org_id, user_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(user.id)
        .bind(invited_role.as_str())
        .bind(now_us)
        .execute(&mut *tx)
        .await?;
        let role: String = sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = ? AND user_id = ?")
            .bind(org_id)
            .bind(user.id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AcceptedInvitation {
            user,
            org_id,
            role: parse_role(&role)?,
            created_user,
            new_membership: inserted.rows_affected() == 1,
        })
    }

    async fn create_api_token(&self, scope: &OrgScope, token: NewApiToken) -> Result<ApiToken, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (org_id, user_id, name, role, token_hash, created_at_us, expires_at_us) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(scope.org_id())
        .bind(token.user_id)
        .bind(&token.name)
        .bind(token.role.as_str())
        .bind(token.token_hash.as_slice())
        .bind(token.now_us)
        .bind(token.expires_at_us)
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("api token", err))?;
        Ok(ApiToken {
            id,
            org_id: scope.org_id(),
            user_id: token.user_id,
            name: token.name,
            role: token.role,
            created_at_us: token.now_us,
            expires_at_us: token.expires_at_us,
            last_used_us: None,
            revoked: false,
        })
    }

    async fn api_tokens(&self, scope: &OrgScope) -> Result<Vec<ApiToken>, StoreError> {
        let rows =
            sqlx::query(concat!("SELECT ", api_token_columns!(), " FROM api_tokens WHERE org_id = ? ORDER BY id"))
                .bind(scope.org_id())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(api_token_from_row).collect()
    }

    async fn revoke_api_token(&self, scope: &OrgScope, token_id: i64) -> Result<ApiToken, StoreError> {
        let row = sqlx::query(concat!(
            "UPDATE api_tokens SET revoked = 1 WHERE id = ? AND org_id = ? RETURNING ",
            api_token_columns!()
        ))
        .bind(token_id)
        .bind(scope.org_id())
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("api token", err))?;
        api_token_from_row(&row)
    }

    async fn api_token_by_hash(&self, token_hash: &[u8; 32]) -> Result<ApiToken, StoreError> {
        let row = sqlx::query(concat!("SELECT ", api_token_columns!(), " FROM api_tokens WHERE token_hash = ?"))
            .bind(token_hash.as_slice())
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("api token", err))?;
        api_token_from_row(&row)
    }

    async fn touch_api_token(&self, token_id: i64, now_us: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_us = max(coalesce(last_used_us, 0), ?) WHERE id = ?")
            .bind(now_us)
            .bind(token_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn user_sessions(&self, user_id: i64, now_us: i64) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, created_at_us, last_seen_us, expires_at_us, revoked, mfa_pending \
             FROM sessions WHERE user_id = ? AND revoked = 0 AND expires_at_us > ? ORDER BY id",
        )
        .bind(user_id)
        .bind(now_us)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn revoke_user_session(&self, user_id: i64, session_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE sessions SET revoked = 1 WHERE id = ? AND user_id = ? AND revoked = 0")
            .bind(session_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_other_sessions(&self, user_id: i64, keep: Option<i64>) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE sessions SET revoked = 1 WHERE user_id = ? AND revoked = 0 AND id IS NOT ?")
            .bind(user_id)
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { entity: "user" });
        }
        if disabled {
            sqlx::query("UPDATE sessions SET revoked = 1 WHERE user_id = ?").bind(user_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE user_id = ?").bind(user_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_totp(&self, user_id: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?").bind(user_id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM user_totp WHERE user_id = ?").bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&self.pool).await?)
    }

    async fn put_email_code(
        &self,
        user_id: i64,
        code_hash: &[u8; 32],
        now_us: i64,
        expires_at_us: i64,
        min_interval_us: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO email_codes (user_id, code_hash, created_at_us, expires_at_us) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash, \
             created_at_us = excluded.created_at_us, expires_at_us = excluded.expires_at_us, used = 0 \
             WHERE email_codes.created_at_us <= excluded.created_at_us - ?",
        )
        .bind(user_id)
        .bind(code_hash.as_slice())
        .bind(now_us)
        .bind(expires_at_us)
        .bind(min_interval_us)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn email_code(&self, user_id: i64) -> Result<Option<EmailCode>, StoreError> {
        let row =
            sqlx::query("SELECT code_hash, created_at_us, expires_at_us, used FROM email_codes WHERE user_id = ?")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| {
            Ok(EmailCode {
                code_hash: hash32(row.try_get("code_hash")?)?,
                created_at_us: row.try_get("created_at_us")?,
                expires_at_us: row.try_get("expires_at_us")?,
                used: row.try_get::<i64, _>("used")? != 0,
            })
        })
        .transpose()
    }

    async fn record_email_code_attempt(&self, email_key: &[u8; 32], step: i64) -> Result<i64, StoreError> {
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO email_code_attempts (email_key, step, failures) VALUES (?, ?, 1) ON CONFLICT (email_key) DO UPDATE SET failures = CASE WHEN excluded.step > email_code_attempts.step THEN 1 ELSE email_code_attempts.failures + 1 END, step = max(email_code_attempts.step, excluded.step) RETURNING failures",
        )
        .bind(email_key.as_slice())
        .bind(step)
        .fetch_one(&self.pool)
        .await?;
        Ok(failures)
    }

    async fn use_email_code(&self, user_id: i64, code_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE email_codes SET used = 1 WHERE user_id = ? AND code_hash = ? AND used = 0")
            .bind(user_id)
            .bind(code_hash.as_slice())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn create_user(
        &self,
        email: &Email,
        name: &str,
        password_hash: Option<&str>,
        now_us: i64,
    ) -> Result<User, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, name, password_hash, created_at_us) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(email.as_str())
        .bind(name)
        .bind(password_hash)
        .bind(now_us)
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("user", err))?;
        Ok(User { id, email: email.clone(), name: name.to_owned(), disabled: false, created_at_us: now_us })
    }

    async fn user_credentials(&self, email: &Email) -> Result<Credentials, StoreError> {
        let row =
            sqlx::query("SELECT id, email, name, disabled, created_at_us, password_hash FROM users WHERE email = ?")
                .bind(email.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(|err| StoreError::from_sqlx("user", err))?;
        Ok(Credentials { user: user_from_row(&row)?, password_hash: row.try_get("password_hash")? })
    }

    async fn user_by_id(&self, user_id: i64) -> Result<User, StoreError> {
        let row = sqlx::query("SELECT id, email, name, disabled, created_at_us FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("user", err))?;
        user_from_row(&row)
    }

    async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { entity: "user" });
        }
        Ok(())
    }

    async fn scope_for_member(&self, user_id: i64, org_id: i64) -> Result<(OrgScope, Role), StoreError> {
        let row = sqlx::query(
            "SELECT m.role, m.site_id FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.user_id = ? AND m.org_id = ? AND u.disabled = 0",
        )
        .bind(user_id)
        .bind(org_id)
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("membership", err))?;
        let role: String = row.try_get("role")?;
        Ok((OrgScope::new(org_id, row.try_get("site_id")?), parse_role(&role)?))
    }

    async fn memberships(&self, user_id: i64) -> Result<Vec<Membership>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.created_at, m.role, m.site_id FROM memberships m \
             JOIN organisations o ON o.id = m.org_id WHERE m.user_id = ? ORDER BY o.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                Ok(Membership {
                    organisation: organisation_from_row(row)?,
                    role: parse_role(&role)?,
                    site_id: row.try_get("site_id")?,
                })
            })
            .collect()
    }

    async fn add_member(&self, scope: &OrgScope, user_id: i64, role: Role, now_us: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at_us) VALUES (?, ?, ?, ?)")
            .bind(scope.org_id())
            .bind(user_id)
            .bind(role.as_str())
            .bind(now_us)
            .execute(&self.pool)
            .await
            .map_err(|err| StoreError::from_sqlx("membership", err))?;
        Ok(())
    }

    async fn members(&self, scope: &OrgScope) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.name, u.disabled, u.created_at_us, m.role, m.site_id FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = ? ORDER BY u.email",
        )
        .bind(scope.org_id())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                Ok(Member { user: user_from_row(row)?, role: parse_role(&role)?, site_id: row.try_get("site_id")? })
            })
            .collect()
    }

    async fn create_session(&self, session: NewSession) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (token_hash, user_id, created_at_us, last_seen_us, expires_at_us, mfa_pending) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(session.token_hash.as_slice())
        .bind(session.user_id)
        .bind(session.now_us)
        .bind(session.now_us)
        .bind(session.expires_at_us)
        .bind(session.mfa_pending)
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("session", err))?;
        Ok(id)
    }

    async fn session_by_token_hash(&self, token_hash: &[u8; 32]) -> Result<Session, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, created_at_us, last_seen_us, expires_at_us, revoked, mfa_pending \
             FROM sessions WHERE token_hash = ?",
        )
        .bind(token_hash.as_slice())
        .fetch_one(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("session", err))?;
        session_from_row(&row)
    }

    async fn touch_session(&self, session_id: i64, now_us: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_us = max(last_seen_us, ?) WHERE id = ?")
            .bind(now_us)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_session(&self, session_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET revoked = 1 WHERE id = ?").bind(session_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn totp(&self, user_id: i64) -> Result<Option<TotpRecord>, StoreError> {
        let row = sqlx::query("SELECT secret_sealed, confirmed, last_used_step FROM user_totp WHERE user_id = ?")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(TotpRecord {
                secret_sealed: row.try_get("secret_sealed")?,
                confirmed: row.try_get::<i64, _>("confirmed")? != 0,
                last_used_step: row.try_get("last_used_step")?,
            })),
            None => Ok(None),
        }
    }

    async fn put_unconfirmed_totp(&self, user_id: i64, secret_sealed: &[u8], now_us: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO user_totp (user_id, secret_sealed, confirmed, created_at_us) VALUES (?, ?, 0, ?) ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at_us = excluded.created_at_us, last_used_step = NULL WHERE user_totp.confirmed = 0",
        )
        .bind(user_id)
        .bind(secret_sealed)
        .bind(now_us)
        .execute(&self.pool)
        .await
        .map_err(|err| StoreError::from_sqlx("totp", err))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict { entity: "totp" });
        }
        Ok(())
    }

    async fn confirm_totp(
        &self,
        user_id: i64,
        step: i64,
        recovery_hashes: &[[u8; 32]],
        secret_sealed: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done =
            sqlx::query("UPDATE user_totp SET confirmed = 1, last_used_step = ? WHERE user_id = ? AND confirmed = 0 AND secret_sealed = ?")
                .bind(step)
                .bind(user_id)
                .bind(secret_sealed)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict { entity: "totp" });
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?").bind(user_id).execute(&mut *tx).await?;
        for (idx, hash) in recovery_hashes.iter().enumerate() {
            sqlx::query("INSERT INTO recovery_codes (user_id, idx, code_hash) VALUES (?, ?, ?)")
                .bind(user_id)
                .bind(i64::try_from(idx).unwrap_or(i64::MAX))
                .bind(hash.as_slice())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE user_totp SET last_used_step = ? WHERE user_id = ? AND confirmed = 1 AND (last_used_step IS NULL OR last_used_step < ?)",
        )
        .bind(step)
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn unused_recovery_codes(&self, user_id: i64) -> Result<Vec<(i64, [u8; 32])>, StoreError> {
        let rows = sqlx::query("SELECT idx, code_hash FROM recovery_codes WHERE user_id = ? AND used = 0 ORDER BY idx")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok((row.try_get("idx")?, hash32(row.try_get("code_hash")?)?))).collect()
    }

    async fn use_recovery_code(&self, user_id: i64, idx: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE recovery_codes SET used = 1 WHERE user_id = ? AND idx = ? AND used = 0")
            .bind(user_id)
            .bind(idx)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mfa_failures(&self, user_id: i64, step: i64) -> Result<i64, StoreError> {
        let failures: Option<i64> =
            sqlx::query_scalar("SELECT failures FROM mfa_failures WHERE user_id = ? AND step = ?")
                .bind(user_id)
                .bind(step)
                .fetch_optional(&self.pool)
                .await?;
        Ok(failures.unwrap_or(0))
    }

    async fn record_mfa_attempt(&self, user_id: i64, step: i64) -> Result<i64, StoreError> {
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO mfa_failures (user_id, step, failures) VALUES (?, ?, 1) ON CONFLICT (user_id) DO UPDATE SET failures = CASE WHEN excluded.step > mfa_failures.step THEN 1 ELSE mfa_failures.failures + 1 END, step = max(mfa_failures.step, excluded.step) RETURNING failures",
        )
        .bind(user_id)
        .bind(step)
        .fetch_one(&self.pool)
        .await?;
        Ok(failures)
    }

    async fn account_counters(&self, user_id: i64) -> Result<AccountCounters, StoreError> {
        let row = sqlx::query(
            "SELECT window_start_us, window_failures, consecutive_failures, locked_until_us FROM sign_in_failures WHERE user_id = ?",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map_or(Ok(AccountCounters::default()), counters_from_row)
    }

    async fn begin_sign_in_attempt(
        &self,
        user_id: i64,
        now_us: i64,
    ) -> Result<Option<(AccountCounters, FailureEffect)>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT window_start_us, window_failures, consecutive_failures, locked_until_us FROM sign_in_failures WHERE user_id = ?")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let current = row.as_ref().map_or(Ok(AccountCounters::default()), counters_from_row)?;
        if current.is_locked(now_us) {
            tx.rollback().await?;
            return Ok(None);
        }
        let (next, effect) = current.after_failure(now_us);
        sqlx::query(
            "INSERT INTO sign_in_failures (user_id, window_start_us, window_failures, consecutive_failures, locked_until_us) VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET window_start_us = excluded.window_start_us, window_failures = excluded.window_failures, consecutive_failures = excluded.consecutive_failures, locked_until_us = excluded.locked_until_us",
        )
        .bind(user_id)
        .bind(next.window_start_us)
        .bind(next.window_failures)
        .bind(next.consecutive_failures)
        .bind(next.locked_until_us)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some((next, effect)))
    }

    async fn reset_sign_in_failures(&self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE user_id = ?").bind(user_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn client_bucket(&self, client_key: &[u8; 32], now_us: i64) -> Result<IpBucket, StoreError> {
        let row = sqlx::query("SELECT milli_tokens, updated_at_us FROM client_throttle WHERE client_key = ?")
            .bind(client_key.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(IpBucket {
                milli_tokens: row.try_get("milli_tokens")?,
                updated_at_us: row.try_get("updated_at_us")?,
            }),
            None => Ok(IpBucket::full(now_us)),
        }
    }

    async fn begin_client_attempt(
        &self,
        client_key: &[u8; 32],
        now_us: i64,
    ) -> Result<Result<IpBucket, u64>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT milli_tokens, updated_at_us FROM client_throttle WHERE client_key = ?")
            .bind(client_key.as_slice())
            .fetch_optional(&mut *tx)
            .await?;
        let current = match row {
            Some(row) => {
                IpBucket { milli_tokens: row.try_get("milli_tokens")?, updated_at_us: row.try_get("updated_at_us")? }
            }
            None => IpBucket::full(now_us),
        };
        if let Some(retry_after_secs) = current.retry_after_secs(now_us) {
            tx.rollback().await?;
            return Ok(Err(retry_after_secs));
        }
        let next = current.after_failure(now_us);
        sqlx::query(
            "INSERT INTO client_throttle (client_key, milli_tokens, updated_at_us) VALUES (?, ?, ?) ON CONFLICT (client_key) DO UPDATE SET milli_tokens = excluded.milli_tokens, updated_at_us = excluded.updated_at_us",
        )
        .bind(client_key.as_slice())
        .bind(next.milli_tokens)
        .bind(next.updated_at_us)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(next))
    }

    async fn refund_client_attempt(&self, client_key: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("UPDATE client_throttle SET milli_tokens = min(milli_tokens + 1000, 100000) WHERE client_key = ?")
            .bind(client_key.as_slice())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn append_audit(&self, entry: NewEntry) -> Result<Entry, StoreError> {
        // IMMEDIATE takes the write lock up front, so two appends to one chain cannot read the same head.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let head = sqlx::query("SELECT seq, entry_hash FROM audit_heads WHERE chain_id = ?")
            .bind(entry.chain_id)
            .fetch_optional(&mut *tx)
            .await?;
        let prev = match head {
            Some(row) => Some((row.try_get::<i64, _>("seq")?, hash32(row.try_get("entry_hash")?)?)),
            None => None,
        };
        let entry = entry.chain_after(prev);
        sqlx::query(
            "INSERT INTO audit_log (chain_id, seq, occurred_at_us, actor, action, target, outcome, request_id, \
             detail, prev_hash, entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(entry.chain_id)
        .bind(entry.seq)
        .bind(entry.occurred_at_us)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(entry.outcome.as_str())
        .bind(&entry.request_id)
        .bind(&entry.detail)
        .bind(entry.prev_hash.as_slice())
        .bind(entry.entry_hash.as_slice())
        .execute(&mut *tx)
        .await?;
        if prev.is_some() {
            sqlx::query("UPDATE audit_heads SET seq = ?, entry_hash = ? WHERE chain_id = ?")
                .bind(entry.seq)
                .bind(entry.entry_hash.as_slice())
                .bind(entry.chain_id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("INSERT INTO audit_heads (chain_id, seq, entry_hash) VALUES (?, ?, ?)")
                .bind(entry.chain_id)
                .bind(entry.seq)
                .bind(entry.entry_hash.as_slice())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(entry)
    }

    async fn audit_entries(&self, chain_id: i64, after_seq: i64, limit: i64) -> Result<Vec<Entry>, StoreError> {
        let rows = sqlx::query(
            "SELECT chain_id, seq, occurred_at_us, actor, action, target, outcome, request_id, detail, prev_hash, \
             entry_hash FROM audit_log WHERE chain_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(chain_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn audit_head(&self, chain_id: i64) -> Result<Option<(i64, [u8; 32])>, StoreError> {
        let row = sqlx::query("SELECT seq, entry_hash FROM audit_heads WHERE chain_id = ?")
            .bind(chain_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some((row.try_get("seq")?, hash32(row.try_get("entry_hash")?)?))),
            None => Ok(None),
        }
    }

    async fn audit_chain_ids(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT chain_id FROM audit_heads UNION SELECT DISTINCT chain_id FROM audit_log ORDER BY chain_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<User, StoreError> {
    let email: String = row.try_get("email")?;
    Ok(User {
        id: row.try_get("id")?,
        email: Email::parse(&email).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
        name: row.try_get("name")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at_us: row.try_get("created_at_us")?,
    })
}

fn measurement_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Measurement, StoreError> {
    Ok(Measurement {
        t_s: row.try_get("t_s")?,
        ordinal: row.try_get("ordinal")?,
        channel: row.try_get("channel")?,
        value: row.try_get("value")?,
    })
}

fn chained_block_from_row(
    row: &sqlx::sqlite::SqliteRow,
) -> Result<logvault_core::blockchain::ChainedBlock, StoreError> {
    let decode = |what: &'static str| StoreError::Database(sqlx::Error::Decode(what.into()));
    let source: String = row.try_get("source")?;
    Ok(logvault_core::blockchain::ChainedBlock {
        serial: row.try_get("serial")?,
        seq: row.try_get("seq")?,
        counter: row.try_get("counter")?,
        key_generation: u8::try_from(row.try_get::<i64, _>("key_generation")?).map_err(|_| decode("key generation"))?,
        received_at_us: row.try_get("received_at_us")?,
        source: logvault_core::blockchain::Source::parse(&source).ok_or_else(|| decode("block source"))?,
        raw: row.try_get("raw")?,
        prev_hash: hash32(row.try_get("prev_hash")?)?,
        block_hash: hash32(row.try_get("block_hash")?)?,
    })
}

/// Registers a device with its first key inside `tx`. A serial already registered, or uploaded by a manufacturer and
/// not claimed yet, is a `Conflict`.
async fn insert_device(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    scope: &OrgScope,
    device: NewDevice,
) -> Result<Device, StoreError> {
    let site_id = match (scope.site_id(), device.site_id) {
        (Some(own), Some(asked)) if own != asked => return Err(StoreError::NotFound { entity: "site" }),
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    let uploaded: Option<String> = sqlx::query_scalar("SELECT serial FROM unclaimed_devices WHERE serial = ?")
        .bind(&device.serial)
        .fetch_optional(&mut **tx)
        .await?;
    if uploaded.is_some() {
        return Err(StoreError::Conflict { entity: "device" });
    }
    if let Some(site_id) = site_id {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM sites WHERE id = ? AND org_id = ?")
            .bind(site_id)
            .bind(scope.org_id())
            .fetch_optional(&mut **tx)
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound { entity: "site" });
        }
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO devices (serial, org_id, name, site_id, created_at_us, model) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&device.serial)
    .bind(scope.org_id())
    .bind(&device.name)
    .bind(site_id)
    .bind(device.now_us)
    .bind(&device.model)
    .fetch_one(&mut **tx)
    .await
    .map_err(|err| StoreError::from_sqlx("device", err))?;
    sqlx::query("INSERT INTO device_keys (device_id, generation, key_sealed, created_at_us) VALUES (?, 0, ?, ?)")
        .bind(id)
        .bind(&device.key_sealed)
        .bind(device.now_us)
        .execute(&mut **tx)
        .await?;
    Ok(Device {
        id,
        serial: device.serial,
        org_id: scope.org_id(),
        name: device.name,
        site_id,
        channel_layout: None,
        model: device.model,
        settings: None,
        created_at_us: device.now_us,
    })
}

/// Keeps one block on `conn`, inside the caller's transaction (see [`Store::store_block`]).
async fn keep_block(conn: &mut sqlx::SqliteConnection, block: &IncomingBlock) -> Result<IngestOutcome, StoreError> {
    let counter_taken: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT raw FROM blocks WHERE device_id = ? AND counter = ?")
            .bind(block.device_id)
            .bind(block.counter)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(raw) = counter_taken {
        return Ok(ingest::repeated(&raw, block));
    }
    // The nearest kept blocks with samples on either side of the counter (see `ingest::counter_plausible`).
    let (lower_last, higher_last): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT last_sample_s FROM blocks WHERE device_id = ? AND counter < ? \
         AND last_sample_s IS NOT NULL ORDER BY counter DESC LIMIT 1), \
         (SELECT last_sample_s FROM blocks WHERE device_id = ? AND counter > ? \
         AND last_sample_s IS NOT NULL ORDER BY counter LIMIT 1)",
    )
    .bind(block.device_id)
    .bind(block.counter)
    .bind(block.device_id)
    .bind(block.counter)
    .fetch_one(&mut *conn)
    .await?;
    if !ingest::counter_plausible(block, lower_last, higher_last) {
        return Ok(IngestOutcome::CounterImplausible);
    }
    let layout: Option<String> = sqlx::query_scalar("SELECT channel_layout FROM devices WHERE id = ?")
        .bind(block.device_id)
        .fetch_one(&mut *conn)
        .await?;
    match layout {
        Some(layout) if layout != block.channel_layout => return Ok(IngestOutcome::LayoutChanged),
        Some(_) => {}
        None => {
            sqlx::query("UPDATE devices SET channel_layout = ? WHERE id = ?")
                .bind(&block.channel_layout)
                .bind(block.device_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    let stored = match ingest::time_range(block) {
        Some((first, last)) => sqlx::query(
            "SELECT t_s, ordinal, channel, value FROM measurements \
             WHERE device_id = ? AND t_s BETWEEN ? AND ? ORDER BY t_s, ordinal, channel",
        )
        .bind(block.device_id)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("t_s")?, row.try_get("ordinal")?, row.try_get("channel")?, row.try_get("value")?)))
        .collect::<Result<Vec<(i64, i32, i32, i32)>, StoreError>>()?,
        None => Vec::new(),
    };
    let plan = ingest::plan(block, &stored);
    let head = sqlx::query("SELECT seq, block_hash FROM device_chain_heads WHERE device_id = ?")
        .bind(block.device_id)
        .fetch_optional(&mut *conn)
        .await?;
    let head = match head {
        Some(row) => Some((row.try_get::<i64, _>("seq")?, hash32(row.try_get("block_hash")?)?)),
        None => None,
    };
    let link = ingest::link(block, head);
    let block_id: i64 = sqlx::query_scalar(
        "INSERT INTO blocks (device_id, seq, counter, key_generation, raw, received_at_us, source, \
         first_sample_s, last_sample_s, n_samples, n_new, prev_hash, block_hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(block.device_id)
    .bind(link.seq)
    .bind(block.counter)
    .bind(i64::from(block.key_generation))
    .bind(&block.raw)
    .bind(block.received_at_us)
    .bind(block.source.as_str())
    .bind(ingest::time_range(block).map(|r| r.0))
    .bind(ingest::time_range(block).map(|r| r.1))
    .bind(ingest::count(block.samples.len()))
    .bind(ingest::count(plan.new.len()))
    .bind(link.prev_hash.as_slice())
    .bind(link.block_hash.as_slice())
    .fetch_one(&mut *conn)
    .await?;
    if head.is_some() {
        sqlx::query("UPDATE device_chain_heads SET seq = ?, block_hash = ? WHERE device_id = ?")
            .bind(link.seq)
            .bind(link.block_hash.as_slice())
            .bind(block.device_id)
            .execute(&mut *conn)
            .await?;
    } else {
        sqlx::query("INSERT INTO device_chain_heads (device_id, seq, block_hash) VALUES (?, ?, ?)")
            .bind(block.device_id)
            .bind(link.seq)
            .bind(link.block_hash.as_slice())
            .execute(&mut *conn)
            .await?;
    }
    for chunk in plan.rows().collect::<Vec<_>>().chunks(ingest::ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO measurements (device_id, t_s, ordinal, channel, value, block_id) ",
        );
        insert.push_values(chunk, |mut row, (t_s, ordinal, channel, value)| {
            row.push_bind(block.device_id)
                .push_bind(*t_s)
                .push_bind(*ordinal)
                .push_bind(*channel)
                .push_bind(*value)
                .push_bind(block_id);
        });
        insert.build().execute(&mut *conn).await?;
    }
    upsert_rollups(conn, block.device_id, &rollups::rollups(plan.rows())).await?;
    Ok(IngestOutcome::Stored { new: ingest::count_u64(plan.new.len()), duplicates: plan.duplicates })
}

/// Adds a block's new rows, aggregated per bucket, to the device's rollups: one upsert row per touched bucket, inside
/// the caller's transaction.
async fn upsert_rollups(
    conn: &mut sqlx::SqliteConnection,
    device_id: i64,
    rollups: &[rollups::Rollup],
) -> Result<(), StoreError> {
    for chunk in rollups.chunks(rollups::ROLLUPS_PER_UPSERT) {
        let mut upsert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO measurement_rollups \
             (device_id, channel, level_s, bucket_start_s, min_value, max_value, sum_value, n_values) ",
        );
        upsert.push_values(chunk, |mut row, rollup| {
            row.push_bind(device_id)
                .push_bind(rollup.channel)
                .push_bind(rollup.level_s)
                .push_bind(rollup.bucket_start_s)
                .push_bind(rollup.min)
                .push_bind(rollup.max)
                .push_bind(rollup.sum)
                .push_bind(rollup.count);
        });
        upsert.push(
            " ON CONFLICT (device_id, channel, level_s, bucket_start_s) DO UPDATE SET \
             min_value = min(min_value, excluded.min_value), max_value = max(max_value, excluded.max_value), \
             sum_value = sum_value + excluded.sum_value, n_values = n_values + excluded.n_values",
        );
        upsert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The buckets of `plan` for one of the scope's devices, in one statement: every piece of the plan read from its
/// source and mapped to its bucket index, then grouped (see the `rollups` module).
async fn buckets(
    pool: &sqlx::Pool<sqlx::Sqlite>,
    scope: &OrgScope,
    device_id: i64,
    channel: i32,
    plan: &rollups::Plan,
) -> Result<Vec<Bucket>, StoreError> {
    let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT idx, MIN(lo) AS min_value, MAX(hi) AS max_value, SUM(total) AS sum_value, SUM(n) AS n_values FROM (",
    );
    for (i, piece) in plan.pieces.iter().enumerate() {
        if i > 0 {
            query.push(" UNION ALL ");
        }
        match piece.source {
            Source::Rollups(level_s) => {
                query.push("SELECT (r.bucket_start_s - ");
                query.push_bind(plan.origin_s);
                query.push(") / ");
                query.push_bind(plan.width_s);
                query.push(
                    " AS idx, r.min_value AS lo, r.max_value AS hi, r.sum_value AS total, r.n_values AS n \
                     FROM measurement_rollups r WHERE r.device_id = ",
                );
                query.push_bind(device_id);
                query.push(" AND r.channel = ");
                query.push_bind(channel);
                query.push(" AND r.level_s = ");
                query.push_bind(level_s);
                query.push(" AND r.bucket_start_s >= ");
                query.push_bind(piece.start_s);
                query.push(" AND r.bucket_start_s < ");
                query.push_bind(piece.end_s);
            }
            Source::Raw => {
                query.push("SELECT (m.t_s - ");
                query.push_bind(plan.origin_s);
                query.push(") / ");
                query.push_bind(plan.width_s);
                query.push(
                    " AS idx, m.value AS lo, m.value AS hi, m.value AS total, 1 AS n \
                     FROM measurements m WHERE m.device_id = ",
                );
                query.push_bind(device_id);
                query.push(" AND m.channel = ");
                query.push_bind(channel);
                query.push(" AND m.t_s >= ");
                query.push_bind(piece.start_s);
                query.push(" AND m.t_s < ");
                query.push_bind(piece.end_s);
            }
        }
    }
    // The scope check: the device must be the scope's (and its site's, for a site-scoped scope).
    query.push(") pieces WHERE EXISTS (SELECT 1 FROM devices d WHERE d.id = ");
    query.push_bind(device_id);
    query.push(" AND d.org_id = ");
    query.push_bind(scope.org_id());
    query.push(" AND (");
    query.push_bind(scope.site_id());
    query.push(" IS NULL OR d.site_id = ");
    query.push_bind(scope.site_id());
    query.push(")) GROUP BY idx ORDER BY idx");
    let rows = query.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            Ok(plan.bucket(
                row.try_get("idx")?,
                row.try_get("min_value")?,
                row.try_get("max_value")?,
                row.try_get("sum_value")?,
                row.try_get("n_values")?,
            ))
        })
        .collect()
}

/// Purges one device inside `conn` (a write transaction): its purge record first, opened for this transaction, then
/// the anchor, the measurement rows and the blocks, and the purge closed again before commit. `None` if nothing
/// before `cutoff_s` can go.
async fn purge_device(
    conn: &mut sqlx::SqliteConnection,
    org_id: i64,
    device_id: i64,
    cutoff_s: i64,
) -> Result<Option<DevicePurge>, StoreError> {
    let first_young: Option<i64> =
        sqlx::query_scalar("SELECT MIN(seq) FROM blocks WHERE device_id = ? AND last_sample_s >= ?")
            .bind(device_id)
            .bind(cutoff_s)
            .fetch_one(&mut *conn)
            .await?;
    let through_seq: Option<i64> = match first_young {
        Some(seq) => Some(seq.saturating_sub(1)),
        None => {
            sqlx::query_scalar("SELECT MAX(seq) FROM blocks WHERE device_id = ?")
                .bind(device_id)
                .fetch_one(&mut *conn)
                .await?
        }
    };
    let Some(through_seq) = through_seq else { return Ok(None) };
    let expiring =
        sqlx::query("SELECT COUNT(*) AS n, MAX(last_sample_s) AS last_s FROM blocks WHERE device_id = ? AND seq <= ?")
            .bind(device_id)
            .bind(through_seq)
            .fetch_one(&mut *conn)
            .await?;
    let (n_blocks, last_s): (i64, Option<i64>) = (expiring.try_get("n")?, expiring.try_get("last_s")?);
    if n_blocks == 0 {
        return Ok(None);
    }
    let purge_id: i64 = sqlx::query_scalar(
        "INSERT INTO retention_purges (org_id, device_id, cutoff_s, through_seq, purged_at_us) \
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(org_id)
    .bind(device_id)
    .bind(cutoff_s)
    .bind(through_seq)
    .bind(retention::now_us())
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO retention_open_purges (purge_id) VALUES (?)").bind(purge_id).execute(&mut *conn).await?;
    let prev_hash: Vec<u8> = sqlx::query_scalar("SELECT block_hash FROM blocks WHERE device_id = ? AND seq = ?")
        .bind(device_id)
        .bind(through_seq)
        .fetch_one(&mut *conn)
        .await?;
    let previous: Option<i64> =
        sqlx::query_scalar("SELECT purged_through_s FROM device_chain_anchors WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&mut *conn)
            .await?;
    let purged_through_s = retention::purged_through_s(previous, last_s, cutoff_s);
    let anchor_sql = match previous {
        Some(_) => "UPDATE device_chain_anchors SET seq = ?, prev_hash = ?, purged_through_s = ? WHERE device_id = ?",
        None => "INSERT INTO device_chain_anchors (seq, prev_hash, purged_through_s, device_id) VALUES (?, ?, ?, ?)",
    };
    sqlx::query(anchor_sql)
        .bind(through_seq.saturating_add(1))
        .bind(&prev_hash)
        .bind(purged_through_s)
        .bind(device_id)
        .execute(&mut *conn)
        .await?;
    let purged_times = sqlx::query(
        "SELECT MIN(t_s) AS min_t_s, MAX(t_s) AS max_t_s FROM measurements \
         WHERE block_id IN (SELECT id FROM blocks WHERE device_id = ? AND seq <= ?)",
    )
    .bind(device_id)
    .bind(through_seq)
    .fetch_one(&mut *conn)
    .await?;
    let purged_times: (Option<i64>, Option<i64>) = (purged_times.try_get("min_t_s")?, purged_times.try_get("max_t_s")?);
    let measurements = sqlx::query(
        "DELETE FROM measurements WHERE block_id IN (SELECT id FROM blocks WHERE device_id = ? AND seq <= ?)",
    )
    .bind(device_id)
    .bind(through_seq)
    .execute(&mut *conn)
    .await?;
    let blocks = sqlx::query("DELETE FROM blocks WHERE device_id = ? AND seq <= ?")
        .bind(device_id)
        .bind(through_seq)
        .execute(&mut *conn)
        .await?;
    if let (Some(min_t_s), Some(max_t_s)) = purged_times {
        recompute_rollups(&mut *conn, device_id, min_t_s, max_t_s).await?;
    }
    sqlx::query("DELETE FROM retention_open_purges WHERE purge_id = ?").bind(purge_id).execute(&mut *conn).await?;
    Ok(Some(DevicePurge {
        device_id,
        serial: String::new(),
        blocks_removed: blocks.rows_affected(),
        measurements_removed: measurements.rows_affected(),
        first_retained_seq: through_seq.saturating_add(1),
    }))
}

/// Recomputes, inside a purge of the device, its rollups of every bucket that held one of the purged rows (times
/// `min_t_s..=max_t_s`) from the rows retained: the buckets are removed and, where retained rows remain, written
/// again, so the rollups keep describing exactly the measurements kept.
async fn recompute_rollups(
    conn: &mut sqlx::SqliteConnection,
    device_id: i64,
    min_t_s: i64,
    max_t_s: i64,
) -> Result<(), StoreError> {
    for level_s in rollups::LEVELS_S {
        let Some((from_s, to_s)) = rollups::covering(level_s, min_t_s, max_t_s) else { continue };
        sqlx::query(
            "DELETE FROM measurement_rollups \
             WHERE device_id = ? AND level_s = ? AND bucket_start_s >= ? AND bucket_start_s < ?",
        )
        .bind(device_id)
        .bind(level_s)
        .bind(from_s)
        .bind(to_s)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO measurement_rollups \
             (device_id, channel, level_s, bucket_start_s, min_value, max_value, sum_value, n_values) \
             SELECT device_id, channel, ?, t_s - ((t_s % ?) + ?) % ? AS bucket_start, \
             MIN(value), MAX(value), SUM(value), COUNT(*) FROM measurements \
             WHERE device_id = ? AND t_s >= ? AND t_s < ? GROUP BY device_id, channel, bucket_start",
        )
        .bind(level_s)
        .bind(i64::from(level_s))
        .bind(i64::from(level_s))
        .bind(i64::from(level_s))
        .bind(device_id)
        .bind(from_s)
        .bind(to_s)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn device_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Device, StoreError> {
    Ok(Device {
        id: row.try_get("id")?,
        serial: row.try_get("serial")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        site_id: row.try_get("site_id")?,
        channel_layout: row.try_get("channel_layout")?,
        model: row.try_get("model")?,
        settings: row.try_get("settings")?,
        created_at_us: row.try_get("created_at_us")?,
    })
}

fn session_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        created_at_us: row.try_get("created_at_us")?,
        last_seen_us: row.try_get("last_seen_us")?,
        expires_at_us: row.try_get("expires_at_us")?,
        revoked: row.try_get::<i64, _>("revoked")? != 0,
        mfa_pending: row.try_get::<i64, _>("mfa_pending")? != 0,
    })
}

fn invitation_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Invitation, StoreError> {
    let email: String = row.try_get("email")?;
    Ok(Invitation {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        email: Email::parse(&email).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
        role: parse_role(&row.try_get::<String, _>("role")?)?,
        invited_by: row.try_get("invited_by")?,
        purpose: InvitationPurpose::parse(&row.try_get::<String, _>("purpose")?)?,
        created_at_us: row.try_get("created_at_us")?,
        expires_at_us: row.try_get("expires_at_us")?,
    })
}

fn api_token_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        role: parse_role(&row.try_get::<String, _>("role")?)?,
        created_at_us: row.try_get("created_at_us")?,
        expires_at_us: row.try_get("expires_at_us")?,
        last_used_us: row.try_get("last_used_us")?,
        revoked: row.try_get::<i64, _>("revoked")? != 0,
    })
}

/// Refuses (`LastOwner`) if the organisation has no owner other than the one about to be demoted or removed. Runs
/// inside the write transaction (`BEGIN IMMEDIATE` holds the write lock, so no concurrent change slips between).
async fn sqlite_keep_an_owner(tx: &mut sqlx::SqliteConnection, org_id: i64) -> Result<(), StoreError> {
    let owners: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE org_id = ? AND role = 'owner'")
        .bind(org_id)
        .fetch_one(&mut *tx)
        .await?;
    if owners <= 1 {
        return Err(StoreError::LastOwner);
    }
    Ok(())
}

fn counters_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<AccountCounters, StoreError> {
    Ok(AccountCounters {
        window_start_us: row.try_get("window_start_us")?,
        window_failures: row.try_get("window_failures")?,
        consecutive_failures: row.try_get("consecutive_failures")?,
        locked_until_us: row.try_get("locked_until_us")?,
    })
}

fn entry_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Entry, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    Ok(Entry {
        chain_id: row.try_get("chain_id")?,
        seq: row.try_get("seq")?,
        occurred_at_us: row.try_get("occurred_at_us")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: Outcome::parse(&outcome)
            .ok_or_else(|| StoreError::Database(sqlx::Error::Decode("unknown audit outcome".into())))?,
        request_id: row.try_get("request_id")?,
        detail: row.try_get("detail")?,
        prev_hash: hash32(row.try_get("prev_hash")?)?,
        entry_hash: hash32(row.try_get("entry_hash")?)?,
    })
}

fn organisation_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Organisation, StoreError> {
    let name: String = row.try_get("name")?;
    Ok(Organisation {
        id: row.try_get("id")?,
        name: OrgName::parse(&name).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))?,
        created_at: row.try_get("created_at")?,
    })
}
