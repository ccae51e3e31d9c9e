//! The audit-entry builders every entry point shares: an organisation event, a sign-in step, a system-imposed refusal.
//!
//! Each entry names its action as an [`AuditAction`], whose stable string is what the chain stores and hashes.

use logvault_core::audit::{self, AuditAction, ChainBreak, Entry, INSTANCE_CHAIN, NewEntry, Outcome};
use logvault_core::throttle::FailureEffect;
use logvault_store::{Store, StoreError};

use crate::auth::{OrgAccess, Principal, now_us};
use crate::state::AppState;

/// Appends an event to the organisation's audit chain; a failure fails the caller (a security event must not go
/// unrecorded).
pub async fn org_event(
    state: &AppState,
    principal: &Principal,
    access: &OrgAccess,
    action: AuditAction,
    target: Option<String>,
    detail: Option<String>,
) -> Result<(), StoreError> {
    state
        .store
        .append_audit(NewEntry {
            chain_id: access.scope.org_id(),
            occurred_at_us: now_us(),
            actor: principal.actor(),
            action: action.into(),
            target,
            outcome: Outcome::Success,
            request_id: principal.request_id.clone(),
            detail,
        })
        .await?;
    Ok(())
}

/// How long a lock lasts, as an audit detail.
pub fn lockout_detail(effect: FailureEffect) -> &'static str {
    match effect {
        FailureEffect::LockedUntilUnlocked => "until:operator-unlock",
        FailureEffect::Locked | FailureEffect::Counted => "minutes:15",
    }
}

/// An audit entry for a refusal the system imposed (lockout, throttling).
pub fn lockout_event(target: &str, action: AuditAction, request_id: Option<String>, detail: &str) -> NewEntry {
    NewEntry {
        chain_id: INSTANCE_CHAIN,
        occurred_at_us: now_us(),
        actor: "system".to_owned(),
        action: action.into(),
        target: Some(target.to_owned()),
        outcome: Outcome::Denied,
        request_id,
        detail: Some(detail.to_owned()),
    }
}

/// An audit entry for one sign-in step of `target` (a `user:<id>` or the address tried), successful or not.
pub fn sign_in_event(target: String, outcome: Outcome, request_id: Option<String>, detail: &str) -> NewEntry {
    NewEntry {
        chain_id: INSTANCE_CHAIN,
        occurred_at_us: now_us(),
        actor: target.clone(),
        action: AuditAction::AuthSignIn.into(),
        target: Some(target),
        outcome,
        request_id,
        detail: Some(detail.to_owned()),
    }
}

/// Every entry of a chain, in order, and whether the chain verifies against its stored head.
pub async fn read_and_verify_chain(
    store: &dyn Store,
    chain_id: i64,
) -> Result<(Vec<Entry>, Result<(), ChainBreak>), StoreError> {
    let mut entries: Vec<Entry> = Vec::new();
    loop {
        let after = entries.last().map_or(0, |e| e.seq);
        let page = store.audit_entries(chain_id, after, 1000).await?;
        if page.is_empty() {
            break;
        }
        entries.extend(page);
    }
    let head = store.audit_head(chain_id).await?;
    let verdict = audit::verify_chain(chain_id, &entries, head);
    Ok((entries, verdict))
}
