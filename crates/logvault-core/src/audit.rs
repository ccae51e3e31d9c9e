//! The tamper-evident audit log: entries hash-chained per organisation.
//!
//! `entry_hash = SHA-256(prev_hash ‖ canonical entry)`, where the canonical entry is a length-prefixed encoding of
//! every field (so no two different entries encode alike) and the first entry of a chain links to 32 zero bytes.
//! Changing, removing or reordering any entry breaks the chain at that entry; the chain head kept beside the log
//! also catches a truncated tail. Entries name actors, actions and targets — never a password, code, token or key.

use sha2::{Digest, Sha256};

/// The chain of events that belong to no organisation (e.g. a failed sign-in for an unknown address).
pub const INSTANCE_CHAIN: i64 = 0;

/// The `prev_hash` of the first entry of every chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// How an audited action ended.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

/// Defines [`AuditAction`] from one table: each variant with its stable string, written once.
macro_rules! audit_actions {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)+) => {
        /// Every action the audit log records. The strings are stored and hashed into the chains, so they never
        /// change: a renamed string would make existing chains fail to verify.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)+
        }

        impl AuditAction {
            /// Every action, in table order.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)+];

            /// The stable string stored in the log, dotted: `auth.sign_in`, `export.created`, …
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $text,)+
                }
            }

            /// The action a stored string names, if it is one of ours.
            pub fn parse(raw: &str) -> Option<AuditAction> {
                match raw {
                    $($text => Some(AuditAction::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

audit_actions! {
    /// An address spent its sign-in failure allowance.
    AuthClientThrottled => "auth.client_throttled",
    /// An email sign-in code was sent.
    AuthEmailCodeSent => "auth.email_code_sent",
    /// An account was locked after wrong passwords or codes.
    AuthLockout => "auth.lockout",
    /// Second-factor attempts were throttled.
    AuthMfaThrottled => "auth.mfa_throttled",
    /// A password was changed (by its owner or an operator).
    AuthPasswordChange => "auth.password_change",
    /// A step-up password check failed.
    AuthReauthenticate => "auth.reauthenticate",
    /// A sign-in step, successful or not.
    AuthSignIn => "auth.sign_in",
    /// A session was ended by its owner.
    AuthSignOut => "auth.sign_out",
    /// An operator unlocked an account.
    AuthUnlock => "auth.unlock",
    /// A request was refused for lack of permission.
    AuthzDenied => "authz.denied",
    /// An uploaded logger was claimed into an organisation.
    DeviceClaim => "device.claim",
    /// A claim with a wrong code was refused.
    DeviceClaimRefused => "device.claim_refused",
    /// A device was registered.
    DeviceCreate => "device.create",
    /// A device key was shown to a member.
    DeviceKeyExport => "device.key_export",
    /// A device got a new key generation.
    DeviceKeyRotate => "device.key_rotate",
    /// A device's channel limits or names changed.
    DeviceSettingsChanged => "device.settings_changed",
    /// A signed export was made.
    ExportCreated => "export.created",
    /// A block's counter contradicts its time.
    IngestCounterImplausible => "ingest.counter_implausible",
    /// A block reused a counter with other content.
    IngestCounterReused => "ingest.counter_reused",
    /// A block was refused.
    IngestRejected => "ingest.rejected",
    /// An invitation was used.
    InvitationAccept => "invitation.accept",
    /// An invitation was made.
    InvitationCreate => "invitation.create",
    /// An invitation was withdrawn.
    InvitationRevoke => "invitation.revoke",
    /// A manufacturer token was made.
    ManufacturingTokenCreate => "manufacturing.token_create",
    /// A manufacturer uploaded loggers.
    ManufacturingUpload => "manufacturing.upload",
    /// An operator added a member.
    MemberCreate => "member.create",
    /// A member was removed.
    MemberRemove => "member.remove",
    /// A member's role changed.
    MemberRoleChange => "member.role_change",
    /// A member's sites changed.
    MemberSiteChange => "member.site_change",
    /// A second factor was enrolled.
    MfaEnrol => "mfa.enrol",
    /// A second-factor enrolment began.
    MfaEnrolStart => "mfa.enrol_start",
    /// A second factor was removed.
    MfaRemove => "mfa.remove",
    /// The first organisation and owner were made.
    OrgBootstrap => "org.bootstrap",
    /// An organisation's policy changed.
    OrgPolicyChange => "org.policy_change",
    /// Expired data was purged.
    RetentionPurge => "retention.purge",
    /// An organisation's retention changed.
    RetentionSet => "retention.set",
    /// A session was revoked.
    SessionRevoke => "session.revoke",
    /// A site was made.
    SiteCreate => "site.create",
    /// An API token was made.
    TokenCreate => "token.create",
    /// An API token was revoked.
    TokenRevoke => "token.revoke",
    /// An operator disabled an account.
    UserDisable => "user.disable",
    /// An operator enabled an account.
    UserEnable => "user.enable",
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<AuditAction> for String {
    fn from(action: AuditAction) -> String {
        action.as_str().to_owned()
    }
}

/// An event to be appended; the store assigns the sequence number and the hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The organisation whose chain records this, or [`INSTANCE_CHAIN`].
    pub chain_id: i64,
    /// Unix time in microseconds (UTC).
    pub occurred_at_us: i64,
    /// Who acted: `user:<id>`, `token:<id>`, `cli`, `system`, or `anonymous`.
    pub actor: String,
    /// What was done: an [`AuditAction`]'s stable string (`AuditAction::as_str`, or `.into()`). The field stays a
    /// string at the storage boundary, where entries of any origin are read back and verified.
    pub action: String,
    /// What it was done to, e.g. `user:<id>`; never a secret.
    pub target: Option<String>,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    /// Extra non-secret context, e.g. the factor used (`password`) or a refusal reason.
    pub detail: Option<String>,
}

/// An entry as stored: a [`NewEntry`] with its place in the chain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub chain_id: i64,
    /// 1, 2, 3, … within the chain.
    pub seq: i64,
    pub occurred_at_us: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    #[serde(with = "hex_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = "hex"))]
    pub prev_hash: [u8; 32],
    #[serde(with = "hex_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = "hex"))]
    pub entry_hash: [u8; 32],
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("chain {chain_id}: entry {seq} was changed (its hash does not match its content)")]
    Altered { chain_id: i64, seq: i64 },
    #[error("chain {chain_id}: entry {expected} is missing or out of order (found entry {found} in its place)")]
    Gap { chain_id: i64, expected: i64, found: i64 },
    #[error("chain {chain_id}: entry {seq} does not link to entry {previous} (removed, inserted or reordered)")]
    BadLink { chain_id: i64, seq: i64, previous: i64 },
    #[error(
        "chain {chain_id}: the log ends at entry {last} but the chain head says {head} (entries removed at the end)"
    )]
    Truncated { chain_id: i64, last: i64, head: i64 },
    #[error("chain {chain_id}: the last entry's hash does not match the chain head")]
    HeadMismatch { chain_id: i64 },
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    pub fn parse(raw: &str) -> Option<Outcome> {
        match raw {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "denied" => Some(Outcome::Denied),
            _ => None,
        }
    }
}

