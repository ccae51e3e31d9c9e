//! The domain records the store hands out, and the organisation scope that every tenant-data call requires.

use logvault_core::Email;
use logvault_core::authz::Role;
use time::OffsetDateTime;

use crate::{Organisation, StoreError};

/// The columns of an `api_tokens` row, in the order both engines select them.
macro_rules! api_token_columns {
    () => {
        "id, org_id, user_id, name, role, created_at_us, expires_at_us, last_used_us, revoked"
    };
}
pub(crate) use api_token_columns;

/// Proof that the caller may act within one organisation.
///
/// Every store call that reads or writes tenant data takes an `OrgScope`, and the only ways to get one are
/// [`Store::scope_for_member`](crate::Store::scope_for_member) — which checks a membership in the database — and
/// [`OrgScope::for_operator`], reserved for the command line, where whoever holds the data directory and the master
/// key is the authority. A handler therefore cannot forget a tenant filter: without a scope it cannot call the store.
///
/// A scope may be narrowed to one site (a membership scoped to a site): store calls for site-grouped data (devices
/// and what hangs off them) then see that site only, again without the handler having to remember it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgScope {
    org_id: i64,
    site_id: Option<i64>,
}

impl OrgScope {
    pub(crate) fn new(org_id: i64, site_id: Option<i64>) -> OrgScope {
        OrgScope { org_id, site_id }
    }

    /// A whole-organisation scope for the operator's command line (`logvault user create`, `admin bootstrap`).
    /// Never use it in a request handler.
    pub fn for_operator(org_id: i64) -> OrgScope {
        OrgScope { org_id, site_id: None }
    }

    pub fn org_id(&self) -> i64 {
        self.org_id
    }

    /// The one site this scope is narrowed to, if any.
    pub fn site_id(&self) -> Option<i64> {
        self.site_id
    }
}

/// A site: a group of an organisation's devices.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Site {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub created_at_us: i64,
}

/// A person. Name and email only (data minimisation).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Email))]
    pub email: Email,
    pub name: String,
    pub disabled: bool,
    pub created_at_us: i64,
}

/// A user with the password hash needed to sign them in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    /// PHC string; `None` for accounts that sign in by email code only.
    pub password_hash: Option<String>,
}

/// One organisation a user belongs to, and their role there.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Membership {
    pub organisation: Organisation,
    pub role: Role,
    /// The site the membership is scoped to, if any.
    pub site_id: Option<i64>,
}

/// A member of an organisation, as listed to its administrators.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub user: User,
    pub role: Role,
    /// The site the membership is scoped to, if any.
    pub site_id: Option<i64>,
}

/// A session to create. The token itself never reaches the store, only its SHA-256.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: [u8; 32],
    pub user_id: i64,
    pub now_us: i64,
    pub expires_at_us: i64,
    /// Password accepted, second factor still owed: the session opens nothing but the second-factor step.
    pub mfa_pending: bool,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub created_at_us: i64,
    pub last_seen_us: i64,
    pub expires_at_us: i64,
    pub revoked: bool,
    pub mfa_pending: bool,
}

/// A user's TOTP enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// The secret, sealed under a key derived from the master key.
    pub secret_sealed: Vec<u8>,
    /// Set once a first code was verified; only a confirmed TOTP is a second factor.
    pub confirmed: bool,
    pub last_used_step: Option<i64>,
}

pub(crate) fn hash32(bytes: Vec<u8>) -> Result<[u8; 32], crate::StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| StoreError::Database(sqlx::Error::Decode("stored hash is not 32 bytes".into())))
}

/// A sealed key as stored: the generation column is a wider integer than a key generation.
pub(crate) fn sealed_key(generation: i64, key_sealed: Vec<u8>) -> Result<SealedKey, StoreError> {
    let generation = u8::try_from(generation)
        .map_err(|_| StoreError::Database(sqlx::Error::Decode("key generation out of range".into())))?;
    Ok(SealedKey { generation, key_sealed })
}

pub(crate) fn parse_role(raw: &str) -> Result<Role, StoreError> {
    Role::parse(raw).map_err(|err| StoreError::Database(sqlx::Error::Decode(Box::new(err))))
}

/// The current time, truncated to microseconds so it round-trips identically through both engines.
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let micros = now.microsecond();
    now.replace_microsecond(micros).unwrap_or(now)
}

/// An invitation to create. The token itself never reaches the store, only its SHA-256.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub email: Email,
    pub role: Role,
    pub token_hash: [u8; 32],
    /// `None` for the operator's bootstrap setup link.
    pub invited_by: Option<i64>,
    pub purpose: InvitationPurpose,
    pub now_us: i64,
    pub expires_at_us: i64,
}

