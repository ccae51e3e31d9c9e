//! Organisation resources: the organisation and its policy, its retention, its member list and its audit log.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::Method;
use logvault_core::audit::{AuditAction, Entry, Outcome};
use logvault_core::authz::Permission;
use logvault_core::retention::Retention;
use logvault_store::{Member, Organisation, Site};
use serde::{Deserialize, Serialize};

use crate::app::audit::org_event;
use crate::auth::{self, OrgAccess, Principal, now_us};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/api/v1/orgs/{org_id}",
            Access::Org(Permission::ReadOrganisation),
            Doc::new("Show the organisation").response_json::<OrganisationView>(200, "the organisation and its policy"),
            organisation,
        )
        .add(
            Method::PATCH,
            "/api/v1/orgs/{org_id}",
            Access::Org(Permission::ManageOrganisation),
            Doc::new("Change the organisation's policy")
                .request_json::<PolicyUpdate>()
                .response_json::<OrganisationView>(200, "the organisation as it is now")
                .error(422, "requiring a second factor the caller does not have"),
            update_policy,
        )
        .add(
            Method::GET,
            "/api/v1/orgs/{org_id}/members",
            Access::Org(Permission::ReadOrganisation),
            Doc::new("List the members").response_list::<Member>(200, "the members with their roles"),
            members,
        )
        .add(
            Method::GET,
            "/api/v1/orgs/{org_id}/sites",
            Access::Org(Permission::ReadOrganisation),
            Doc::new("List the sites").response_list::<Site>(200, "the sites (a site-scoped member sees their own)"),
            sites,
        )
        .add(
            Method::POST,
            "/api/v1/orgs/{org_id}/sites",
            Access::Org(Permission::ManageOrganisation),
            Doc::new("Create a site")
                .request_json::<NewSite>()
                .response_json::<Site>(201, "the new site")
                .error(409, "a site of this name exists"),
            create_site,
        )
        .add(
            Method::GET,
            "/api/v1/orgs/{org_id}/audit",
            Access::Org(Permission::ReadAuditLog),
            Doc::new("Read the audit log")
                .query::<AuditPage>()
                .response_json::<AuditPageView>(200, "a page of the hash-chained audit log")
                .error(422, "a limit outside 1–500, a negative `after`, or an unknown outcome"),
            audit,
        )
        .add(
            Method::GET,
            "/api/v1/orgs/{org_id}/retention",
            Access::Org(Permission::ReadOrganisation),
            Doc::new("Show the retention").response_json::<RetentionView>(200, "days of measurements kept, or null"),
            retention,
        )
        .add(
            Method::PUT,
            "/api/v1/orgs/{org_id}/retention",
            Access::Org(Permission::ManageOrganisation),
            Doc::new("Set the retention")
                .request_json::<RetentionView>()
                .response_json::<RetentionView>(200, "the retention now in force")
                .error(422, "fewer than 731 days (two years), or more than 100 years"),
            set_retention,
        )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct OrganisationView {
    #[serde(flatten)]
    organisation: Organisation,
    require_mfa: bool,
    /// The caller's role here.
    role: logvault_core::authz::Role,
}

async fn organisation(State(state): State<AppState>, access: OrgAccess) -> Result<Json<OrganisationView>, ApiError> {
    let organisation = state.store.organisation(&access.scope).await?;
    let require_mfa = state.store.require_mfa(&access.scope).await?;
    Ok(Json(OrganisationView { organisation, require_mfa, role: access.role }))
}

/// The organisation's policy. Only the fields given change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PolicyUpdate {
    require_mfa: Option<bool>,
}

async fn update_policy(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiJson(body): ApiJson<PolicyUpdate>,
) -> Result<Json<OrganisationView>, ApiError> {
    if let Some(require_mfa) = body.require_mfa {
        // Requiring a second factor one does not have would lock the caller out of their own organisation.
        if require_mfa && !auth::has_second_factor(&state, principal.user.id).await? {
            return Err(ApiError::Unprocessable(
                "enrol a second factor yourself before requiring one of every member".to_owned(),
            ));
        }
        state.store.set_require_mfa(&access.scope, require_mfa).await?;
        org_event(
            &state,
            &principal,
            &access,
            AuditAction::OrgPolicyChange,
            None,
            Some(format!("require_mfa:{require_mfa}")),
        )
        .await?;
    }
    organisation(State(state), access).await
}

