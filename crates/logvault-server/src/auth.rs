//! Who is calling: sessions from the `__Host-` cookie, CSRF for state-changing requests, and organisation access.
//!
//! A handler that needs a signed-in user takes a [`Principal`]; one that touches tenant data then asks
//! [`Principal::scope`] for an `OrgScope`, which checks membership and permission in one place. Non-members get 404
//! (nothing about another organisation leaks, not even that it exists); members without the permission get 403 and
//! an `authz.denied` audit entry.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use logvault_core::audit::{AuditAction, INSTANCE_CHAIN, NewEntry, Outcome};
use logvault_core::authz::{self, Permission, Role};
use logvault_core::password;
use logvault_core::throttle::FailureEffect;
use logvault_core::token;
use logvault_store::{ApiToken, Device, OrgScope, StoreError, User};

use crate::app::audit::{lockout_detail, lockout_event};
use crate::app::sign_in::notify_lockout;
use crate::error::ApiError;
use crate::http::middleware::RequestId;
use crate::state::AppState;

/// The session cookie. `__Host-` binds it to this origin: Secure, Path=/, no Domain.
pub const SESSION_COOKIE: &str = "__Host-logvault_session";
/// The `Set-Cookie` value that removes the session cookie.
pub const CLEARED_SESSION_COOKIE: &str = "__Host-logvault_session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0";
/// The header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends after 30 minutes without a request…
pub const IDLE_TIMEOUT_US: i64 = 30 * 60 * 1_000_000;
/// …and 12 hours after sign-in in any case.
pub const ABSOLUTE_TIMEOUT_US: i64 = 12 * 60 * 60 * 1_000_000;
/// `last_seen` is written at most this often, to keep reads from becoming writes.
const TOUCH_INTERVAL_US: i64 = 60 * 1_000_000;

/// A signed-in user, authenticated by a live session or an API token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
    pub request_id: Option<String>,
}

/// How a principal authenticated. `Debug` never shows the session token.
#[derive(Clone)]
pub enum Via {
    /// The session cookie. The token as presented is kept to derive the CSRF token from; never logged.
    Session { id: i64, token: String },
    /// An API token (`Authorization: Bearer lv_…`): acts in its one organisation with at most its role.
    ApiToken(ApiToken),
}

impl std::fmt::Debug for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Session { id, .. } => f.debug_struct("Session").field("id", id).finish_non_exhaustive(),
            Via::ApiToken(token) => f.debug_tuple("ApiToken").field(token).finish(),
        }
    }
}

/// What the access guard established for an organisation route: the scope, and the role it was granted with.
#[derive(Debug, Clone, Copy)]
pub struct OrgAccess {
    pub scope: OrgScope,
    /// The role the caller acts with: the member's, or for an API token the token's (which the member's must still
    /// cover). Handlers decide with this role — e.g. who may be given which role — never with the member's alone.
    pub role: Role,
}

/// The prefix of API tokens, so that secret scanners and people recognise them.
pub const API_TOKEN_PREFIX: &str = "lv_";

/// A signed-in user who has given their password but still owes the second factor. Opens only
/// `POST /api/v1/auth/mfa`.
#[derive(Debug, Clone)]
pub struct PendingSecondFactor {
    pub user_id: i64,
    pub session_id: i64,
    pub request_id: Option<String>,
}

