//! The store's queries, written once for both engines and grouped by resource.
//!
//! Each module holds one resource's sub-trait of [`crate::Store`] and a `macro_rules!` that expands the one body of
//! each of its methods into an `impl` for an engine's store type. [`impl_queries`] expands them all; `sqlite.rs` and
//! `postgres.rs` each call it once, with their store type, their `sqlx::Database` and the one SQL fragment that
//! differs inside a statement (`FOR UPDATE`, which SQLite lacks and does not need under its write lock).
//!
//! Why a macro and not generics over `sqlx::Database`: the bodies compile exactly as the two hand-written copies
//! did (the same monomorphic code, no `for<'c> &'c mut DB::Connection: Executor<'c>` bounds for rustc to solve on
//! every call), so the 2-core build is no slower, and the text of each query exists once. SQL is spelt in the
//! subset both engines accept: `$n` placeholders (sqlx binds them by number on SQLite too), `TRUE`/`FALSE`,
//! `CASE WHEN` instead of `GREATEST`/`LEAST` (SQLite's scalar `max`/`min`), `CAST(x AS BIGINT)` instead of `::`,
//! `IS DISTINCT FROM`.
//!
//! What differs between the engines is reached through hooks each engine file defines on its store type:
//! `begin_write` (SQLite `BEGIN IMMEDIATE`; PostgreSQL a plain transaction), `begin_snapshot` (a consistent read),
//! `begin_purge` (PostgreSQL leaves the restricted role for the one audited deleting path), `lock` (a [`Lock`]:
//! PostgreSQL row or advisory locks; nothing on SQLite, whose write transaction already excludes every other
//! writer), `INSERT_PURGE` and `open_purge`/`close_purge` (the purge record, and how the guards learn that a
//! retention purge is running), `commit_block` (how `store_block` commits: SQLite through [`crate::group_commit`],
//! PostgreSQL a transaction per block) and `has_table`; and for [`crate::InstanceStore`], `ENGINE`, `PING` (the
//! query that proves the database reachable — and on SQLite the key right), `run_migrations` (PostgreSQL migrates
//! as the owner and sets up the restricted role) and `database_guards`. `BindScope` binds an `OrgScope` the one way
//! every tenant condition spells it.

pub mod audit;
pub mod devices;
pub mod identity;
pub mod ingest;
pub mod invitations;
pub mod measurements;
pub mod orgs;
pub mod retention;
pub mod second_factors;
pub mod sessions;
pub mod throttle;
pub mod tokens;

/// What a transaction must hold before it reads what it will write, beyond its engine's write transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lock<'a> {
    /// A device's row: blocks and purges of one device are serialised.
    Device(i64),
    /// An account's sign-in failure counters (which may have no row yet).
    SignIn(i64),
    /// A client address bucket (which may have no row yet).
    Client(&'a [u8; 32]),
    /// An audit chain (whose head may have no row yet).
    AuditChain(i64),
}

/// Binds an [`OrgScope`](crate::OrgScope) where a query's condition reads `org_id = $n AND ($n+1 IS NULL OR
/// site_id = $n+2)`: the organisation, then the site once for each of its two placeholders. The one spelling of the
/// tenant condition's binds, for the three query kinds.
pub(crate) trait BindScope: Sized {
    fn bind_scope(self, scope: &crate::OrgScope) -> Self;
}

impl<DB: sqlx::Database> BindScope for sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments>
where
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Option<i64>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    fn bind_scope(self, scope: &crate::OrgScope) -> Self {
        self.bind(scope.org_id()).bind(scope.site_id()).bind(scope.site_id())
    }
}

impl<'q, DB: sqlx::Database, O> BindScope for sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>
where
    i64: 'q + sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: 'q + sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    fn bind_scope(self, scope: &crate::OrgScope) -> Self {
        self.bind(scope.org_id()).bind(scope.site_id()).bind(scope.site_id())
    }
}

impl<'q, DB: sqlx::Database, O> BindScope for sqlx::query::QueryScalar<'q, DB, O, <DB as sqlx::Database>::Arguments>
where
    i64: 'q + sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: 'q + sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    fn bind_scope(self, scope: &crate::OrgScope) -> Self {
        self.bind(scope.org_id()).bind(scope.site_id()).bind(scope.site_id())
    }
}

