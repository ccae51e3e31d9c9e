//! The PostgreSQL engine, chosen by a `postgres://` database URL.
//!
//! Encryption at rest is the operator's disk or tablespace encryption here; secrets inside rows are encrypted by the
//! application under the master key either way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::queries::{Lock, impl_queries};
use crate::{Engine, Guards, MigrationStatus, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The restricted role the server's queries run as (made by migration 0015): it owns nothing, so it cannot alter,
/// disable triggers on, drop or truncate a table, and it holds no UPDATE or DELETE on data that must not change.
pub const APP_ROLE: &str = "logvault_app";

/// Run on every new pool connection: switch to [`APP_ROLE`] if this database has granted it its tables (migration
/// 0015 ran here: the role is cluster-wide and may exist from another database) and the login role may assume it.
/// Otherwise the connection stays the login role (before the migrations, or where the role cannot be set up).
const ASSUME_APP_ROLE: &str = "DO $$ BEGIN \
     IF to_regrole('logvault_app') IS NOT NULL AND to_regclass('_sqlx_migrations') IS NOT NULL \
        AND has_table_privilege(to_regrole('logvault_app'), to_regclass('_sqlx_migrations'), 'SELECT') \
        AND pg_has_role(session_user, to_regrole('logvault_app'), 'MEMBER') THEN \
         SET ROLE logvault_app; \
     END IF; \
     END $$";

/// The PostgreSQL store. Cheap to clone (the pool is reference-counted).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// How to connect as the login role itself, for migrations (DDL needs the tables' owner).
    owner: PgConnectOptions,
    refresh: Arc<Refresh>,
}

/// Retires the connections opened before the last migration: they chose their role before the schema (and the
/// role's grants) changed. Only an instant is kept, so checking costs no query.
#[derive(Debug)]
struct Refresh {
    base: Instant,
    /// Nanoseconds after `base` at which the last migration finished; 0 before any.
    migrated_after_ns: AtomicU64,
}

impl Refresh {
    fn mark(&self) {
        let ns = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        self.migrated_after_ns.store(ns, Ordering::Release);
    }

    /// Whether a connection `age` old was opened before the last migration finished.
    fn is_stale(&self, age: Duration) -> bool {
        let migrated = Duration::from_nanos(self.migrated_after_ns.load(Ordering::Acquire));
        !migrated.is_zero() && self.base.elapsed().saturating_sub(age) < migrated
    }
}

impl PgStore {
    /// Applies the migrations up to and including `version` only (tests of a later migration's data changes).
    #[cfg(feature = "testing")]
    pub(crate) async fn migrate_to(&self, version: i64) -> Result<(), StoreError> {
        MIGRATOR.run_to(version, &self.pool).await?;
        Ok(())
    }

    /// Connects to the database at `url`. The URL is never logged or put into an error: it may carry a password.
    pub async fn open(url: &SecretString) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url.expose_secret().parse().map_err(|_| StoreError::InvalidUrl)?;
        let options = options.log_statements(tracing::log::LevelFilter::Trace);
        let refresh = Arc::new(Refresh { base: Instant::now(), migrated_after_ns: AtomicU64::new(0) });
        let stale = Arc::clone(&refresh);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql(ASSUME_APP_ROLE).execute(conn).await?;
                    Ok(())
                })
            })
            .before_acquire(move |_conn, meta| {
                let keep = !stale.is_stale(meta.age);
                Box::pin(async move { Ok(keep) })
            })
            .connect_with(options.clone())
            .await?;
        Ok(PgStore { pool, owner: options, refresh })
    }
}

impl_queries!(PgStore, sqlx::Postgres, " FOR UPDATE");

/// The hooks of the shared queries (see [`crate::queries`]).
impl PgStore {
    const ENGINE: Engine = Engine::Postgres;

    const PING: &'static str = "SELECT 1";

