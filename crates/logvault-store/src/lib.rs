//! The storage interface of Logvault and its two engines.
//!
//! Everything that touches SQL lives in this crate. The rest of the code sees one [`Store`] trait object and the
//! domain types it returns; it cannot tell (and must not care) whether SQLite or PostgreSQL is underneath. Each
//! engine owns its migration set (`migrations/sqlite`, `migrations/postgres`), applied at start and by
//! `logvault migrate`.

mod error;
pub mod group_commit;
pub mod ingest;
mod model;
pub mod postgres;
pub mod prelude;
mod queries;
mod retention;
mod rollups;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use logvault_core::{OrgName, SubKey};
use secrecy::SecretString;
use time::OffsetDateTime;

pub use error::StoreError;
pub use model::{
    Acceptance, AcceptedInvitation, ApiToken, Bucket, BucketQuery, ChainSummary, Credentials, Device, DeviceChain,
    DevicePurge, EmailCode, IncomingBlock, IncomingSample, IngestDevice, IngestOutcome, Invitation, InvitationPurpose,
    ManufacturerToken, Measurement, MeasurementQuery, Member, Membership, NewApiToken, NewDevice, NewInvitation,
    NewSession, OrgScope, PurgeReport, RecoveryCodeRecord, SealedKey, Session, SigningKeyRecord, Site, TotpRecord,
    UnclaimedDevice, User,
};
pub use queries::audit::AuditStore;
pub use queries::devices::DeviceStore;
pub use queries::identity::IdentityStore;
pub use queries::ingest::IngestStore;
pub use queries::invitations::InvitationStore;
pub use queries::measurements::MeasurementStore;
pub use queries::orgs::OrgStore;
pub use queries::retention::RetentionStore;
pub use queries::second_factors::SecondFactorStore;
pub use queries::sessions::SessionStore;
pub use queries::throttle::ThrottleStore;
pub use queries::tokens::TokenStore;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// What the database itself holds against changing kept data (blocks, measurements, keys, the audit log), beyond
/// the application having no code path that does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guards {
    /// SQLite: triggers refuse UPDATE and DELETE; the file belongs to the server alone.
    Triggers,
    /// PostgreSQL: queries run as the restricted role `logvault_app` (it owns no table and holds no UPDATE or
    /// DELETE on immutable data), and the triggers.
    RestrictedRole,
    /// PostgreSQL: the login role could not set up or assume `logvault_app` (e.g. a managed database that allows
    /// no CREATE ROLE): queries run as the tables' owner, guarded by the triggers only.
    OwnerWithTriggers,
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Organisation {
    pub id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: OrgName,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
}

/// The instance itself: its engine, reachability, migrations, guards and shutdown. Written once in [`queries`] like
/// every other sub-trait, on the hooks each engine defines (`ENGINE`, `PING`, `run_migrations`, `database_guards`).
#[async_trait::async_trait]
pub trait InstanceStore: Send + Sync {
    fn engine(&self) -> Engine;

    /// Round-trips a trivial query: the database is reachable and (for SQLite) the key is right.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn migration_status(&self) -> Result<MigrationStatus, StoreError>;

    /// Applies pending migrations and returns the versions applied now.
    async fn migrate(&self) -> Result<Vec<i64>, StoreError>;

    /// What the database holds against changing kept data, as the store's connections run now (after migrating).
    async fn guards(&self) -> Result<Guards, StoreError>;

    /// Closes the pool, waiting for connections to finish (so an SQLite WAL is checkpointed cleanly).
    async fn close(&self);
}

/// Declares `Store` as the union of the sub-traits named once, and implements it for every type that has them all.
macro_rules! store_of {
    ($(#[$doc:meta])* $($sub:ident),+ $(,)?) => {
        $(#[$doc])*
        pub trait Store: $($sub +)+ std::fmt::Debug {}

        impl<T> Store for T where T: $($sub +)+ std::fmt::Debug {}
    };
}

store_of!(
    /// The storage interface: the union of the per-resource sub-traits, one implementation per engine; the
    /// conformance suite in `tests/it` runs against both. Callers bring the sub-traits' methods into scope with
    /// `use logvault_store::prelude::*;`.
    InstanceStore,
    OrgStore,
    IdentityStore,
    SessionStore,
    SecondFactorStore,
    ThrottleStore,
    AuditStore,
    DeviceStore,
    IngestStore,
    MeasurementStore,
    RetentionStore,
    InvitationStore,
    TokenStore,
);

impl MigrationStatus {
    /// The database schema is exactly what this binary expects.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty()
    }

    /// The `applied` versions against the ones `migrator` embeds.
    pub(crate) fn compare(migrator: &sqlx::migrate::Migrator, applied: Vec<i64>) -> MigrationStatus {
        let embedded: Vec<i64> = migrator.iter().map(|m| m.version).collect();
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