/// Every name the shared query bodies use, brought into an engine module by [`impl_queries`].
pub(crate) mod imports {
    pub(crate) use logvault_core::audit::{Entry, NewEntry, Outcome};
    pub(crate) use logvault_core::authz::Role;
    pub(crate) use logvault_core::blockchain::ChainAnchor;
    pub(crate) use logvault_core::retention::Retention;
    pub(crate) use logvault_core::throttle::{AccountCounters, FailureEffect, IpBucket};
    pub(crate) use logvault_core::{Email, OrgName};
    pub(crate) use sqlx::Row;

    pub(crate) use super::BindScope;
    pub(crate) use crate::model::{api_token_columns, hash32, now, parse_role, sealed_key};
    pub(crate) use crate::retention::{self, retention_from_days};
    pub(crate) use crate::rollups::{self, Source};
    pub(crate) use crate::{
        Acceptance, AcceptedInvitation, ApiToken, Bucket, BucketQuery, ChainSummary, Credentials, Device, DeviceChain,
        DevicePurge, EmailCode, IncomingBlock, IngestDevice, IngestOutcome, Invitation, InvitationPurpose,
        ManufacturerToken, Measurement, MeasurementQuery, Member, Membership, NewApiToken, NewDevice, NewInvitation,
        NewSession, OrgScope, Organisation, PurgeReport, RecoveryCodeRecord, SealedKey, Session, SigningKeyRecord,
        Site, StoreError, TotpRecord, UnclaimedDevice, User, ingest,
    };
}

/// Implements every shared sub-trait of [`crate::Store`] for one engine: `impl_queries!(StoreType, sqlx::Database,
/// "FOR UPDATE suffix")`, in the engine's module, which defines the hooks listed in the module doc.
macro_rules! impl_queries {
    ($S:ty, $DB:ty, $for_update:literal) => {
        use $crate::queries::imports::*;

        #[async_trait::async_trait]
        impl $crate::InstanceStore for $S {
            fn engine(&self) -> $crate::Engine {
                <$S>::ENGINE
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query(<$S>::PING).fetch_one(&self.pool).await?;
                Ok(())
            }

            async fn migration_status(&self) -> Result<$crate::MigrationStatus, StoreError> {
                // No table before the first migration made it: nothing applied.
                let applied = match self.has_table("_sqlx_migrations").await? {
                    true => {
                        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                            .fetch_all(&self.pool)
                            .await?
                    }
                    false => Vec::new(),
                };
                Ok($crate::MigrationStatus::compare(&MIGRATOR, applied))
            }

            async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
                let before = self.migration_status().await?;
                self.run_migrations(&before).await?;
                Ok(before.pending)
            }

            async fn guards(&self) -> Result<$crate::Guards, StoreError> {
                self.database_guards().await
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }

        #[cfg(feature = "testing")]
        impl $S {
            /// The pool, for tests that must reach past the store (e.g. to tamper with rows as an attacker would).
            pub fn pool(&self) -> &sqlx::Pool<$DB> {
                &self.pool
            }
        }
        $crate::queries::audit::audit_store!($S, $DB, $for_update);
        $crate::queries::devices::device_store!($S, $DB, $for_update);
        $crate::queries::identity::identity_store!($S, $DB, $for_update);
        $crate::queries::ingest::ingest_store!($S, $DB, $for_update);
        $crate::queries::invitations::invitation_store!($S, $DB, $for_update);
        $crate::queries::measurements::measurement_store!($S, $DB, $for_update);
        $crate::queries::orgs::org_store!($S, $DB, $for_update);
        $crate::queries::retention::retention_store!($S, $DB, $for_update);
        $crate::queries::second_factors::second_factor_store!($S, $DB, $for_update);
        $crate::queries::sessions::session_store!($S, $DB, $for_update);
        $crate::queries::throttle::throttle_store!($S, $DB, $for_update);
        $crate::queries::tokens::token_store!($S, $DB, $for_update);
    };
}
pub(crate) use impl_queries;
