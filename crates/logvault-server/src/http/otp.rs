//! Email one-time passcode sign-in: `POST /api/v1/auth/otp/request` {email} and `POST /api/v1/auth/otp/verify`
//! {email, code}.
//!
//! The code is eight random digits, valid ten minutes, single use, and bound to the browser that asked for it: the
//! request sets a random `__Host-` binding cookie, and the stored value is HMAC(key, binding ‖ code), so a code read
//! from the email works only together with that cookie. A new code at most once a minute per account; every request
//! costs its client address one unit of the sign-in allowance. Wrong codes count toward the five-per-step limit and
//! the account lockout like any other factor. The answer to a request is the same whether or not the address has an
//! account.
//!
//! An email code is one factor. A user with TOTP still owes it afterwards (the session is pending, as after a
//! password); a user without one, in an organisation that requires a second factor, is refused.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logvault_core::Email;
use logvault_core::audit::{AuditAction, Outcome};
use logvault_core::throttle::FailureEffect;
use logvault_store::{StoreError, User};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::app::audit::{lockout_detail, lockout_event, sign_in_event};
use crate::app::sign_in::{MAX_WRONG_CODES_PER_STEP, notify_lockout};
use crate::auth::{self, now_us};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::middleware::RequestId;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

/// The cookie binding a code to the browser that requested it.
pub const OTP_COOKIE: &str = "__Host-logvault_otp";
/// Digits of a code.
pub const CODE_DIGITS: usize = 8;
/// How long a code is valid.
pub const CODE_VALID_MINUTES: u32 = 10;
/// The least time between two codes for one account.
const MIN_INTERVAL_US: i64 = 60 * 1_000_000;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::POST,
            "/api/v1/auth/otp/request",
            Access::Public,
            Doc::new("Ask for a sign-in code by email")
                .description("The same answer whether or not the address has an account; sets the binding cookie.")
                .request_json::<CodeRequest>()
                .response_json::<Requested>(202, "if the address has an account, a code is on its way")
                .error(429, "too many attempts from this address")
                .error(503, "the server has no email configured"),
            request_code,
        )
        .add(
            Method::POST,
            "/api/v1/auth/otp/verify",
            Access::Public,
            Doc::new("Sign in with an emailed code")
                .request_json::<VerifyRequest>()
                .response_json::<Verified>(200, "signed in, or a second factor is owed (`mfa_required`)")
                .error(401, "the code is wrong, expired, used, or not from this browser")
                .error(403, "an organisation of the user requires a second factor they do not have")
                .error(429, "too many attempts from this address or for this account"),
            verify_code,
        )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = EmailCodeRequest)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    email: String,
}

/// No `Debug`: it holds the code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    email: String,
    code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Requested {
    message: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Verified {
    mfa_required: bool,
    csrf_token: String,
}

async fn request_code(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let Some(mailer) = state.mailer.clone() else {
        return Err(ApiError::EmailUnavailable);
    };
    let request_id = request_id.map(|id| id.0.0);
    let now = now_us();
    let client = auth::client_addr(peer.ip(), &headers, &state.trusted_proxies);
    if let Err(retry_after_secs) =
        state.store.begin_client_attempt(&auth::client_key(client, &state.ip_log_salt), now).await?
    {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    // A browser asking again keeps its binding, so the code already on its way still works in it.
    let binding = match otp_cookie(&headers).filter(|b| is_binding(b)) {
        Some(binding) => binding.to_owned(),
        None => logvault_core::token::SecretToken::generate("")
            .map_err(|err| ApiError::Internal(err.into()))?
            .expose()
            .to_owned(),
    };
    if let Some(user) = enabled_user(&state, &body.email).await? {
        // The rest happens after the answer, so a known address is not slower to answer than an unknown one.
        let state = state.clone();
        let binding = binding.clone();
        tokio::spawn(async move {
            if let Err(err) = send_code(&state, mailer, user, &binding, now, request_id).await {
                tracing::warn!(error = %err, "could not issue an email sign-in code");
            }
        });
    }
    let cookie = format!(
        "{OTP_COOKIE}={binding}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        CODE_VALID_MINUTES * 60
    );
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Requested { message: "if this address has an account, a sign-in code is on its way" }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|err| ApiError::Internal(err.into()))?);
    Ok(response)
}

/// Stores a new code for the user (unless one was issued less than a minute ago), emails it and audits it.
async fn send_code(
    state: &AppState,
    mailer: crate::mail::Mailer,
    user: User,
    binding: &str,
    now: i64,
    request_id: Option<String>,
) -> Result<(), ApiError> {
    let code = random_code()?;
    let expires_at_us = now.saturating_add(i64::from(CODE_VALID_MINUTES) * 60 * 1_000_000);
    let hash = code_hash(state, binding, &code);
    if !state.store.put_email_code(user.id, &hash, now, expires_at_us, MIN_INTERVAL_US).await? {
        return Ok(());
    }
    mailer.send_in_background(crate::mail::sign_in_code(user.email.clone(), &code, CODE_VALID_MINUTES));
    let target = format!("user:{}", user.id);
    let event = logvault_core::audit::NewEntry {
        chain_id: logvault_core::audit::INSTANCE_CHAIN,
        occurred_at_us: now,
        actor: target.clone(),
        action: AuditAction::AuthEmailCodeSent.into(),
        target: Some(target),
        outcome: Outcome::Success,
        request_id,
        detail: None,
    };
    auth::record(state, event).await
}

