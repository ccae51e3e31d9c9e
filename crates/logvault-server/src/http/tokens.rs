//! API tokens for scripts and integrations: `lv_…`, shown once, stored as SHA-256, scoped to one organisation and a
//! role whose permissions are all the creator's, expiring (at most a year), revocable. Used as
//! `Authorization: Bearer lv_…`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use logvault_core::authz::{self, Permission, Role};
use logvault_core::token;
use logvault_store::{ApiToken, NewApiToken};
use serde::{Deserialize, Serialize};

use crate::auth::{API_TOKEN_PREFIX, OrgAccess, Principal, now_us};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::orgs::org_event;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

/// Lifetime of a token when none is asked for, and the longest allowed.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;
pub const MAX_TOKEN_DAYS: u32 = 365;
const DAY_US: i64 = 24 * 60 * 60 * 1_000_000;

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

/// Validates a token request against the creator's role: the name, the lifetime, and a role all of whose
/// permissions the creator has. Shared with `logvault token create`.
pub fn check_request(
    creator: Role,
    name: &str,
    role: Option<Role>,
    expires_days: Option<u32>,
) -> Result<(String, Role, u32), String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("the token name must be 1 to 100 printable characters".to_owned());
    }
    let role = role.unwrap_or(creator);
    if !authz::max_token_role(creator, role) {
        return Err(format!("a {creator} cannot create a token with the role {role}"));
    }
    let days = expires_days.unwrap_or(DEFAULT_TOKEN_DAYS);
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(format!("expiry must be 1 to {MAX_TOKEN_DAYS} days"));
    }
    Ok((name.to_owned(), role, days))
}

/// Mints a token: the secret (returned once) and the record to store.
pub fn mint(user_id: i64, name: String, role: Role, days: u32) -> Result<(token::SecretToken, NewApiToken), ApiError> {
    let secret = token::SecretToken::generate(API_TOKEN_PREFIX).map_err(|err| ApiError::Internal(err.into()))?;
    let now = now_us();
    let record = NewApiToken {
        user_id,
        name,
        role,
        token_hash: secret.digest(),
        now_us: now,
        expires_at_us: now.saturating_add(i64::from(days) * DAY_US),
    };
    Ok((secret, record))
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
    let (secret, record) = mint(principal.user.id, name, role, days)?;
    let token = state.store.create_api_token(&access.scope, record).await?;
    let detail = format!("role:{role};days:{days}");
    org_event(&state, &principal, &access, "token.create", Some(format!("token:{}", token.id)), Some(detail)).await?;
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
    org_event(&state, &principal, &access, "token.revoke", Some(format!("token:{token_id}")), None).await?;
    Ok(StatusCode::NO_CONTENT)
}