/// The live session behind a request's cookie, CSRF-checked for state-changing methods.
async fn live_session(parts: &Parts, state: &AppState) -> Result<(logvault_store::Session, String), ApiError> {
    let token = session_cookie(&parts.headers).ok_or(ApiError::Unauthorized)?;
    let session = match state.store.session_by_token_hash(&token::digest(token)).await {
        Ok(session) => session,
        Err(StoreError::NotFound { .. }) => return Err(ApiError::Unauthorized),
        Err(err) => return Err(err.into()),
    };
    let now = now_us();
    let live =
        !session.revoked && now < session.expires_at_us && now.saturating_sub(session.last_seen_us) <= IDLE_TIMEOUT_US;
    if !live {
        return Err(ApiError::Unauthorized);
    }
    if !parts.method.is_safe() {
        let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !token::verify_bound_token(&state.csrf_key, token, presented) {
            // A live session's cookie without its token: a cross-site request, or a broken client. Either way a
            // security event.
            let request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone());
            let user = format!("user:{}", session.user_id);
            let detail = if presented.is_empty() { "csrf:missing" } else { "csrf:wrong" };
            record(state, denial(INSTANCE_CHAIN, user, format!("session:{}", session.id), request_id, detail)).await?;
            return Err(ApiError::CsrfRejected);
        }
    }
    Ok((session, token.to_owned()))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Principal, ApiError> {
        // The route guard has usually authenticated the request already.
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone());
        if let Some(presented) = bearer_token(&parts.headers) {
            return api_token_principal(state, presented, request_id).await;
        }
        let (session, token) = live_session(parts, state).await?;
        if session.mfa_pending {
            return Err(ApiError::Unauthorized);
        }
        let user = enabled_user(state, session.user_id).await?;
        let now = now_us();
        if now.saturating_sub(session.last_seen_us) > TOUCH_INTERVAL_US {
            state.store.touch_session(session.id, now).await?;
        }
        Ok(Principal { user, via: Via::Session { id: session.id, token }, request_id })
    }
}

/// A principal if the request carries credentials; `None` without any (wrong credentials or a failed CSRF check
/// are still errors). For public routes that behave differently for a signed-in caller.
impl axum::extract::OptionalFromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Principal>, ApiError> {
        if session_cookie(&parts.headers).is_none() && bearer_token(&parts.headers).is_none() {
            return Ok(None);
        }
        <Principal as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
    }
}

/// The user behind a session or token, unless the account is gone or disabled.
async fn enabled_user(state: &AppState, user_id: i64) -> Result<User, ApiError> {
    match state.store.user_by_id(user_id).await {
        Ok(user) if !user.disabled => Ok(user),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(ApiError::Unauthorized),
        Err(err) => Err(err.into()),
    }
}

/// Authenticates an API token: known (by its SHA-256), not revoked, not expired, its user enabled. Membership and
/// role are checked per organisation request, so removing the member or lowering their role takes effect at once.
async fn api_token_principal(
    state: &AppState,
    presented: &str,
    request_id: Option<String>,
) -> Result<Principal, ApiError> {
    if !presented.starts_with(API_TOKEN_PREFIX) {
        return Err(ApiError::Unauthorized);
    }
    let token = match state.store.api_token_by_hash(&token::digest(presented)).await {
        Ok(token) => token,
        Err(StoreError::NotFound { .. }) => return Err(ApiError::Unauthorized),
        Err(err) => return Err(err.into()),
    };
    let now = now_us();
    if token.revoked || now >= token.expires_at_us {
        return Err(ApiError::Unauthorized);
    }
    let user = enabled_user(state, token.user_id).await?;
    if token.last_used_us.is_none_or(|last| now.saturating_sub(last) > TOUCH_INTERVAL_US) {
        state.store.touch_api_token(token.id, now).await?;
    }
    Ok(Principal { user, via: Via::ApiToken(token), request_id })
}

/// The token of an `Authorization: Bearer …` header, if any.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for PendingSecondFactor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<PendingSecondFactor, ApiError> {
        if let Some(pending) = parts.extensions.get::<PendingSecondFactor>() {
            return Ok(pending.clone());
        }
        let (session, _) = live_session(parts, state).await?;
        if !session.mfa_pending {
            return Err(ApiError::Unprocessable("no second factor is pending for this session".to_owned()));
        }
        enabled_user(state, session.user_id).await?;
        let request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone());
        Ok(PendingSecondFactor { user_id: session.user_id, session_id: session.id, request_id })
    }
}

/// Any live session of the request — complete or still owing its second factor — CSRF-checked; for sign-out.
#[derive(Debug, Clone, Copy)]
pub struct AnySession {
    pub session_id: i64,
    pub user_id: i64,
}

