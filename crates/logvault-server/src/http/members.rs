//! Membership management: changing roles, removing members, and invitations by email (single-use, expiring links).
//!
//! Who may do what follows `authz::may_assign` / `may_remove` (an admin never touches an owner), and the store keeps
//! at least one owner in the same transaction as the change. Because every organisation request looks the membership
//! up afresh, a removal or role change takes effect on the member's very next request.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use logvault_core::Email;
use logvault_core::audit::AuditAction;
use logvault_core::authz::{self, Permission, Role};
use logvault_store::{Invitation, Member, StoreError};
use serde::{Deserialize, Serialize};

use crate::app::audit::org_event;
use crate::app::invitations;
use crate::auth::{self, OrgAccess, Principal, now_us};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::middleware::RequestId;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    let manage = Access::Org(Permission::ManageMembers);
    Routes::new()
        .add(
            Method::PATCH,
            "/api/v1/orgs/{org_id}/members/{user_id}",
            manage,
            Doc::new("Change a member's role")
                .request_json::<RoleChange>()
                .response_json::<Member>(200, "the member as they are now")
                .error(403, "the caller's role may not give or take this role (an admin and an owner)")
                .error(409, "the organisation would have no owner left"),
            change_role,
        )
        .add(
            Method::DELETE,
            "/api/v1/orgs/{org_id}/members/{user_id}",
            manage,
            Doc::new("Remove a member")
                .response_empty(204, "removed")
                .error(403, "the caller's role may not remove this member")
                .error(409, "the organisation would have no owner left"),
            remove_member,
        )
        .add(
            Method::PUT,
            "/api/v1/orgs/{org_id}/members/{user_id}/site",
            manage,
            Doc::new("Scope a membership to one site, or to the whole organisation")
                .request_json::<SiteScope>()
                .response_json::<Member>(200, "the member as they are now")
                .error(403, "the caller's role may not change this member")
                .error(422, "no such site, or an owner or admin (never site-scoped)"),
            set_site,
        )
        .add(
            Method::GET,
            "/api/v1/orgs/{org_id}/invitations",
            manage,
            Doc::new("List pending invitations").response_list::<Invitation>(200, "the pending invitations"),
            list_invitations,
        )
        .add(
            Method::POST,
            "/api/v1/orgs/{org_id}/invitations",
            manage,
            Doc::new("Invite someone by email")
                .description("The link is emailed; without SMTP configured, it is returned in `link` instead.")
                .request_json::<InvitationRequest>()
                .response_json::<InvitationCreated>(201, "the invitation")
                .error(403, "the caller's role may not give this role")
                .error(409, "a pending invitation for this address exists"),
            invite,
        )
        .add(
            Method::DELETE,
            "/api/v1/orgs/{org_id}/invitations/{invitation_id}",
            manage,
            Doc::new("Revoke an invitation")
                .response_empty(204, "revoked")
                .error(403, "the caller's role may not give the invited role"),
            revoke_invitation,
        )
        .add(
            Method::POST,
            "/api/v1/invitations/accept",
            Access::Public,
            Doc::new("Accept an invitation")
                .description("A new account needs a name (a password is optional); an existing one must be signed in.")
                .request_json::<AcceptRequest>()
                .response_json::<Accepted>(200, "the membership now held")
                .error(422, "the link is wrong, used, revoked or expired, or the account details are not acceptable"),
            accept,
        )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: Role,
}

