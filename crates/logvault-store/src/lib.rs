//! The storage interface of Logvault and its two engines.
//!
//! Everything that touches SQL lives in this crate. The rest of the code sees one [`Store`] trait object and the
//! domain types it returns; it cannot tell (and must not care) whether SQLite or PostgreSQL is underneath. Each
//! engine owns its migration set (`migrations/sqlite`, `migrations/postgres`), applied at start and by
//! `logvault migrate`.

mod error;
pub mod postgres;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use logvault_core::{OrgName, SubKey};
use secrecy::SecretString;
use time::OffsetDateTime;

pub use error::StoreError;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Where the database lives and how to open it.
#[derive(Debug)]
pub enum Location {
    /// The embedded default: a SQLCipher-encrypted file opened with a raw 256-bit key.
    Sqlite { path: PathBuf, key: SubKey },
    /// A `postgres://` URL. It may carry a password, hence the secret.
    Postgres { url: SecretString },
}

/// Which migrations the database has, compared with the ones this binary embeds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationStatus {
    pub applied: Vec<i64>,
    pub pending: Vec<i64>,
    /// Versions applied by a newer binary that this one does not know: the database is ahead of the code.
    pub unknown: Vec<i64>,
}

/// An organisation (tenant).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Organisation {
    pub id: i64,
    pub name: OrgName,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The storage interface. One implementation per engine; the conformance suite in `tests/it` runs against both.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    fn engine(&self) -> Engine;

    /// Round-trips a trivial query: the database is reachable and (for SQLite) the key is right.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn migration_status(&self) -> Result<MigrationStatus, StoreError>;

    /// Applies pending migrations and returns the versions applied now.
    async fn migrate(&self) -> Result<Vec<i64>, StoreError>;

    async fn create_organisation(&self, name: &OrgName) -> Result<Organisation, StoreError>;

    async fn organisation_by_name(&self, name: &OrgName) -> Result<Organisation, StoreError>;

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError>;

    /// Closes the pool, waiting for connections to finish (so an SQLite WAL is checkpointed cleanly).
    async fn close(&self);
}

impl MigrationStatus {
    /// The database schema is exactly what this binary expects.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty()
    }

    fn compare(embedded: &[i64], applied: Vec<i64>) -> MigrationStatus {
        let pending = embedded.iter().copied().filter(|v| !applied.contains(v)).collect();
        let unknown = applied.iter().copied().filter(|v| !embedded.contains(v)).collect();
        MigrationStatus { applied, pending, unknown }
    }
}

/// Opens the store at `location`, without migrating.
pub async fn open(location: Location) -> Result<Arc<dyn Store>, StoreError> {
    match location {
        Location::Sqlite { path, key } => Ok(Arc::new(sqlite::SqliteStore::open(&path, &key).await?)),
        Location::Postgres { url } => Ok(Arc::new(postgres::PgStore::open(&url).await?)),
    }
}

/// Opens the store and applies pending migrations; refuses a database written by a newer binary.
pub async fn open_and_migrate(location: Location) -> Result<Arc<dyn Store>, StoreError> {
    let store = open(location).await?;
    let status = store.migration_status().await?;
    if !status.unknown.is_empty() {
        return Err(StoreError::SchemaTooNew { unknown: status.unknown });
    }
    store.migrate().await?;
    Ok(store)
}