impl FromRequestParts<AppState> for AnySession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<AnySession, ApiError> {
        if let Some(session) = parts.extensions.get::<AnySession>() {
            return Ok(*session);
        }
        let (session, _) = live_session(parts, state).await?;
        Ok(AnySession { session_id: session.id, user_id: session.user_id })
    }
}

/// The prefix of manufacturer upload tokens.
pub const MANUFACTURER_TOKEN_PREFIX: &str = "lvm_";

/// A manufacturer, authenticated by its upload token (`Authorization: Bearer lvm_…`). It can upload loggers and
/// nothing else: it is no user and belongs to no organisation.
#[derive(Debug, Clone)]
pub struct Manufacturer {
    pub token_id: i64,
    pub request_id: Option<String>,
}

impl FromRequestParts<AppState> for Manufacturer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Manufacturer, ApiError> {
        if let Some(manufacturer) = parts.extensions.get::<Manufacturer>() {
            return Ok(manufacturer.clone());
        }
        let presented = bearer_token(&parts.headers).ok_or(ApiError::Unauthorized)?;
        if !presented.starts_with(MANUFACTURER_TOKEN_PREFIX) {
            return Err(ApiError::Unauthorized);
        }
        let token = match state.store.manufacturer_token_by_hash(&token::digest(presented)).await {
            Ok(token) => token,
            Err(StoreError::NotFound { .. }) => return Err(ApiError::Unauthorized),
            Err(err) => return Err(err.into()),
        };
        if token.revoked || now_us() >= token.expires_at_us {
            return Err(ApiError::Unauthorized);
        }
        let request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone());
        Ok(Manufacturer { token_id: token.id, request_id })
    }
}

/// A session just opened: its `Set-Cookie` value and its CSRF token.
pub type IssuedSession = (axum::http::HeaderValue, String);

/// A new session for `user_id`: stores its hash and returns the `Set-Cookie` value and the CSRF token.
pub async fn issue_session(state: &AppState, user_id: i64, mfa_pending: bool) -> Result<IssuedSession, ApiError> {
    let session_token = token::SecretToken::generate("").map_err(|err| ApiError::Internal(err.into()))?;
    let now = now_us();
    state
        .store
        .create_session(logvault_store::NewSession {
            token_hash: session_token.digest(),
            user_id,
            now_us: now,
            expires_at_us: now.saturating_add(ABSOLUTE_TIMEOUT_US),
            mfa_pending,
        })
        .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        session_token.expose(),
        ABSOLUTE_TIMEOUT_US / 1_000_000
    );
    let cookie = axum::http::HeaderValue::from_str(&cookie).map_err(|err| ApiError::Internal(err.into()))?;
    Ok((cookie, token::bound_token(&state.csrf_key, session_token.expose())))
}

impl Principal {
    /// The session this principal signed in with; `None` for an API token.
    pub fn session_id(&self) -> Option<i64> {
        match &self.via {
            Via::Session { id, .. } => Some(*id),
            Via::ApiToken(_) => None,
        }
    }

    /// The CSRF token for this session (what state-changing requests must send in `X-CSRF-Token`); `None` for an
    /// API token, which is not a browser credential and needs none.
    pub fn csrf_token(&self, state: &AppState) -> Option<String> {
        match &self.via {
            Via::Session { token, .. } => Some(token::bound_token(&state.csrf_key, token)),
            Via::ApiToken(_) => None,
        }
    }

    /// The audit actor: the user, and the token when one acted.
    pub fn actor(&self) -> String {
        match &self.via {
            Via::Session { .. } => format!("user:{}", self.user.id),
            Via::ApiToken(token) => format!("user:{};token:{}", self.user.id, token.id),
        }
    }

