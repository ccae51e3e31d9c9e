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

/// An event to be appended; the store assigns the sequence number and the hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The organisation whose chain records this, or [`INSTANCE_CHAIN`].
    pub chain_id: i64,
    /// Unix time in microseconds (UTC).
    pub occurred_at_us: i64,
    /// Who acted: `user:<id>`, `token:<id>`, `cli`, `system`, or `anonymous`.
    pub actor: String,
    /// What was done, dotted: `auth.sign_in`, `member.role_change`, …
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
}
