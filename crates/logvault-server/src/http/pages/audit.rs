//! `/orgs/{org_id}/audit`: the organisation's audit log, newest first, filterable, with the result of verifying
//! its hash chain at the top. For the roles that may read the audit log (the auditor role reads it and nothing
//! else).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use logvault_core::audit::{AuditAction, Entry, Outcome};
use logvault_core::authz::Permission;
use serde::Deserialize;

use super::{Nav, html, when_us};
use crate::app::audit::read_and_verify_chain;
use crate::auth::{OrgAccess, Principal};
use crate::error::ApiError;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().add(
        Method::GET,
        "/orgs/{org_id}/audit",
        Access::Org(Permission::ReadAuditLog),
        Doc::new("The audit log page"),
        audit_page,
    )
}

/// Entries per page.
const PAGE_SIZE: usize = 100;

#[derive(Debug, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    actor: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Show entries older than this sequence number.
    before: Option<i64>,
}

#[derive(Debug)]
struct EntryRow {
    seq: i64,
    when: (String, String),
    actor: String,
    action: String,
    target: String,
    outcome: &'static str,
    outcome_class: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    org_id: i64,
    chain_ok: bool,
    chain_status: String,
    actions: Vec<&'static str>,
    filter_action: String,
    filter_outcome: String,
    filter_actor: String,
    filter_from: String,
    filter_to: String,
    entries: Vec<EntryRow>,
    older: Option<String>,
}

/// The first second of a `YYYY-MM-DD` day (UTC).
fn day_start_us(day: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day.trim(), &format).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp().saturating_mul(1_000_000))
}

fn matches(entry: &Entry, query: &AuditQuery, from_us: Option<i64>, to_us: Option<i64>) -> bool {
    (query.action.is_empty() || entry.action == query.action)
        && Outcome::parse(&query.outcome).is_none_or(|outcome| entry.outcome == outcome)
        && (query.actor.trim().is_empty() || entry.actor.contains(query.actor.trim()))
        && from_us.is_none_or(|from| entry.occurred_at_us >= from)
        && to_us.is_none_or(|to| entry.occurred_at_us < to)
}

async fn audit_page(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let org_id = access.scope.org_id();
    let (entries, verdict) = read_and_verify_chain(state.store.as_ref(), org_id).await?;
    let (chain_ok, chain_status) = match verdict {
        Ok(()) => (true, format!("Chain verified: all {} entries are intact and in order.", entries.len())),
        Err(broken) => (false, format!("Chain verification FAILED: {broken}")),
    };
    let from_us = day_start_us(&query.from);
    let to_us = day_start_us(&query.to).map(|start| start.saturating_add(86_400 * 1_000_000));
    let mut selected: Vec<&Entry> = entries
        .iter()
        .rev()
        .filter(|entry| query.before.is_none_or(|before| entry.seq < before))
        .filter(|entry| matches(entry, &query, from_us, to_us))
        .take(PAGE_SIZE + 1)
        .collect();
    let more = selected.len() > PAGE_SIZE;
    selected.truncate(PAGE_SIZE);
    let older = more.then(|| selected.last().map(|entry| entry.seq)).flatten().map(|seq| {
        let encode = |raw: &str| url::form_urlencoded::byte_serialize(raw.as_bytes()).collect::<String>();
        format!(
            "/orgs/{org_id}/audit?action={}&outcome={}&actor={}&from={}&to={}&before={seq}",
            encode(&query.action),
            encode(&query.outcome),
            encode(&query.actor),
            encode(&query.from),
            encode(&query.to)
        )
    });
    let rows = selected
        .into_iter()
        .map(|entry| EntryRow {
            seq: entry.seq,
            when: when_us(entry.occurred_at_us),
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            target: entry.target.clone().unwrap_or_default(),
            outcome: entry.outcome.as_str(),
            outcome_class: match entry.outcome {
                Outcome::Success => "good",
                Outcome::Failure | Outcome::Denied => "bad",
            },
            detail: entry.detail.clone().unwrap_or_default(),
        })
        .collect();
    html(&AuditPage {
        nav: Some(Nav::load(&state, &principal, Some(org_id), "audit").await?),
        org_id,
        chain_ok,
        chain_status,
        actions: AuditAction::ALL.iter().map(|action| action.as_str()).collect(),
        filter_action: query.action,
        filter_outcome: query.outcome,
        filter_actor: query.actor,
        filter_from: query.from,
        filter_to: query.to,
        entries: rows,
        older,
    })
}
