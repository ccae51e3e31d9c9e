//! The storage interface of Logvault and its two engines.
//!
//! Everything that touches SQL lives in this crate. The rest of the code sees one [`Store`] trait object and the
//! domain types it returns; it cannot tell (and must not care) whether SQLite or PostgreSQL is underneath. Each
//! engine owns its migration set (`migrations/sqlite`, `migrations/postgres`), applied at start and by
//! `logvault migrate`.

mod error;
pub mod ingest;
mod model;
pub mod postgres;
mod retention;
mod rollups;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use logvault_core::audit::{Entry, NewEntry};
use logvault_core::authz::Role;
use logvault_core::retention::Retention;
use logvault_core::throttle::{AccountCounters, FailureEffect, IpBucket};
use logvault_core::{Email, OrgName, SubKey};
use secrecy::SecretString;
use time::OffsetDateTime;

pub use error::StoreError;
pub use model::{
    Acceptance, AcceptedInvitation, ApiToken, Bucket, BucketQuery, ChainSummary, Credentials, Device, DeviceChain,
    DevicePurge, EmailCode, IncomingBlock, IncomingSample, IngestDevice, IngestOutcome, Invitation, InvitationPurpose,
    ManufacturerToken, Measurement, MeasurementQuery, Member, Membership, NewApiToken, NewDevice, NewInvitation,
    NewSession, OrgScope, PurgeReport, Session, SigningKeyRecord, Site, TotpRecord, UnclaimedDevice, User,
};

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

