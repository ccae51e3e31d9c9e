//! Sign-in, sign-out and "who am I": `/api/v1/auth/login`, `/api/v1/auth/logout`, `/api/v1/me`.
//!
//! Unknown address, wrong password and disabled account give the same 401 body, and each does one Argon2
//! verification (against a dummy hash when there is no usable one), so neither the answer nor its timing tells
//! whether an account exists.

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logvault_core::Email;
use logvault_core::audit::{AuditAction, INSTANCE_CHAIN, NewEntry, Outcome};
use logvault_core::password::{self, PasswordHash, Verification};
use logvault_core::throttle::FailureEffect;
use logvault_store::{Membership, StoreError, User};
use serde::{Deserialize, Serialize};

use crate::app::audit::{lockout_detail, lockout_event, sign_in_event};
use crate::app::sign_in::notify_lockout;
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
    let request_id = request_id.map(|id| id.0.0);
    let now = now_us();

    // Every attempt first takes a failure from its address's allowance and its account's counters, atomically;
    // a success gives them back. Concurrent attempts therefore cannot slip past either limit.
    let client = auth::client_addr(peer.ip(), &headers, &state.trusted_proxies);
    let client_key = auth::client_key(client, &state.ip_log_salt);
    let bucket = match state.store.begin_client_attempt(&client_key, now).await? {
        Ok(bucket) => bucket,
        Err(retry_after_secs) => return Err(ApiError::TooManyRequests { retry_after_secs }),
    };

    let credentials = match Email::parse(&body.email) {
        Ok(email) => match state.store.user_credentials(&email).await {
            Ok(credentials) => Some(credentials),
            Err(StoreError::NotFound { .. }) => None,
            Err(err) => return Err(err.into()),
        },
        Err(_) => None,
    };
    let target = credentials.as_ref().map_or_else(|| "user:unknown".to_owned(), |c| format!("user:{}", c.user.id));
    let account = match &credentials {
        Some(c) => Some(state.store.begin_sign_in_attempt(c.user.id, now).await?),
        None => None,
    };
    let locked = matches!(account, Some(None));

    let outcome = if locked {
        // No Argon2 work for a locked account, but the same wait (measured at start), so the refusal looks like any
        // wrong password.
        tokio::time::sleep(std::time::Duration::from_micros(state.password_verify_us)).await;
        SignIn::Refused { detail: "factor:password;locked" }
    } else {
        // A stored hash that does not parse is treated like a missing one, and an over-long password like a wrong
        // one: either way one dummy verification keeps the timing.
        let usable = credentials.as_ref().filter(|c| !c.user.disabled).and_then(|c| {
            c.password_hash.as_deref().and_then(|h| PasswordHash::parse(h).ok()).map(|h| (c.user.clone(), h))
        });
        let password = body.password;
        let acceptable_length = password.chars().count() <= password::MAX_LENGTH;
        let started = std::time::Instant::now();
        let outcome = match usable.filter(|_| acceptable_length) {
            Some((user, hash)) => {
                let (verification, rehashed) = auth::with_argon2_permit(&state, move || {
                    let verification = password::verify_password(&password, &hash);
                    // Upgrade an outdated hash while the password is at hand.
                    let rehashed = match verification {
                        Verification::Valid { needs_rehash: true } => password::hash_password(&password).ok(),
                        _ => None,
                    };
                    (verification, rehashed)
                })
                .await?;
                if let Some(rehashed) = rehashed {
                    state.store.set_password_hash(user.id, rehashed.as_str()).await?;
                }
                match verification {
                    Verification::Valid { .. } => SignIn::Accepted(user),
                    Verification::Invalid => SignIn::Refused { detail: "factor:password" },
                }
            }
            None => {
                let stand_in = if acceptable_length { password } else { "an over-long password".to_owned() };
                auth::with_argon2_permit(&state, move || password::verify_against_dummy(&stand_in)).await?;
                SignIn::Refused { detail: "factor:password" }
            }
        };
        // Whatever made a refusal quick (a hash that stops early on input it would never accept), it takes at least
        // as long as a real verification.
        if matches!(outcome, SignIn::Refused { .. }) {
            let floor = std::time::Duration::from_micros(state.password_verify_us);
            if let Some(remaining) = floor.checked_sub(started.elapsed()) {
                tokio::time::sleep(remaining).await;
            }
        }
        outcome
    };

    let user = match outcome {
        SignIn::Accepted(user) => user,
        SignIn::Refused { detail } => {
            if let Some(Some((_, effect))) = account
                && effect != FailureEffect::Counted
            {
                let detail = lockout_detail(effect);
                auth::record(&state, lockout_event(&target, AuditAction::AuthLockout, request_id.clone(), detail))
                    .await?;
                if let Some(credentials) = &credentials {
                    notify_lockout(&state, &credentials.user, effect);
                }
            }
            if bucket.retry_after_secs(now).is_some() {
                let event =
                    lockout_event("client:throttled", AuditAction::AuthClientThrottled, request_id.clone(), "hours:24");
                auth::record(&state, event).await?;
            }
            auth::record(&state, sign_in_event(target, Outcome::Failure, request_id, detail)).await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    state.store.refund_client_attempt(&client_key).await?;

    // With a confirmed second factor the session stays pending until `POST /api/v1/auth/mfa`, and the account's
    // counters are cleared only once that succeeds (a known password must not reset the guard on the codes).
    let mfa_required = auth::has_second_factor(&state, user.id).await?;
    let mfa_enrolment_required = !mfa_required && state.store.user_requires_mfa(user.id).await?;
    if !mfa_required {
        state.store.reset_sign_in_failures(user.id).await?;
    }
    let (cookie, csrf_token) = auth::issue_session(&state, user.id, mfa_required).await?;
    let detail = if mfa_required { "factor:password;second-factor-pending" } else { "factor:password" };
    auth::record(&state, sign_in_event(target, Outcome::Success, request_id, detail)).await?;
    let mut response = Json(LoginResponse { mfa_required, mfa_enrolment_required, csrf_token }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// How a sign-in attempt ended before the response is built.
enum SignIn {
    Accepted(User),
    Refused { detail: &'static str },
}

async fn logout(
    State(state): State<AppState>,
    session: auth::AnySession,
    request_id: Option<axum::Extension<RequestId>>,
) -> Result<Response, ApiError> {
    let session_id = session.session_id;
    state.store.revoke_session(session_id).await?;
    auth::record(
        &state,
        NewEntry {
            chain_id: INSTANCE_CHAIN,
            occurred_at_us: now_us(),
            actor: format!("user:{}", session.user_id),
            action: AuditAction::AuthSignOut.into(),
            target: Some(format!("session:{session_id}")),
            outcome: Outcome::Success,
            request_id: request_id.map(|id| id.0.0),
            detail: None,
        },
    )
    .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("__Host-logvault_session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
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
    let now = now_us();
    let sessions = state.store.user_sessions(principal.user.id, now).await?;
    Ok(Json(
        sessions
            .into_iter()
            .filter(|s| !s.mfa_pending && now.saturating_sub(s.last_seen_us) <= auth::IDLE_TIMEOUT_US)
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
    if !state.store.revoke_user_session(principal.user.id, session_id).await? {
        return Err(ApiError::NotFound);
    }
    record_session_revocation(&state, &principal, format!("session:{session_id}")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every session of the caller except the current one ("sign out everywhere else").
async fn revoke_other_sessions(State(state): State<AppState>, principal: Principal) -> Result<StatusCode, ApiError> {
    let revoked = state.store.revoke_other_sessions(principal.user.id, principal.session_id()).await?;
    record_session_revocation(&state, &principal, format!("sessions:others;count:{revoked}")).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn record_session_revocation(state: &AppState, principal: &Principal, target: String) -> Result<(), ApiError> {
    auth::record(
        state,
        NewEntry {
            chain_id: INSTANCE_CHAIN,
            occurred_at_us: now_us(),
            actor: principal.actor(),
            action: AuditAction::SessionRevoke.into(),
            target: Some(target),
            outcome: Outcome::Success,
            request_id: principal.request_id.clone(),
            detail: None,
        },
    )
    .await
}