/// What an invitation is for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationPurpose {
    /// A member invites someone.
    Invitation,
    /// The operator's bootstrap link: the only kind that may give an existing account (created without one) its
    /// password.
    Setup,
}

impl InvitationPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationPurpose::Invitation => "invitation",
            InvitationPurpose::Setup => "setup",
        }
    }

    pub(crate) fn parse(raw: &str) -> Result<InvitationPurpose, StoreError> {
        match raw {
            "invitation" => Ok(InvitationPurpose::Invitation),
            "setup" => Ok(InvitationPurpose::Setup),
            _ => Err(StoreError::Database(sqlx::Error::Decode("unknown invitation purpose".into()))),
        }
    }
}

/// Who accepts an invitation.
#[derive(Debug, Clone, Copy)]
pub enum Acceptance<'a> {
    /// Nobody has the invited address yet: create the account (without a password it signs in by email code).
    NewAccount { name: &'a str, password_hash: Option<&'a str> },
    /// The existing account `user_id`, which must be the invited address's (the caller has established that it is
    /// this person acting). `password_hash` is set only by a setup invitation, and only if the account has none.
    Existing { user_id: i64, password_hash: Option<&'a str> },
}

/// A pending invitation, as listed to the organisation's administrators.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invitation {
    pub id: i64,
    pub org_id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Email))]
    pub email: Email,
    pub role: Role,
    pub invited_by: Option<i64>,
    pub purpose: InvitationPurpose,
    pub created_at_us: i64,
    pub expires_at_us: i64,
}

/// The result of accepting an invitation: who is now a member, where, and as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedInvitation {
    pub user: User,
    pub org_id: i64,
    /// The member's role now: the invited one, or — if they were a member already — the one they had.
    pub role: Role,
    /// The invitation created the account (rather than adding a membership to an existing one).
    pub created_user: bool,
    /// The invitation created the membership (the account was not a member yet).
    pub new_membership: bool,
}

/// An API token to create. The token itself never reaches the store, only its SHA-256.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub token_hash: [u8; 32],
    pub now_us: i64,
    pub expires_at_us: i64,
}

/// A stored API token: it acts for `user_id` in `org_id` with at most `role`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub org_id: i64,
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub created_at_us: i64,
    pub expires_at_us: i64,
    pub last_used_us: Option<i64>,
    pub revoked: bool,
}

/// A user's current email sign-in code (its keyed hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailCode {
    pub code_hash: [u8; 32],
    pub created_at_us: i64,
    pub expires_at_us: i64,
    pub used: bool,
}

/// A device to register: its first key (generation 0) arrives already sealed.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub serial: String,
    pub name: String,
    pub site_id: Option<i64>,
    /// The logger model (JSON), if registered with one.
    pub model: Option<String>,
    /// The device key sealed under the organisation's data key (`logvault_core::custody`).
    pub key_sealed: Vec<u8>,
    pub now_us: i64,
}

/// A registered device. Its keys are not part of it: they are read only where they are used.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Device {
    pub id: i64,
    pub serial: String,
    pub org_id: i64,
    pub name: String,
    pub site_id: Option<i64>,
    /// The channels' quantities in order (`temperature,relative_humidity`), set by the first accepted block.
    pub channel_layout: Option<String>,
    /// The logger model (JSON) it was registered with, if any; the API shows it parsed.
    #[serde(skip)]
    pub model: Option<String>,
    /// Its settings (JSON: alarm limits per channel, the ΔH for MKT), if any were set; the API shows them parsed.
    #[serde(skip)]
    pub settings: Option<String>,
    pub created_at_us: i64,
}

/// What ingest needs to verify a block from a serial: the device, its organisation, the organisation's wrapped data
/// key and the device's sealed keys, in one lookup. Made only by the store (`non_exhaustive`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IngestDevice {
    pub device_id: i64,
    pub org_id: i64,
    pub serial: String,
    /// The logger model (JSON) it was registered with, if any.
    pub model: Option<String>,
    /// The organisation's wrapped data key (read in the same query), if it has one.
    pub wrapped_data_key: Option<Vec<u8>>,
    /// Sealed keys by generation.
    pub keys: Vec<SealedKey>,
}

/// One generation of a device's key, sealed under its organisation's data key (`logvault_core::custody`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    pub generation: u8,
    pub key_sealed: Vec<u8>,
}

/// One of a user's unused recovery codes: its slot and the keyed hash it is stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryCodeRecord {
    pub idx: i64,
    pub code_hash: [u8; 32],
}

/// One sample of an opened block: device time in UTC seconds and one value per channel (thousandths of the unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingSample {
    pub t_s: i64,
    pub values: Vec<i32>,
}