    /// Access to `org_id` if this user is a member whose role grants `permission` (and, for an API token, the token
    /// belongs to that organisation and its role grants it too). Non-members get 404 — an API token of another
    /// organisation too — and members without the permission 403 and an `authz.denied` audit entry. A member of an
    /// organisation that requires a second factor and who has none gets 403 until they enrol.
    pub async fn org_access(
        &self,
        state: &AppState,
        org_id: i64,
        permission: Permission,
    ) -> Result<OrgAccess, ApiError> {
        if let Via::ApiToken(token) = &self.via
            && token.org_id != org_id
        {
            let entry = denial(
                INSTANCE_CHAIN,
                self.actor(),
                format!("org:{org_id}"),
                self.request_id.clone(),
                "token-of-another-organisation",
            );
            record(state, entry).await?;
            return Err(ApiError::NotFound);
        }
        let (scope, role) = match state.store.scope_for_member(self.user.id, org_id).await {
            Ok(found) => found,
            Err(StoreError::NotFound { .. }) => {
                // Recorded on the instance chain, not the organisation's (which a stranger must not be able to
                // fill), and the answer is the same 404 as for an organisation that does not exist.
                let entry = denial(
                    INSTANCE_CHAIN,
                    self.actor(),
                    format!("org:{org_id}"),
                    self.request_id.clone(),
                    "not-a-member",
                );
                record(state, entry).await?;
                return Err(ApiError::NotFound);
            }
            Err(err) => return Err(err.into()),
        };
        // An API token acts with its own role, and only while the member's current role still covers it (a member
        // demoted since the token was made cannot act above their new role through it).
        let acting = match &self.via {
            Via::ApiToken(token) if authz::max_token_role(role, token.role) => Some(token.role),
            Via::ApiToken(_) => None,
            Via::Session { .. } => Some(role),
        };
        let Some(acting) = acting.filter(|acting| acting.allows(permission)) else {
            record(
                state,
                denial(
                    org_id,
                    self.actor(),
                    format!("permission:{}", permission.as_str()),
                    self.request_id.clone(),
                    &format!("role:{}", role.as_str()),
                ),
            )
            .await?;
            return Err(ApiError::Forbidden);
        };
        if state.store.require_mfa(&scope).await? && !has_second_factor(state, self.user.id).await? {
            return Err(ApiError::MfaEnrolmentRequired);
        }
        Ok(OrgAccess { scope, role: acting })
    }
}

/// An `authz.denied` audit entry.
pub(crate) fn denial(
    chain_id: i64,
    actor: String,
    target: String,
    request_id: Option<String>,
    detail: &str,
) -> NewEntry {
    NewEntry {
        chain_id,
        occurred_at_us: now_us(),
        actor,
        action: AuditAction::AuthzDenied.into(),
        target: Some(target),
        outcome: Outcome::Denied,
        request_id,
        detail: Some(detail.to_owned()),
    }
}

/// Whether the user has a confirmed second factor.
pub async fn has_second_factor(state: &AppState, user_id: i64) -> Result<bool, ApiError> {
    Ok(state.store.totp(user_id).await?.is_some_and(|totp| totp.confirmed))
}

/// Appends an audit entry; a failure fails the request (a security event must not go unrecorded).
pub async fn record(state: &AppState, entry: NewEntry) -> Result<(), ApiError> {
    state.store.append_audit(entry).await?;
    Ok(())
}

/// The device with this serial, for a member of its organisation (and site) whose role grants `permission`; anyone
/// else gets the 404 of an unknown serial.
pub async fn device_for(
    state: &AppState,
    principal: &Principal,
    serial: &logvault_protocol::Serial,
    permission: Permission,
) -> Result<(OrgAccess, Device), ApiError> {
    let serial = serial.as_str();
    let org_id = state.store.device_org(serial).await?.ok_or(ApiError::NotFound)?;
    let access = principal.org_access(state, org_id, permission).await?;
    let device = state.store.device(&access.scope, serial).await?;
    Ok((access, device))
}

