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
//! writer), `open_purge`/`close_purge` (how the guards learn that a retention purge is running), `commit_block` (how
//! `store_block` commits: SQLite through [`crate::group_commit`], PostgreSQL a transaction per block) and `has_table`.

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

/// Every name the shared query bodies use, brought into an engine module by [`impl_queries`].
pub(crate) mod imports {
    pub(crate) use logvault_core::audit::{Entry, NewEntry, Outcome};
    pub(crate) use logvault_core::authz::Role;
    pub(crate) use logvault_core::blockchain::ChainAnchor;
    pub(crate) use logvault_core::retention::Retention;
    pub(crate) use logvault_core::throttle::{AccountCounters, FailureEffect, IpBucket};
    pub(crate) use logvault_core::{Email, OrgName};
    pub(crate) use sqlx::Row;

    pub(crate) use crate::model::{api_token_columns, hash32, now, parse_role};
    pub(crate) use crate::retention::{self, retention_from_days};
    pub(crate) use crate::rollups::{self, Source};
    pub(crate) use crate::{
        Acceptance, AcceptedInvitation, ApiToken, Bucket, BucketQuery, ChainSummary, Credentials, Device, DeviceChain,
        DevicePurge, EmailCode, IncomingBlock, IngestDevice, IngestOutcome, Invitation, InvitationPurpose,
        ManufacturerToken, Measurement, MeasurementQuery, Member, Membership, NewApiToken, NewDevice, NewInvitation,
        NewSession, OrgScope, Organisation, PurgeReport, Session, SigningKeyRecord, Site, StoreError, TotpRecord,
        UnclaimedDevice, User, ingest,
    };
}

/// Implements every shared sub-trait of [`crate::Store`] for one engine: `impl_queries!(StoreType, sqlx::Database,
/// "FOR UPDATE suffix")`, in the engine's module, which defines the hooks listed in the module doc.
macro_rules! impl_queries {
    ($S:ty, $DB:ty, $for_update:literal) => {
        use $crate::queries::imports::*;
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