/// A verified, opened and validated block, ready to be kept.
#[derive(Debug, Clone)]
pub struct IncomingBlock {
    pub device_id: i64,
    pub serial: String,
    pub counter: i64,
    pub key_generation: u8,
    pub raw: Vec<u8>,
    pub received_at_us: i64,
    pub source: logvault_core::blockchain::Source,
    /// The channels' quantities in order, e.g. `temperature,relative_humidity`.
    pub channel_layout: String,
    pub samples: Vec<IncomingSample>,
}

/// What keeping a block came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Kept: `new` samples were not stored before, `duplicates` were (an overlapping window).
    Stored { new: u64, duplicates: u64 },
    /// The very same block was kept before: nothing changed.
    Duplicate { samples: u64 },
    /// A block with this counter but other content was kept before: nothing changed (a cloned device or a firmware
    /// bug).
    CounterReused,
    /// The block's counter contradicts its time against a kept block of the device: a lower counter whose last
    /// sample is later, or a higher counter whose last sample is earlier (see `ingest::counter_plausible`). Nothing
    /// changed (a replayed, forged-order or cloned device's block, or a firmware bug).
    CounterImplausible,
    /// The block's channels differ from the ones the device has sent so far: nothing changed.
    LayoutChanged,
}

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Measurement {
    pub t_s: i64,
    pub ordinal: i32,
    pub channel: i32,
    /// Thousandths of the channel's unit.
    pub value: i32,
}

/// A page of measurements: `[from_s, to_s)` of one channel, after the cursor `(t_s, ordinal)`, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct MeasurementQuery {
    pub channel: i32,
    pub from_s: i64,
    pub to_s: i64,
    pub after: Option<(i64, i32)>,
    pub limit: i64,
}

/// A bucketed query: `[from_s, to_s)` of one channel, in at most `n_buckets` time buckets (0 counts as 1). How the
/// buckets are chosen is documented in the store's `rollups` module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketQuery {
    pub channel: i32,
    pub from_s: i64,
    pub to_s: i64,
    pub n_buckets: u32,
}

/// The values of one channel with `start_s <= t_s < end_s`: how many, their minimum, maximum and sum (thousandths
/// of the channel's unit). Buckets are never empty (`count >= 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Bucket {
    pub start_s: i64,
    pub end_s: i64,
    pub count: i64,
    pub min: i32,
    pub max: i32,
    pub sum: i64,
}

impl Bucket {
    /// The arithmetic mean of the bucket's values, in thousandths of the unit (not time-weighted: every sample counts
    /// once).
    pub fn mean(&self) -> f64 {
        // Both are exact in f64 up to 2^53, far beyond any bucket.
        self.sum as f64 / self.count.max(1) as f64
    }
}

/// A manufacturer's upload token (instance-wide, not an organisation's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManufacturerToken {
    pub id: i64,
    pub name: String,
    pub expires_at_us: i64,
    pub revoked: bool,
}

/// A logger uploaded by a manufacturer and not yet claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnclaimedDevice {
    pub serial: String,
    /// The device key sealed under the manufacturing key.
    pub key_sealed: Vec<u8>,
    pub claim_code_hash: [u8; 32],
}

/// A device's hash chain as far as an export needs it: the head now, and how many blocks carry samples of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSummary {
    /// `(seq, block_hash)` of the newest block; `None` before the first.
    pub head: Option<(i64, [u8; 32])>,
    pub n_blocks_in_period: i64,
}

/// One of the server's export-signing keys: the Ed25519 public key and its seed sealed under a master-derived key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub id: i64,
    pub public_key: Vec<u8>,
    pub seed_sealed: Vec<u8>,
    pub created_at_us: i64,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A device's chain as stored, for verification: the retained blocks in order, the head, and — once a purge removed
/// the oldest blocks — the anchor the retained blocks start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceChain {
    pub blocks: Vec<logvault_core::blockchain::ChainedBlock>,
    pub head: Option<(i64, [u8; 32])>,
    pub anchor: Option<logvault_core::blockchain::ChainAnchor>,
}

/// What one retention purge removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct PurgeReport {
    /// The cutoff applied (blocks whose last sample is before it were removed); `None` for an organisation that
    /// keeps everything.
    pub cutoff_s: Option<i64>,
    /// The devices something was removed from, by serial.
    pub devices: Vec<DevicePurge>,
}

/// What a purge removed from one device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DevicePurge {
    pub device_id: i64,
    pub serial: String,
    pub blocks_removed: u64,
    pub measurements_removed: u64,
    /// The chain position the device's chain now starts at (its anchor); the head's plus one if no block is left.
    pub first_retained_seq: i64,
}

impl PurgeReport {
    pub fn blocks_removed(&self) -> u64 {
        self.devices.iter().map(|d| d.blocks_removed).sum()
    }

    pub fn measurements_removed(&self) -> u64 {
        self.devices.iter().map(|d| d.measurements_removed).sum()
    }
}