/// The storage interface. One implementation per engine; the conformance suite in `tests/it` runs against both.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    fn engine(&self) -> Engine;

    /// Round-trips a trivial query: the database is reachable and (for SQLite) the key is right.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn migration_status(&self) -> Result<MigrationStatus, StoreError>;

    /// Applies pending migrations and returns the versions applied now.
    async fn migrate(&self) -> Result<Vec<i64>, StoreError>;

    /// What the database holds against changing kept data, as the store's connections run now (after migrating).
    async fn guards(&self) -> Result<Guards, StoreError>;

    /// The master-key check value, if this database has one (`None` before the migration that adds it).
    async fn key_check(&self) -> Result<Option<[u8; 32]>, StoreError>;

    /// Records the master-key check value unless one is already there.
    async fn set_key_check(&self, key_check: &[u8; 32]) -> Result<(), StoreError>;

    async fn create_organisation(&self, name: &OrgName) -> Result<Organisation, StoreError>;

    async fn organisation_by_name(&self, name: &OrgName) -> Result<Organisation, StoreError>;

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError>;

    // Users and memberships.

    async fn create_user(
        &self,
        email: &Email,
        name: &str,
        password_hash: Option<&str>,
        now_us: i64,
    ) -> Result<User, StoreError>;

    /// The user with this address and their password hash; `NotFound` for an unknown address.
    async fn user_credentials(&self, email: &Email) -> Result<Credentials, StoreError>;

    async fn user_by_id(&self, user_id: i64) -> Result<User, StoreError>;

    async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> Result<(), StoreError>;

    /// The scope of `org_id` and the user's role there; `NotFound` unless the user is a member right now.
    async fn scope_for_member(&self, user_id: i64, org_id: i64) -> Result<(OrgScope, Role), StoreError>;

    async fn memberships(&self, user_id: i64) -> Result<Vec<Membership>, StoreError>;

    async fn add_member(&self, scope: &OrgScope, user_id: i64, role: Role, now_us: i64) -> Result<(), StoreError>;

    async fn members(&self, scope: &OrgScope) -> Result<Vec<Member>, StoreError>;

    // Sessions.

    async fn create_session(&self, session: NewSession) -> Result<i64, StoreError>;

    async fn session_by_token_hash(&self, token_hash: &[u8; 32]) -> Result<Session, StoreError>;

    async fn touch_session(&self, session_id: i64, now_us: i64) -> Result<(), StoreError>;

    async fn revoke_session(&self, session_id: i64) -> Result<(), StoreError>;

    // Second factors.

    async fn totp(&self, user_id: i64) -> Result<Option<TotpRecord>, StoreError>;

    /// Stores a new, unconfirmed TOTP secret; `Conflict` if the user already has a confirmed one.
    async fn put_unconfirmed_totp(&self, user_id: i64, secret_sealed: &[u8], now_us: i64) -> Result<(), StoreError>;

    /// Confirms the TOTP enrolment at `step` and replaces the user's recovery codes, in one transaction — only if
    /// the unconfirmed secret is still `secret_sealed` (the one the code was checked against); else `Conflict`.
    async fn confirm_totp(
        &self,
        user_id: i64,
        step: i64,
        recovery_hashes: &[[u8; 32]],
        secret_sealed: &[u8],
    ) -> Result<(), StoreError>;

    /// Marks `step` used if it is later than the last used one; `false` means the code was already used (replay).
    /// Atomic, so two instances cannot both accept one code.
    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError>;

    /// The hashes of the user's unused recovery codes, with their index.
    async fn unused_recovery_codes(&self, user_id: i64) -> Result<Vec<(i64, [u8; 32])>, StoreError>;

    /// Marks one recovery code used; `false` if it already was.
    async fn use_recovery_code(&self, user_id: i64, idx: i64) -> Result<bool, StoreError>;

    /// Wrong second-factor codes of the user in time step `step`.
    async fn mfa_failures(&self, user_id: i64, step: i64) -> Result<i64, StoreError>;

    /// Counts one second-factor attempt in `step` before the code is checked (so concurrent guesses are counted
    /// too); returns the count in the newest step seen. The stored step never moves backwards.
    async fn record_mfa_attempt(&self, user_id: i64, step: i64) -> Result<i64, StoreError>;

    // Brute-force protection.

    async fn account_counters(&self, user_id: i64) -> Result<AccountCounters, StoreError>;

    /// Starts a sign-in attempt: atomically refuses it if the account is locked (`None`, nothing changed), or
    /// counts it as a failure until [`Store::reset_sign_in_failures`] clears it on success. Checking and counting in
    /// one step means concurrent attempts cannot all slip past the lock.
    async fn begin_sign_in_attempt(
        &self,
        user_id: i64,
        now_us: i64,
    ) -> Result<Option<(AccountCounters, FailureEffect)>, StoreError>;

    /// Clears an account's failure counters (a successful sign-in, or an operator's unlock).
    async fn reset_sign_in_failures(&self, user_id: i64) -> Result<(), StoreError>;

    async fn client_bucket(&self, client_key: &[u8; 32], now_us: i64) -> Result<IpBucket, StoreError>;

    /// Starts a sign-in attempt from a client address: atomically refuses it with the seconds to wait if the bucket is
    /// empty (nothing changed), or takes one failure from it, to be given back by
    /// [`Store::refund_client_attempt`] if the attempt succeeds.
    async fn begin_client_attempt(
        &self,
        client_key: &[u8; 32],
        now_us: i64,
    ) -> Result<Result<IpBucket, u64>, StoreError>;

    /// Gives back the failure taken by a successful attempt.
    async fn refund_client_attempt(&self, client_key: &[u8; 32]) -> Result<(), StoreError>;

    // The audit log: append-only, hash-chained per organisation.

    /// Appends `entry` to its chain atomically (sequence, link and head move together).
    async fn append_audit(&self, entry: NewEntry) -> Result<Entry, StoreError>;

    /// Entries of one chain with `seq > after_seq`, in order, at most `limit`.
    async fn audit_entries(&self, chain_id: i64, after_seq: i64, limit: i64) -> Result<Vec<Entry>, StoreError>;

    /// The chain head: sequence number and hash of the last entry appended.
    async fn audit_head(&self, chain_id: i64) -> Result<Option<(i64, [u8; 32])>, StoreError>;

    /// Every chain that has entries or a head.
    async fn audit_chain_ids(&self) -> Result<Vec<i64>, StoreError>;

    // Organisation policy.

    async fn organisation(&self, scope: &OrgScope) -> Result<Organisation, StoreError>;

    /// Whether the organisation requires a second factor of its members.
    async fn require_mfa(&self, scope: &OrgScope) -> Result<bool, StoreError>;

    async fn set_require_mfa(&self, scope: &OrgScope, require: bool) -> Result<(), StoreError>;

    /// Whether any organisation the user belongs to requires a second factor.
    async fn user_requires_mfa(&self, user_id: i64) -> Result<bool, StoreError>;

    // Membership changes. Both keep at least one owner in the organisation (`LastOwner`), checked in the same
    // transaction as the change, and both refuse (`Conflict`) if the member's role is no longer `expected`
    // — the role the caller's authorisation decision was based on.

    async fn member(&self, scope: &OrgScope, user_id: i64) -> Result<Member, StoreError>;

    // Sites.

    /// Creates a site; `Conflict` if the organisation has one of that name.
    async fn create_site(&self, scope: &OrgScope, name: &str, now_us: i64) -> Result<Site, StoreError>;

    /// The organisation's sites — only the scope's own site for a site-scoped scope.
    async fn sites(&self, scope: &OrgScope) -> Result<Vec<Site>, StoreError>;

    /// Scopes a membership to one of the organisation's sites, or (with `None`) to the whole organisation again.
    /// `NotFound` if the member or the site is not the organisation's; `Conflict` for an owner or admin, who are
    /// never scoped.
    async fn set_member_site(&self, scope: &OrgScope, user_id: i64, site_id: Option<i64>) -> Result<(), StoreError>;

    async fn change_role(&self, scope: &OrgScope, user_id: i64, expected: Role, role: Role) -> Result<(), StoreError>;

    /// Removes the membership and revokes the member's API tokens of this organisation.
    async fn remove_member(&self, scope: &OrgScope, user_id: i64, expected: Role) -> Result<(), StoreError>;

    // Devices and key custody.

    /// The organisation's wrapped data key, if it has one yet.
    async fn org_data_key(&self, scope: &OrgScope) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores the organisation's wrapped data key unless it has one; returns the one stored (the first writer's, if
    /// two raced), which the caller must use.
    async fn put_org_data_key(&self, scope: &OrgScope, wrapped: &[u8], now_us: i64) -> Result<Vec<u8>, StoreError>;

    /// Registers a device with its first key, in one transaction. `Conflict` for a serial already registered
    /// (anywhere); `NotFound` for a site that is not the organisation's, or — for a site-scoped scope — not its site
    /// (a site-scoped caller's device goes to their site when none is given).
    async fn create_device(&self, scope: &OrgScope, device: NewDevice) -> Result<Device, StoreError>;

    /// The scope's devices (a site-scoped scope: that site's only), by serial.
    async fn devices(&self, scope: &OrgScope) -> Result<Vec<Device>, StoreError>;

    /// One device of the scope; `NotFound` for another organisation's or another site's.
    async fn device(&self, scope: &OrgScope, serial: &str) -> Result<Device, StoreError>;

    /// A device's sealed keys by generation (for emergency export and rotation).
    async fn device_keys(&self, scope: &OrgScope, device_id: i64) -> Result<Vec<(u8, Vec<u8>)>, StoreError>;

    /// Adds a key generation to one of the scope's devices; `Conflict` if that generation exists (a concurrent
    /// rotation), `NotFound` if the device is not the scope's.
    async fn add_device_key(
        &self,
        scope: &OrgScope,
        device_id: i64,
        generation: u8,
        key_sealed: &[u8],
        now_us: i64,
    ) -> Result<(), StoreError>;

    // The manufacturing flow.

    async fn create_manufacturer_token(
        &self,
        name: &str,
        token_hash: &[u8; 32],
        now_us: i64,
        expires_at_us: i64,
    ) -> Result<ManufacturerToken, StoreError>;

    async fn manufacturer_token_by_hash(&self, token_hash: &[u8; 32]) -> Result<ManufacturerToken, StoreError>;

    /// Stores uploaded loggers in one transaction; `Conflict` (nothing stored) if any serial is registered or
    /// uploaded already.
    async fn upload_devices(&self, token_id: i64, devices: &[UnclaimedDevice], now_us: i64) -> Result<(), StoreError>;

    async fn unclaimed_device(&self, serial: &str) -> Result<Option<UnclaimedDevice>, StoreError>;

    /// Moves an uploaded logger into the scope's organisation in one transaction: registers it with `device`'s key
    /// (already re-sealed for the organisation) and forgets the upload — only if the upload is still there with this
    /// claim code hash (`NotFound` otherwise, nothing changed).
    async fn claim_device(
        &self,
        scope: &OrgScope,
        claim_code_hash: &[u8; 32],
        device: NewDevice,
    ) -> Result<Device, StoreError>;

    /// The organisation a serial is registered to. Unscoped: it only routes a request for `/devices/{serial}` to the
    /// organisation whose membership is then checked.
    async fn device_org(&self, serial: &str) -> Result<Option<i64>, StoreError>;

    // Ingest. Unscoped where the device MAC is the authority; reads are scoped.

    /// The device with this serial and its sealed keys; `None` for an unknown serial.
    async fn ingest_device(&self, serial: &str) -> Result<Option<IngestDevice>, StoreError>;

    /// Keeps a block in one transaction, serialised per device: the raw block as a new link of the device's chain,
    /// and each of its samples not already stored. An identical block, a reused counter and a changed channel
    /// layout change nothing (see [`IngestOutcome`]). Durable when it returns.
    async fn store_block(&self, block: IncomingBlock) -> Result<IngestOutcome, StoreError>;

    /// Keeps several blocks in one transaction — one commit, one fsync — each under its own savepoint, so one block's
    /// failure undoes that block only (its error is in its place in the result). Group commit of concurrent uploads.
    async fn store_blocks(
        &self,
        blocks: Vec<IncomingBlock>,
    ) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError>;

    /// Measurements of one of the scope's devices.
    async fn measurements(
        &self,
        scope: &OrgScope,
        device_id: i64,
        query: MeasurementQuery,
    ) -> Result<Vec<Measurement>, StoreError>;

    /// Minimum, maximum, sum and count of one channel of one of the scope's devices per time bucket of
    /// `[from_s, to_s)`, in order, empty buckets left out; nothing for another organisation's or site's device.
    /// Answered from the rollups kept at ingest (raw rows only for sub-minute edges), and exactly equal to the
    /// aggregate of the raw rows between each bucket's `start_s` and `end_s`. The grid: at most `n_buckets` buckets
    /// of one width, a multiple of the coarsest rollup level that fits, aligned to that level; the first and last
    /// bucket are cut at `from_s` and `to_s` (the algorithm is documented in the `rollups` module).
    async fn measurement_buckets(
        &self,
        scope: &OrgScope,
        device_id: i64,
        query: BucketQuery,
    ) -> Result<Vec<Bucket>, StoreError>;

    /// One bucket over all of `[from_s, to_s)` of one channel of one of the scope's devices, from the rollups;
    /// `None` if it holds no values (or the device is not the scope's).
    async fn measurement_summary(
        &self,
        scope: &OrgScope,
        device_id: i64,
        channel: i32,
        from_s: i64,
        to_s: i64,
    ) -> Result<Option<Bucket>, StoreError> {
        let query = BucketQuery { channel, from_s, to_s, n_buckets: 1 };
        Ok(self.measurement_buckets(scope, device_id, query).await?.into_iter().next())
    }

    /// A device's retained chain, in order, with its head and (after a purge) its anchor, for verification
    /// (operator only: no scope).
    async fn device_chain(&self, device_id: i64) -> Result<DeviceChain, StoreError>;

    /// Every measurement row of a device with the chain position of its block, ordered by time, ordinal and
    /// channel, for verification (operator only: no scope).
    async fn device_measurements(&self, device_id: i64) -> Result<Vec<ingest::KeptRow>, StoreError>;

    /// Every device, for verification (operator only: no scope).
    async fn all_devices(&self) -> Result<Vec<Device>, StoreError>;

    // Device settings, and what exports rely on.

    /// Replaces the settings (JSON) of one of the scope's devices; `NotFound` for another organisation's or site's.
    async fn set_device_settings(&self, scope: &OrgScope, device_id: i64, settings: &str) -> Result<(), StoreError>;

    /// The chain head of one of the scope's devices and how many of its blocks carry samples in `[from_s, to_s)`.
    async fn chain_summary(
        &self,
        scope: &OrgScope,
        device_id: i64,
        from_s: i64,
        to_s: i64,
    ) -> Result<ChainSummary, StoreError>;

    /// The server's export-signing keys, oldest first (the newest signs). Instance-wide, not an organisation's.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Adds a signing key; `Conflict` for a public key already there.
    async fn add_signing_key(&self, public_key: &[u8], seed_sealed: &[u8], now_us: i64) -> Result<(), StoreError>;
    // Retention: the one path allowed past the immutability guards of blocks and measurements.

    /// The organisation's retention; `None` (the default) keeps everything.
    async fn retention(&self, scope: &OrgScope) -> Result<Option<Retention>, StoreError>;

    async fn set_retention(&self, scope: &OrgScope, retention: Option<Retention>) -> Result<(), StoreError>;

    /// Removes, per device of the scope, the oldest blocks whose last sample is before the retention's cutoff at
    /// `now_s` (the longest such prefix of the chain, so it still verifies from its new anchor) with their measurement
    /// rows; one transaction per device, each recorded first in `retention_purges`. Nothing for an organisation
    /// without a retention. The database refuses a cutoff its own clock says is within the retention, so `now_s` must
    /// be the present. Audit entries are never purged.
    async fn purge_expired(&self, scope: &OrgScope, now_s: i64) -> Result<PurgeReport, StoreError>;

    // Invitations: single use, expiring; the token is stored as its SHA-256.

    async fn create_invitation(&self, scope: &OrgScope, invitation: NewInvitation) -> Result<Invitation, StoreError>;

    /// Invitations neither accepted, revoked nor expired at `now_us`.
    async fn invitations(&self, scope: &OrgScope, now_us: i64) -> Result<Vec<Invitation>, StoreError>;

    async fn revoke_invitation(&self, scope: &OrgScope, invitation_id: i64) -> Result<Invitation, StoreError>;

    /// The live invitation with this token hash and its organisation; `NotFound` if it is unknown, used, revoked or
    /// expired. The token is the authority here, so no scope is needed.
    async fn invitation_by_token(
        &self,
        token_hash: &[u8; 32],
        now_us: i64,
    ) -> Result<(Invitation, Organisation), StoreError>;

    /// Uses the invitation, in one transaction: marks it accepted (once only), creates the account or checks that
    /// `acceptance` names the invited address's account (`Conflict` otherwise, nothing changed), sets a password
    /// only as [`Acceptance`] allows, and adds the membership (an existing membership is left as it is).
    async fn accept_invitation(
        &self,
        token_hash: &[u8; 32],
        now_us: i64,
        acceptance: Acceptance<'_>,
    ) -> Result<AcceptedInvitation, StoreError>;

    // API tokens: stored as their SHA-256.

    async fn create_api_token(&self, scope: &OrgScope, token: NewApiToken) -> Result<ApiToken, StoreError>;

    async fn api_tokens(&self, scope: &OrgScope) -> Result<Vec<ApiToken>, StoreError>;

    async fn revoke_api_token(&self, scope: &OrgScope, token_id: i64) -> Result<ApiToken, StoreError>;

    /// The token with this hash, whatever its state (the caller checks expiry and revocation).
    async fn api_token_by_hash(&self, token_hash: &[u8; 32]) -> Result<ApiToken, StoreError>;

    async fn touch_api_token(&self, token_id: i64, now_us: i64) -> Result<(), StoreError>;

    // A user's own sessions and account state.

    /// The user's sessions that are neither revoked nor past their absolute expiry.
    async fn user_sessions(&self, user_id: i64, now_us: i64) -> Result<Vec<Session>, StoreError>;

    /// Revokes one of the user's own sessions; `false` if there is no such session of theirs.
    async fn revoke_user_session(&self, user_id: i64, session_id: i64) -> Result<bool, StoreError>;

    /// Revokes all of the user's sessions except `keep`; returns how many.
    async fn revoke_other_sessions(&self, user_id: i64, keep: Option<i64>) -> Result<u64, StoreError>;

    /// Disables or re-enables an account. Disabling revokes its sessions and API tokens in the same transaction.
    async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> Result<(), StoreError>;

    /// Removes the user's TOTP and recovery codes; `false` if there was none.
    async fn remove_totp(&self, user_id: i64) -> Result<bool, StoreError>;

    async fn count_users(&self) -> Result<i64, StoreError>;

    // Email sign-in codes.

    /// Stores a new code for the user, replacing the previous one — unless the previous one was issued less than
    /// `min_interval_us` ago (`false`, nothing changed).
    async fn put_email_code(
        &self,
        user_id: i64,
        code_hash: &[u8; 32],
        now_us: i64,
        expires_at_us: i64,
        min_interval_us: i64,
    ) -> Result<bool, StoreError>;

    async fn email_code(&self, user_id: i64) -> Result<Option<EmailCode>, StoreError>;

    /// Counts one email-code attempt for an address (a keyed hash of it, known account or not) in `step`, before the
    /// code is checked; returns the count in the newest step seen.
    async fn record_email_code_attempt(&self, email_key: &[u8; 32], step: i64) -> Result<i64, StoreError>;

    /// Marks the code used if it is still `code_hash` and unused; `false` otherwise (used already, or replaced).
    async fn use_email_code(&self, user_id: i64, code_hash: &[u8; 32]) -> Result<bool, StoreError>;

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