/// Checks the signed-in user's password again (step-up); a wrong one is audited and refused.
/// Wrong passwords count toward the account's lockout like failed sign-ins, so a stolen session cannot guess the
/// password step after step; a locked account is refused without a check.
pub async fn reauthenticate(state: &AppState, principal: &Principal, password: String) -> Result<(), ApiError> {
    let user_id = principal.user.id;
    let Some((_, effect)) = state.store.begin_sign_in_attempt(user_id, now_us()).await? else {
        record_reauthentication(state, principal, "factor:password;locked").await?;
        return Err(ApiError::InvalidCredentials);
    };
    let stored = state.store.user_credentials(&principal.user.email).await?.password_hash;
    let hash = stored.as_deref().and_then(|h| password::PasswordHash::parse(h).ok());
    let valid = with_argon2_permit(state, move || match hash {
        Some(hash) => matches!(password::verify_password(&password, &hash), password::Verification::Valid { .. }),
        None => {
            password::verify_against_dummy(&password);
            false
        }
    })
    .await?;
    if !valid {
        if effect != FailureEffect::Counted {
            let target = format!("user:{user_id}");
            let event =
                lockout_event(&target, AuditAction::AuthLockout, principal.request_id.clone(), lockout_detail(effect));
            record(state, event).await?;
            notify_lockout(state, &principal.user, effect);
        }
        record_reauthentication(state, principal, "factor:password").await?;
        return Err(ApiError::InvalidCredentials);
    }
    state.store.reset_sign_in_failures(user_id).await?;
    Ok(())
}

async fn record_reauthentication(state: &AppState, principal: &Principal, detail: &str) -> Result<(), ApiError> {
    let entry = NewEntry {
        chain_id: INSTANCE_CHAIN,
        occurred_at_us: now_us(),
        actor: principal.actor(),
        action: AuditAction::AuthReauthenticate.into(),
        target: Some(format!("user:{}", principal.user.id)),
        outcome: Outcome::Failure,
        request_id: principal.request_id.clone(),
        detail: Some(detail.to_owned()),
    };
    record(state, entry).await
}

/// The client's address: the socket peer, or — only when the peer is a trusted proxy — the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Walking from the right stops at the first entry that does
/// not parse (what lies left of it was written by the client). IPv4-mapped IPv6 addresses count as IPv4.
pub fn client_addr(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted_proxies: &[std::net::IpAddr],
) -> std::net::IpAddr {
    let peer = peer.to_canonical();
    let trusted = |addr: &std::net::IpAddr| trusted_proxies.iter().any(|t| t.to_canonical() == *addr);
    if !trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for entry in entries.into_iter().rev() {
        let parsed = entry
            .parse::<std::net::IpAddr>()
            .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|s| s.ip()))
            .map(|addr| addr.to_canonical());
        match parsed {
            Ok(addr) if trusted(&addr) => continue,
            Ok(addr) => return addr,
            Err(_) => return peer,
        }
    }
    peer
}

/// Runs one password verification (or its stand-in) on the blocking pool, at most one per core at a time; a caller
/// that cannot get a turn within ten seconds gets 503 rather than queueing unbounded Argon2 work.
pub async fn with_argon2_permit<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        std::sync::Arc::clone(&state.argon2_permits).acquire_owned(),
    )
    .await
    .map_err(|_| ApiError::Busy)?
    .map_err(|_| ApiError::Busy)?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))
}

/// The key under which a client address's failures are counted: a keyed hash of the address (IPv6 by its /64,
/// which one host usually owns whole), so the database never holds the address itself.
pub fn client_key(addr: std::net::IpAddr, salt: &logvault_core::SubKey) -> [u8; 32] {
    client_key_for(addr, salt, "")
}

/// Like [`client_key`], for a separate allowance named `purpose` (ingest failures do not use up sign-ins).
pub fn client_key_for(addr: std::net::IpAddr, salt: &logvault_core::SubKey, purpose: &str) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(salt.expose());
    hasher.update(purpose.as_bytes());
    match addr.to_canonical() {
        std::net::IpAddr::V4(v4) => hasher.update(v4.octets()),
        std::net::IpAddr::V6(v6) => hasher.update(&v6.octets()[..8]),
    }
    hasher.finalize().into()
}

/// The session token from the `Cookie` headers, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// The non-empty value of the cookie `name` from the `Cookie` headers, if any.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, value)| *cookie == name && !value.is_empty())
        .map(|(_, value)| value)
}

/// The current time in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}
