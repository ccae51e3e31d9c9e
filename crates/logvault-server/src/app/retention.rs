//! The retention purge as the server and the command line run it: each organisation's expired blocks and
//! measurements removed by `Store::purge_expired`, each purge that removed something recorded as a `retention.purge`
//! audit entry. Audit entries themselves are never purged.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use logvault_core::audit::{AuditAction, NewEntry, Outcome};
use logvault_store::{OrgScope, Organisation, PurgeReport, Store};
use tokio::task::JoinHandle;

/// How often the server's background job purges.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3_600);

/// Purges every organisation (or only `only`), as `actor`, at `now_s`; returns what was removed per organisation.
pub async fn purge(
    store: &dyn Store,
    only: Option<&Organisation>,
    actor: &str,
    now_s: i64,
) -> anyhow::Result<Vec<(Organisation, PurgeReport)>> {
    let organisations = match only {
        Some(organisation) => vec![organisation.clone()],
        None => store.list_organisations().await.context("could not list the organisations")?,
    };
    let mut reports = Vec::with_capacity(organisations.len());
    for organisation in organisations {
        let scope = OrgScope::for_operator(organisation.id);
        let report = store.purge_expired(&scope, now_s).await.context("the retention purge failed")?;
        if !report.devices.is_empty() {
            // Whatever was removed, the audit log keeps the record (the purge table inside the database as well).
            let detail = format!(
                "cutoff_s:{} devices:{} blocks:{} measurements:{}",
                report.cutoff_s.unwrap_or_default(),
                report.devices.len(),
                report.blocks_removed(),
                report.measurements_removed()
            );
            store
                .append_audit(NewEntry {
                    chain_id: organisation.id,
                    occurred_at_us: now_s.saturating_mul(1_000_000),
                    actor: actor.to_owned(),
                    action: AuditAction::RetentionPurge.into(),
                    target: None,
                    outcome: Outcome::Success,
                    request_id: None,
                    detail: Some(detail),
                })
                .await
                .context("could not record the retention purge in the audit log")?;
        }
        reports.push((organisation, report));
    }
    Ok(reports)
}

/// Starts the hourly purge of every organisation; abort the handle to stop it.
pub fn spawn_purge_job(store: Arc<dyn Store>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(PURGE_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now_s = time::OffsetDateTime::now_utc().unix_timestamp();
            match purge(store.as_ref(), None, "system:retention", now_s).await {
                Ok(reports) => {
                    let blocks: u64 = reports.iter().map(|(_, r)| r.blocks_removed()).sum();
                    if blocks > 0 {
                        tracing::info!(blocks, "retention purge removed expired blocks");
                    }
                }
                Err(err) => tracing::error!(error = format!("{err:#}"), "retention purge failed"),
            }
        }
    })
}
