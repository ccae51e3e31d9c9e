//! Sign-in, sign-out and "who am I": `/api/v1/auth/login`, `/api/v1/auth/logout`, `/api/v1/me`.
//!
//! The sign-in itself is `crate::app::sign_in`, which the sign-in page calls too.

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logvault_core::audit::{AuditAction, INSTANCE_CHAIN, NewEntry, Outcome};
use logvault_core::password;
use logvault_store::{Membership, User};
use serde::{Deserialize, Serialize};

use crate::app::sign_in;
use crate::auth::{self, Principal, now_us};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::middleware::RequestId;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::POST,
            "/api/v1/auth/login",
            Access::Public,
            Doc::new("Sign in with email and password")
                .description("Sets the session cookie; with a second factor enrolled, the session owes it first.")
                .request_json::<LoginRequest>()
                .response_json::<LoginResponse>(200, "signed in, or a second factor is owed (`mfa_required`)")
                .error(401, "wrong email or password, or a disabled or locked account (one answer for all)")
                .error(429, "too many failed sign-ins from this address"),
            login,
        )
        .add(
            Method::POST,
            "/api/v1/auth/logout",
            Access::AnySession,
            Doc::new("Sign out").response_empty(204, "the session is revoked and its cookie cleared"),
            logout,
        )
        .add(
            Method::GET,
            "/api/v1/me",
            Access::Authenticated,
            Doc::new("Who am I").response_json::<MeResponse>(200, "the caller, their memberships and CSRF token"),
            me,
        )
        .add(
            Method::POST,
            "/api/v1/me/password",
            Access::Session,
            Doc::new("Change the password")
                .description("Every other session of the user is signed out.")
                .request_json::<PasswordChange>()
                .response_empty(204, "changed")
                .error(401, "the current password is wrong"),
            change_password,
        )
        .add(
            Method::GET,
            "/api/v1/me/sessions",
            Access::Session,
            Doc::new("List my sessions").response_list::<SessionView>(200, "the caller's live sessions"),
            list_sessions,
        )
        .add(
            Method::DELETE,
            "/api/v1/me/sessions",
            Access::Session,
            Doc::new("Sign out everywhere else").response_empty(204, "every other session is revoked"),
            revoke_other_sessions,
        )
        .add(
            Method::DELETE,
            "/api/v1/me/sessions/{session_id}",
            Access::Session,
            Doc::new("Revoke one of my sessions").response_empty(204, "revoked"),
            revoke_session,
        )
}

/// The sign-in body. No `Debug`: it holds a password.
#[derive(Deserialize, utoipa::ToSchema)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LoginResponse {
    mfa_required: bool,
    /// An organisation of the user requires a second factor they do not have yet: enrol before anything else.
    mfa_enrolment_required: bool,
    csrf_token: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MeResponse {
    user: User,
    memberships: Vec<Membership>,
    /// Absent for an API token.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
    /// Whether the user has a confirmed second factor.
    second_factor: bool,
    /// An organisation of the user requires a second factor and they have none: they must enrol.
    mfa_enrolment_required: bool,
}

/// One of the user's sessions, as they see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SessionView {
    id: i64,
    created_at_us: i64,
    last_seen_us: i64,
    expires_at_us: i64,
    current: bool,
}

async fn login(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let client = auth::client_addr(peer.ip(), &headers, &state.trusted_proxies);
    let accepted =
        sign_in::with_password(&state, client, &body.email, body.password, request_id.map(|id| id.0.0)).await?;
    let (cookie, csrf_token) = accepted.session;
    let body = LoginResponse {
        mfa_required: accepted.mfa_required,
        mfa_enrolment_required: accepted.mfa_enrolment_required,
        csrf_token,
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn logout(
    State(state): State<AppState>,
    session: auth::AnySession,
    request_id: Option<axum::Extension<RequestId>>,
) -> Result<Response, ApiError> {
    sign_in::sign_out(&state, session.session_id, session.user_id, request_id.map(|id| id.0.0)).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_static(auth::CLEARED_SESSION_COOKIE));
    Ok(response)
}

async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<MeResponse>, ApiError> {
    let mut memberships = state.store.memberships(principal.user.id).await?;
    // An API token sees only its own organisation.
    if let auth::Via::ApiToken(token) = &principal.via {
        memberships.retain(|m| m.organisation.id == token.org_id);
    }
    let csrf_token = principal.csrf_token(&state);
    let second_factor = auth::has_second_factor(&state, principal.user.id).await?;
    let mfa_enrolment_required = !second_factor && state.store.user_requires_mfa(principal.user.id).await?;
    Ok(Json(MeResponse { user: principal.user, memberships, csrf_token, second_factor, mfa_enrolment_required }))
}

/// A password change. No `Debug`: it holds two passwords.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Changes the password after checking the current one, under the same policy as a new account (the minimum length
/// depends on whether the user has a second factor); every other session of the user is signed out.
async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    crate::auth::reauthenticate(&state, &principal, body.current_password).await?;
    let second_factor = auth::has_second_factor(&state, principal.user.id).await?;
    let memberships = state.store.memberships(principal.user.id).await?;
    let user = &principal.user;
    let mut context = vec![user.email.as_str(), user.email.local_part(), user.name.as_str()];
    context.extend(memberships.iter().map(|m| m.organisation.name.as_str()));
    password::check_new_password(&body.new_password, &context, second_factor)
        .map_err(|reason| ApiError::Unprocessable(reason.to_string()))?;
    let new_password = body.new_password;
    let hash = auth::with_argon2_permit(&state, move || password::hash_password(&new_password)).await?;
    let hash = hash.map_err(|err| ApiError::Internal(err.into()))?;
    state.store.set_password_hash(principal.user.id, hash.as_str()).await?;
    let revoked = state.store.revoke_other_sessions(principal.user.id, principal.session_id()).await?;
    auth::record(
        &state,
        NewEntry {
            chain_id: INSTANCE_CHAIN,
            occurred_at_us: now_us(),
            actor: principal.actor(),
            action: AuditAction::AuthPasswordChange.into(),
            target: Some(format!("user:{}", principal.user.id)),
            outcome: Outcome::Success,
            request_id: principal.request_id.clone(),
            detail: Some(format!("other-sessions-revoked:{revoked}")),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let current = principal.session_id();
    let sessions = sign_in::live_sessions(&state, &principal).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                id: s.id,
                created_at_us: s.created_at_us,
                last_seen_us: s.last_seen_us,
                expires_at_us: s.expires_at_us,
                current: Some(s.id) == current,
            })
            .collect(),
    ))
}

/// Revokes one of the caller's own sessions (another user's session id is simply not found).
async fn revoke_session(
    State(state): State<AppState>,
    principal: Principal,
    Path(session_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    sign_in::revoke_own_session(&state, &principal, session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every session of the caller except the current one ("sign out everywhere else").
async fn revoke_other_sessions(State(state): State<AppState>, principal: Principal) -> Result<StatusCode, ApiError> {
    sign_in::revoke_other_sessions(&state, &principal).await?;
    Ok(StatusCode::NO_CONTENT)
}