/// A binding as this server makes them: 43 base64url characters (256 bits).
fn is_binding(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn verify_code(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let request_id = request_id.map(|id| id.0.0);
    let now = now_us();
    let client = auth::client_addr(peer.ip(), &headers, &state.trusted_proxies);
    let client_key = auth::client_key(client, &state.ip_log_salt);
    if let Err(retry_after_secs) = state.store.begin_client_attempt(&client_key, now).await? {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    // Counted before checking, at most five wrong codes per address per 30-second step — per address, known or not,
    // so that the limit's answer does not tell whether an account exists.
    let user = enabled_user(&state, &body.email).await?;
    let target = user.as_ref().map_or_else(|| "user:unknown".to_owned(), |user| format!("user:{}", user.id));
    let attempts = state.store.record_email_code_attempt(&email_key(&state, &body.email), now / 1_000_000 / 30).await?;
    if attempts > MAX_WRONG_CODES_PER_STEP {
        if attempts == MAX_WRONG_CODES_PER_STEP + 1 {
            auth::record(&state, lockout_event(&target, AuditAction::AuthMfaThrottled, request_id, "seconds:30"))
                .await?;
        }
        let retry_after_secs = u64::try_from(30 - (now / 1_000_000) % 30).unwrap_or(30);
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let Some(user) = user else {
        auth::record(&state, sign_in_event(target, Outcome::Failure, request_id, "factor:email_code")).await?;
        return Err(ApiError::InvalidCode);
    };
    let Some((_, effect)) = state.store.begin_sign_in_attempt(user.id, now).await? else {
        auth::record(&state, sign_in_event(target, Outcome::Failure, request_id, "factor:email_code;locked")).await?;
        return Err(ApiError::InvalidCode);
    };

    let presented = otp_cookie(&headers).map(|binding| code_hash(&state, binding, body.code.trim()));
    let stored = state.store.email_code(user.id).await?;
    let matches = match (&presented, &stored) {
        (Some(presented), Some(stored)) => {
            bool::from(presented.ct_eq(&stored.code_hash)) && !stored.used && now < stored.expires_at_us
        }
        _ => false,
    };
    // Atomic: of two requests with the same code, one wins.
    let accepted = match (matches, presented) {
        (true, Some(hash)) => state.store.use_email_code(user.id, &hash).await?,
        _ => false,
    };
    if !accepted {
        if effect != FailureEffect::Counted {
            let event = lockout_event(&target, AuditAction::AuthLockout, request_id.clone(), lockout_detail(effect));
            auth::record(&state, event).await?;
            notify_lockout(&state, &user, effect);
        }
        auth::record(&state, sign_in_event(target, Outcome::Failure, request_id, "factor:email_code")).await?;
        return Err(ApiError::InvalidCode);
    }
    state.store.refund_client_attempt(&client_key).await?;

    let mfa_required = auth::has_second_factor(&state, user.id).await?;
    if !mfa_required && state.store.user_requires_mfa(user.id).await? {
        auth::record(
            &state,
            sign_in_event(target, Outcome::Denied, request_id, "factor:email_code;second-factor-required"),
        )
        .await?;
        return Err(ApiError::SecondFactorRequired);
    }
    if !mfa_required {
        state.store.reset_sign_in_failures(user.id).await?;
    }
    let (cookie, csrf_token) = auth::issue_session(&state, user.id, mfa_required).await?;
    let detail = if mfa_required { "factor:email_code;second-factor-pending" } else { "factor:email_code" };
    auth::record(&state, sign_in_event(target, Outcome::Success, request_id, detail)).await?;
    let mut response = Json(Verified { mfa_required, csrf_token }).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("__Host-logvault_otp=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// The enabled account with this address, if any.
async fn enabled_user(state: &AppState, raw_email: &str) -> Result<Option<User>, ApiError> {
    let Ok(email) = Email::parse(raw_email) else { return Ok(None) };
    match state.store.user_credentials(&email).await {
        Ok(credentials) if !credentials.user.disabled => Ok(Some(credentials.user)),
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Eight uniformly random decimal digits.
fn random_code() -> Result<String, ApiError> {
    let mut code = String::with_capacity(CODE_DIGITS);
    while code.len() < CODE_DIGITS {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).map_err(|err| ApiError::Internal(anyhow::anyhow!("random: {err}")))?;
        // Rejection sampling keeps the digits uniform (250 = 25 × 10).
        if byte[0] < 250 {
            code.push(char::from(b'0' + byte[0] % 10));
        }
    }
    Ok(code)
}

/// The stored form of a code: a keyed hash (HMAC-SHA-256 under the code key) of the binding and the code, hashed
/// once more to its 32-byte column.
fn code_hash(state: &AppState, binding: &str, code: &str) -> [u8; 32] {
    logvault_core::token::digest(&logvault_core::token::bound_token(&state.otp_key, &format!("{binding}\0{code}")))
}

/// The key under which an address's code attempts are counted: a keyed hash of its normalised form (or of the raw
/// text, for input that is not an address), so the database never holds the address itself.
fn email_key(state: &AppState, raw_email: &str) -> [u8; 32] {
    let normalised = Email::parse(raw_email).map_or_else(|_| raw_email.to_owned(), |email| email.as_str().to_owned());
    logvault_core::token::digest(&logvault_core::token::bound_token(&state.otp_key, &format!("attempts\0{normalised}")))
}

/// The binding cookie, if the request carries it.
fn otp_cookie(headers: &HeaderMap) -> Option<&str> {
    auth::cookie(headers, OTP_COOKIE)
}
