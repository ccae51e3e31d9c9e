//! API tokens for scripts and integrations: `lv_…`, shown once, stored as SHA-256, scoped to one organisation and a
//! role whose permissions are all the creator's, expiring (at most a year), revocable. Used as
//! `Authorization: Bearer lv_…`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use logvault_core::audit::AuditAction;
use logvault_core::authz::{Permission, Role};
use logvault_store::ApiToken;
use serde::{Deserialize, Serialize};

use crate::app::audit::org_event;
use crate::app::tokens::{check_request, mint};
use crate::auth::{OrgAccess, Principal};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    let manage = Access::Org(Permission::ManageApiTokens);
    Routes::new()
        .add(
            Method::GET,
            "/api/v1/orgs/{org_id}/tokens",
            manage,
            Doc::new("List API tokens")
                .response_list::<ApiToken>(200, "all tokens for owners and admins, else one's own"),
            list,
        )
        .add(
            Method::POST,
            "/api/v1/orgs/{org_id}/tokens",
            manage,
            Doc::new("Create an API token")
                .description("The secret is returned this once. Only from a session: a token cannot mint tokens.")
                .request_json::<TokenRequest>()
                .response_json::<TokenCreated>(201, "the token and its secret")
                .error(403, "an API token (`session-required`)")
                .error(422, "a bad name, a lifetime outside 1–365 days, or a role beyond the creator's"),
            create,
        )
        .add(
            Method::DELETE,
            "/api/v1/orgs/{org_id}/tokens/{token_id}",
            manage,
            Doc::new("Revoke an API token").response_empty(204, "revoked"),
            revoke,
        )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    name: String,
    /// Defaults to the creator's role.
    role: Option<Role>,
    /// Days until it expires (1 to 365; default 90).
    expires_days: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenCreated {
    #[serde(flatten)]
    token: ApiToken,
    /// The token itself. Shown this once; only its hash is stored.
    secret: String,
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    // A token cannot mint tokens: a leaked one must not be able to outlive its own revocation.
    if principal.session_id().is_none() {
        return Err(ApiError::SessionRequired);
    }
    let (name, role, days) =
        check_request(access.role, &body.name, body.role, body.expires_days).map_err(ApiError::Unprocessable)?;
    let (secret, record) = mint(principal.user.id, name, role, days).map_err(|err| ApiError::Internal(err.into()))?;
    let token = state.store.create_api_token(&access.scope, record).await?;
    let detail = format!("role:{role};days:{days}");
    org_event(&state, &principal, &access, AuditAction::TokenCreate, Some(format!("token:{}", token.id)), Some(detail))
        .await?;
    Ok((StatusCode::CREATED, Json(TokenCreated { token, secret: secret.expose().to_owned() })))
}

/// Owners and admins see every token of the organisation; others see their own.
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    let sees_all = access.role.allows(Permission::ManageMembers);
    let tokens = state.store.api_tokens(&access.scope).await?;
    Ok(Json(tokens.into_iter().filter(|t| sees_all || t.user_id == principal.user.id).collect()))
}

async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    Path((_, token_id)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    let sees_all = access.role.allows(Permission::ManageMembers);
    let owned = state.store.api_tokens(&access.scope).await?.into_iter().find(|t| t.id == token_id);
    match owned {
        Some(token) if sees_all || token.user_id == principal.user.id => {}
        _ => return Err(ApiError::NotFound),
    }
    state.store.revoke_api_token(&access.scope, token_id).await?;
    org_event(&state, &principal, &access, AuditAction::TokenRevoke, Some(format!("token:{token_id}")), None).await?;
    Ok(StatusCode::NO_CONTENT)
}
