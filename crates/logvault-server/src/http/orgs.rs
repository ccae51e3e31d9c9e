//! Organisation resources: members and the audit log.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use logvault_core::audit::Entry;
use logvault_core::authz::Permission;
use logvault_store::Member;
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/orgs/{org_id}/members", get(members)).route("/api/v1/orgs/{org_id}/audit", get(audit))
}

async fn members(
    State(state): State<AppState>,
    principal: Principal,
    Path(org_id): Path<i64>,
) -> Result<Json<Vec<Member>>, ApiError> {
    let scope = principal.scope(&state, org_id, Permission::ReadOrganisation).await?;
    Ok(Json(state.store.members(&scope).await?))
}

/// Paging of the audit log: entries after sequence number `after`, at most `limit` (1–500, default 100).
#[derive(Debug, Deserialize)]
struct AuditPage {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    Path(org_id): Path<i64>,
    Query(page): Query<AuditPage>,
) -> Result<Json<Vec<Entry>>, ApiError> {
    let scope = principal.scope(&state, org_id, Permission::ReadAuditLog).await?;
    if !(1..=500).contains(&page.limit) || page.after < 0 {
        return Err(ApiError::Unprocessable("limit must be 1 to 500 and after must not be negative".to_owned()));
    }
    Ok(Json(state.store.audit_entries(scope.org_id(), page.after, page.limit).await?))
}