    /// As the owner, on a connection of its own: the pool's connections may run as the restricted role. (A pool of
    /// one rather than a bare connection: the migrator's `Acquire` bound is only general for pools.)
    async fn run_migrations(&self, before: &MigrationStatus) -> Result<(), StoreError> {
        let owner = PgPoolOptions::new().max_connections(1).connect_with(self.owner.clone()).await?;
        let applied = set_up_app_role(&owner).await;
        owner.close().await;
        if applied? || !before.pending.is_empty() {
            self.refresh.mark();
        }
        Ok(())
    }

    async fn database_guards(&self) -> Result<Guards, StoreError> {
        let role: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&self.pool).await?;
        Ok(if role == APP_ROLE { Guards::RestrictedRole } else { Guards::OwnerWithTriggers })
    }

    /// A read-committed transaction; what it must serialise it takes with [`PgStore::lock`] or `FOR UPDATE`.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// One repeatable-read, read-only snapshot.
    async fn begin_snapshot(&self) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
        Ok(tx)
    }

    /// The purge runs as the session's own (owner) role: once the application role lacks DELETE, this is what still
    /// lets the one audited path through, and only for this transaction.
    async fn begin_purge(&self) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL ROLE NONE").execute(&mut *tx).await?;
        Ok(tx)
    }

    /// In a transaction of its own: blocks of different devices commit in parallel on the pool, and PostgreSQL
    /// flushes the WAL of concurrent commits together (docs/PERFORMANCE.md: faster than one writer).
    async fn commit_block(&self, block: IncomingBlock) -> Result<IngestOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = keep_block(&mut tx, &block).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// A row lock where the row exists, else a transaction-scoped advisory lock (which also covers a first insert).
    async fn lock(conn: &mut sqlx::PgConnection, lock: Lock<'_>) -> Result<(), StoreError> {
        match lock {
            Lock::Device(device_id) => {
                sqlx::query("SELECT id FROM devices WHERE id = $1 FOR UPDATE")
                    .bind(device_id)
                    .execute(&mut *conn)
                    .await?
            }
            Lock::SignIn(user_id) => {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('sign_in_failures:' || $1::text, 0))")
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?
            }
            Lock::Client(client_key) => {
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtextextended('client_throttle:' || encode($1, 'hex'), 0))",
                )
                .bind(client_key.as_slice())
                .execute(&mut *conn)
                .await?
            }
            Lock::AuditChain(chain_id) => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(chain_id).execute(&mut *conn).await?
            }
        };
        Ok(())
    }

    /// The purge record, returning its id; the guard triggers let this transaction's deletes through because it
    /// wrote this row (its `txid` is set to the current transaction by a trigger).
    const INSERT_PURGE: &'static str = "INSERT INTO retention_purges (org_id, device_id, cutoff_s, through_seq, \
         purged_at_us, txid) VALUES ($1, $2, $3, $4, $5, 0) RETURNING id";

    /// Nothing more to open: the record is the permission.
    async fn open_purge(_conn: &mut sqlx::PgConnection, _purge_id: i64) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing to close: the purge's permission ends with its transaction.
    async fn close_purge(_conn: &mut sqlx::PgConnection, _purge_id: i64) -> Result<(), StoreError> {
        Ok(())
    }

    async fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_class WHERE relname = $1 AND relkind = 'r' AND pg_table_is_visible(oid)",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(tables > 0)
    }
}

/// Migrates on the owner's connection; then, if the pool could still not run as [`APP_ROLE`] here, runs the role's
/// set-up again (idempotent), so that a role created or granted by a DBA after migration 0015 takes effect at the next
/// start. Returns whether it ran the set-up.
async fn set_up_app_role(owner: &PgPool) -> Result<bool, StoreError> {
    MIGRATOR.run(owner).await?;
    let in_force: bool = sqlx::query_scalar(
        "SELECT COALESCE(to_regrole('logvault_app') IS NOT NULL \
         AND has_table_privilege(to_regrole('logvault_app'), to_regclass('_sqlx_migrations'), 'SELECT') \
         AND pg_has_role(session_user, to_regrole('logvault_app'), 'MEMBER'), FALSE)",
    )
    .fetch_one(owner)
    .await?;
    if !in_force {
        sqlx::raw_sql(include_str!("../migrations/postgres/0015_app_role.sql")).execute(owner).await?;
    }
    Ok(!in_force)
}