async fn change_role(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    Path((_, user_id)): Path<(i64, i64)>,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<Json<Member>, ApiError> {
    let member = state.store.member(&access.scope, user_id).await?;
    if !authz::may_assign(access.role, Some(member.role), body.role) {
        return Err(denied(&state, &principal, &access, AuditAction::MemberRoleChange, user_id).await);
    }
    if member.role != body.role {
        state.store.change_role(&access.scope, user_id, member.role, body.role).await?;
        let detail = format!("from:{};to:{}", member.role, body.role);
        org_event(
            &state,
            &principal,
            &access,
            AuditAction::MemberRoleChange,
            Some(format!("user:{user_id}")),
            Some(detail),
        )
        .await?;
    }
    Ok(Json(state.store.member(&access.scope, user_id).await?))
}

async fn remove_member(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    Path((_, user_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    let member = state.store.member(&access.scope, user_id).await?;
    if !authz::may_remove(access.role, member.role) {
        return Err(denied(&state, &principal, &access, AuditAction::MemberRemove, user_id).await);
    }
    state.store.remove_member(&access.scope, user_id, member.role).await?;
    let detail = format!("role:{}", member.role);
    org_event(&state, &principal, &access, AuditAction::MemberRemove, Some(format!("user:{user_id}")), Some(detail))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"site_id": id}` scopes the membership to one site; `{"site_id": null}` to the whole organisation again.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SiteScope {
    site_id: Option<i64>,
}

async fn set_site(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    Path((_, user_id)): Path<(i64, i64)>,
    ApiJson(body): ApiJson<SiteScope>,
) -> Result<Json<Member>, ApiError> {
    let member = state.store.member(&access.scope, user_id).await?;
    if !authz::may_assign(access.role, Some(member.role), member.role) {
        return Err(denied(&state, &principal, &access, AuditAction::MemberSiteChange, user_id).await);
    }
    match state.store.set_member_site(&access.scope, user_id, body.site_id).await {
        Ok(()) => {}
        Err(StoreError::NotFound { entity: "site" }) => {
            return Err(ApiError::Unprocessable("no such site in this organisation".to_owned()));
        }
        Err(StoreError::Conflict { .. }) => {
            return Err(ApiError::Unprocessable("owners and admins are never scoped to a site".to_owned()));
        }
        Err(err) => return Err(err.into()),
    }
    let detail = body.site_id.map_or_else(|| "site:all".to_owned(), |site| format!("site:{site}"));
    org_event(
        &state,
        &principal,
        &access,
        AuditAction::MemberSiteChange,
        Some(format!("user:{user_id}")),
        Some(detail),
    )
    .await?;
    Ok(Json(state.store.member(&access.scope, user_id).await?))
}

/// Records and returns the refusal of a membership change the caller's role does not allow (an admin and an owner).
async fn denied(
    state: &AppState,
    principal: &Principal,
    access: &OrgAccess,
    action: AuditAction,
    user_id: i64,
) -> ApiError {
    let entry = auth::denial(
        access.scope.org_id(),
        principal.actor(),
        format!("user:{user_id}"),
        principal.request_id.clone(),
        &format!("{action};role:{}", access.role),
    );
    match auth::record(state, entry).await {
        Ok(()) => ApiError::Forbidden,
        Err(err) => err,
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct InvitationRequest {
    email: String,
    role: Role,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct InvitationCreated {
    #[serde(flatten)]
    invitation: Invitation,
    /// Whether the link went out by email. When the server has no SMTP configured, `link` carries it instead, for the
    /// inviter to pass on.
    emailed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
}

async fn invite(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiJson(body): ApiJson<InvitationRequest>,
) -> Result<(StatusCode, Json<InvitationCreated>), ApiError> {
    let email = Email::parse(&body.email).map_err(|err| ApiError::Unprocessable(err.to_string()))?;
    if !authz::may_assign(access.role, None, body.role) {
        return Err(denied(&state, &principal, &access, AuditAction::InvitationCreate, 0).await);
    }
    let invitations::Invited { invitation, emailed, link } =
        invitations::invite(&state, &principal, &access, email, body.role).await?;
    Ok((StatusCode::CREATED, Json(InvitationCreated { invitation, emailed, link })))
}

async fn list_invitations(State(state): State<AppState>, access: OrgAccess) -> Result<Json<Vec<Invitation>>, ApiError> {
    Ok(Json(state.store.invitations(&access.scope, now_us()).await?))
}

async fn revoke_invitation(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    Path((_, invitation_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    // Revoking is granting in reverse: an admin cannot revoke an invitation to the owner role.
    let pending = state.store.invitations(&access.scope, now_us()).await?;
    let invitation = pending.iter().find(|i| i.id == invitation_id).ok_or(ApiError::NotFound)?;
    if !authz::may_assign(access.role, None, invitation.role) {
        return Err(denied(&state, &principal, &access, AuditAction::InvitationRevoke, 0).await);
    }
    let revoked = state.store.revoke_invitation(&access.scope, invitation_id).await?;
    let detail = format!("role:{};invitation:{}", revoked.role, revoked.id);
    org_event(&state, &principal, &access, AuditAction::InvitationRevoke, None, Some(detail)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepting an invitation. For a new account, a name is needed and a password optional (without one, the account
/// signs in by email code), checked like any new password. An existing account accepts only when signed in as
/// itself — holding the link proves nothing about the account — except through the operator's setup link, which may
/// also give the bootstrap owner their first password. No `Debug`: it holds the token and a password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AcceptRequest {
    token: String,
    name: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = InvitationAccepted)]
struct Accepted {
    org_id: i64,
    role: Role,
    user_id: i64,
    created_account: bool,
}

async fn accept(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    principal: Option<Principal>,
    ApiJson(body): ApiJson<AcceptRequest>,
) -> Result<Json<Accepted>, ApiError> {
    let request_id = request_id.map(|id| id.0.0);
    let accepted =
        invitations::accept(&state, principal.as_ref(), request_id, &body.token, body.name.as_deref(), body.password)
            .await?;
    Ok(Json(Accepted {
        org_id: accepted.org_id,
        role: accepted.role,
        user_id: accepted.user_id,
        created_account: accepted.created_account,
    }))
}