async fn members(State(state): State<AppState>, access: OrgAccess) -> Result<Json<Vec<Member>>, ApiError> {
    Ok(Json(state.store.members(&access.scope).await?))
}

/// The organisation's sites (a site-scoped member sees their own only).
async fn sites(State(state): State<AppState>, access: OrgAccess) -> Result<Json<Vec<Site>>, ApiError> {
    Ok(Json(state.store.sites(&access.scope).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSite {
    name: String,
}

async fn create_site(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiJson(body): ApiJson<NewSite>,
) -> Result<(axum::http::StatusCode, Json<Site>), ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable("a site name is 1 to 100 printable characters".to_owned()));
    }
    let site = state.store.create_site(&access.scope, name, now_us()).await?;
    org_event(&state, &principal, &access, AuditAction::SiteCreate, Some(format!("site:{}", site.id)), None).await?;
    Ok((axum::http::StatusCode::CREATED, Json(site)))
}

/// The organisation's retention: `days` of measurements kept, `null` for indefinitely (the default).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RetentionView {
    days: Option<i64>,
}

async fn retention(State(state): State<AppState>, access: OrgAccess) -> Result<Json<RetentionView>, ApiError> {
    let retention = state.store.retention(&access.scope).await?;
    Ok(Json(RetentionView { days: retention.map(Retention::days) }))
}

async fn set_retention(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiJson(body): ApiJson<RetentionView>,
) -> Result<Json<RetentionView>, ApiError> {
    let retention =
        body.days.map(Retention::from_days).transpose().map_err(|err| ApiError::Unprocessable(err.to_string()))?;
    state.store.set_retention(&access.scope, retention).await?;
    let detail = match retention {
        Some(retention) => format!("days:{}", retention.days()),
        None => "days:indefinite".to_owned(),
    };
    org_event(&state, &principal, &access, AuditAction::RetentionSet, None, Some(detail)).await?;
    Ok(Json(RetentionView { days: retention.map(Retention::days) }))
}

/// Paging of the audit log: entries after sequence number `after`, at most `limit` (1–500, default 100),
/// optionally only one `action` or one `outcome`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditPage {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
    action: Option<String>,
    outcome: Option<String>,
}

fn default_limit() -> i64 {
    100
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AuditPageView {
    entries: Vec<Entry>,
    /// Pass as `after` for the next page; absent at the end of the log.
    next_after: Option<i64>,
}

async fn audit(
    State(state): State<AppState>,
    access: OrgAccess,
    Query(page): Query<AuditPage>,
) -> Result<Json<AuditPageView>, ApiError> {
    if !(1..=500).contains(&page.limit) || page.after < 0 {
        return Err(ApiError::Unprocessable("limit must be 1 to 500 and after must not be negative".to_owned()));
    }
    let outcome = match page.outcome.as_deref() {
        Some(raw) => Some(
            Outcome::parse(raw)
                .ok_or_else(|| ApiError::Unprocessable("outcome must be success, failure or denied".to_owned()))?,
        ),
        None => None,
    };
    // Filters apply to the page read (scanned in chain order), so a filtered page may hold fewer than `limit`
    // entries; `next_after` still moves through the whole chain.
    let batch = state.store.audit_entries(access.scope.org_id(), page.after, page.limit).await?;
    let next_after = (batch.len() == usize::try_from(page.limit).unwrap_or(usize::MAX))
        .then(|| batch.last().map(|entry| entry.seq))
        .flatten();
    let entries = batch
        .into_iter()
        .filter(|entry| page.action.as_deref().is_none_or(|action| entry.action == action))
        .filter(|entry| outcome.is_none_or(|outcome| entry.outcome == outcome))
        .collect();
    Ok(Json(AuditPageView { entries, next_after }))
}