impl NewEntry {
    /// Places the entry after `prev` (`None` for the first entry of the chain) and computes its hash.
    pub fn chain_after(self, prev: Option<(i64, [u8; 32])>) -> Entry {
        let (prev_seq, prev_hash) = prev.unwrap_or((0, GENESIS));
        let mut entry = Entry {
            chain_id: self.chain_id,
            seq: prev_seq + 1,
            occurred_at_us: self.occurred_at_us,
            actor: self.actor,
            action: self.action,
            target: self.target,
            outcome: self.outcome,
            request_id: self.request_id,
            detail: self.detail,
            prev_hash,
            entry_hash: [0; 32],
        };
        entry.entry_hash = entry.compute_hash();
        entry
    }
}

impl Entry {
    /// SHA-256(prev_hash ‖ canonical encoding of every other field).
    pub fn compute_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash);
        hasher.update(b"logvault-audit-v1");
        hasher.update(self.chain_id.to_be_bytes());
        hasher.update(self.seq.to_be_bytes());
        hasher.update(self.occurred_at_us.to_be_bytes());
        for field in [
            Some(self.actor.as_str()),
            Some(self.action.as_str()),
            self.target.as_deref(),
            Some(self.outcome.as_str()),
            self.request_id.as_deref(),
            self.detail.as_deref(),
        ] {
            match field {
                None => hasher.update([0u8]),
                Some(text) => {
                    hasher.update([1u8]);
                    hasher.update((text.len() as u64).to_be_bytes());
                    hasher.update(text.as_bytes());
                }
            }
        }
        hasher.finalize().into()
    }
}

/// Verifies one chain, given its entries in stored order and its head (`(seq, hash)` of the last entry).
pub fn verify_chain(chain_id: i64, entries: &[Entry], head: Option<(i64, [u8; 32])>) -> Result<(), ChainBreak> {
    let mut previous: Option<&Entry> = None;
    for (index, entry) in entries.iter().enumerate() {
        let expected = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        if entry.compute_hash() != entry.entry_hash {
            return Err(ChainBreak::Altered { chain_id, seq: entry.seq });
        }
        if entry.seq != expected {
            return Err(ChainBreak::Gap { chain_id, expected, found: entry.seq });
        }
        let linked_hash = previous.map_or(GENESIS, |p| p.entry_hash);
        if entry.prev_hash != linked_hash {
            return Err(ChainBreak::BadLink { chain_id, seq: entry.seq, previous: expected - 1 });
        }
        previous = Some(entry);
    }
    let last = previous.map_or((0, GENESIS), |p| (p.seq, p.entry_hash));
    match head {
        None if last.0 == 0 => Ok(()),
        // Entries without a head: the head was removed.
        None => Err(ChainBreak::HeadMismatch { chain_id }),
        Some((head_seq, _)) if head_seq > last.0 => {
            Err(ChainBreak::Truncated { chain_id, last: last.0, head: head_seq })
        }
        Some((head_seq, head_hash)) if head_seq == last.0 && head_hash != last.1 => {
            Err(ChainBreak::HeadMismatch { chain_id })
        }
        Some((head_seq, _)) if head_seq < last.0 => Err(ChainBreak::HeadMismatch { chain_id }),
        Some(_) => Ok(()),
    }
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> NewEntry {
        NewEntry {
            chain_id: 7,
            occurred_at_us: 1_700_000_000_000_000 + n,
            actor: format!("user:{n}"),
            action: "auth.sign_in".to_owned(),
            target: Some(format!("user:{n}")),
            outcome: Outcome::Success,
            request_id: Some("abc".to_owned()),
            detail: None,
        }
    }

    fn chain(n: i64) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::new();
        for i in 1..=n {
            let prev = entries.last().map(|e| (e.seq, e.entry_hash));
            entries.push(event(i).chain_after(prev));
        }
        entries
    }

    fn head(entries: &[Entry]) -> Option<(i64, [u8; 32])> {
        entries.last().map(|e| (e.seq, e.entry_hash))
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let entries = chain(5);
        assert_eq!(entries[0].prev_hash, GENESIS);
        assert_eq!(verify_chain(7, &entries, head(&entries)), Ok(()));
        assert_eq!(verify_chain(7, &[], None), Ok(()));
    }

    #[test]
    fn a_changed_field_is_named_as_altered() {
        let mut entries = chain(5);
        let head = head(&entries);
        entries[2].outcome = Outcome::Failure;
        assert_eq!(verify_chain(7, &entries, head), Err(ChainBreak::Altered { chain_id: 7, seq: 3 }));
    }

    #[test]
    fn a_removed_entry_is_a_gap() {
        let mut entries = chain(5);
        let head = head(&entries);
        entries.remove(1);
        assert_eq!(verify_chain(7, &entries, head), Err(ChainBreak::Gap { chain_id: 7, expected: 2, found: 3 }));
    }

    #[test]
    fn swapped_entries_are_detected() {
        let mut entries = chain(5);
        let head = head(&entries);
        entries.swap(1, 2);
        assert_eq!(verify_chain(7, &entries, head), Err(ChainBreak::Gap { chain_id: 7, expected: 2, found: 3 }));
    }

    #[test]
    fn a_rewritten_chain_with_renumbered_entries_breaks_the_link() {
        let mut entries = chain(5);
        let head = head(&entries);
        // Remove entry 2 and renumber 3.. down, recomputing each moved entry's own hash but not the links.
        entries.remove(1);
        for (i, entry) in entries.iter_mut().enumerate().skip(1) {
            entry.seq = i as i64 + 1;
            entry.entry_hash = entry.compute_hash();
        }
        assert_eq!(verify_chain(7, &entries, head), Err(ChainBreak::BadLink { chain_id: 7, seq: 2, previous: 1 }));
    }

    #[test]
    fn a_truncated_tail_is_caught_by_the_head() {
        let mut entries = chain(5);
        let head = head(&entries);
        entries.pop();
        assert_eq!(verify_chain(7, &entries, head), Err(ChainBreak::Truncated { chain_id: 7, last: 4, head: 5 }));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let mut a = event(1);
        a.actor = "ab".to_owned();
        a.action = "c".to_owned();
        let mut b = event(1);
        b.actor = "a".to_owned();
        b.action = "bc".to_owned();
        assert_ne!(a.chain_after(None).entry_hash, b.chain_after(None).entry_hash);
        let mut c = event(1);
        c.target = None;
        let mut d = event(1);
        d.target = Some(String::new());
        assert_ne!(c.chain_after(None).entry_hash, d.chain_after(None).entry_hash);
    }

    #[test]
    fn every_action_parses_back_from_its_string_and_no_two_share_one() {
        let mut seen = std::collections::HashSet::new();
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
            assert!(seen.insert(action.as_str()), "{action} twice");
        }
        assert_eq!(AuditAction::parse("export.create"), None);
    }

    #[test]
    fn the_stored_strings_are_exactly_the_ones_existing_chains_hold() {
        // Written out by hand on purpose: changing one of these breaks the verification of every stored chain.
        let expected = [
            "auth.client_throttled",
            "auth.email_code_sent",
            "auth.lockout",
            "auth.mfa_throttled",
            "auth.password_change",
            "auth.reauthenticate",
            "auth.sign_in",
            "auth.sign_out",
            "auth.unlock",
            "authz.denied",
            "device.claim",
            "device.claim_refused",
            "device.create",
            "device.key_export",
            "device.key_rotate",
            "device.settings_changed",
            "export.created",
            "ingest.counter_implausible",
            "ingest.counter_reused",
            "ingest.rejected",
            "invitation.accept",
            "invitation.create",
            "invitation.revoke",
            "manufacturing.token_create",
            "manufacturing.upload",
            "member.create",
            "member.remove",
            "member.role_change",
            "member.site_change",
            "mfa.enrol",
            "mfa.enrol_start",
            "mfa.remove",
            "org.bootstrap",
            "org.policy_change",
            "retention.purge",
            "retention.set",
            "session.revoke",
            "site.create",
            "token.create",
            "token.revoke",
            "user.disable",
            "user.enable",
        ];
        let actual: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(actual, expected);
    }
}
