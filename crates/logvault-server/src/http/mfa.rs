//! Second factors: TOTP enrolment (`/api/v1/me/mfa/totp`, `/api/v1/me/mfa/totp/confirm`) and the second step of
//! sign-in (`/api/v1/auth/mfa`) with a TOTP code or a single-use recovery code.
//!
//! Codes are refused on reuse (the used time step is recorded atomically), at most five wrong codes per account
//! are accepted per 30-second step, and a successful second factor rotates the session: the pending session is
//! revoked and a new one issued.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use logvault_core::audit::{AuditAction, INSTANCE_CHAIN, NewEntry, Outcome};
use logvault_core::throttle::FailureEffect;
use logvault_core::totp::{self, TotpError, TotpSecret};
use logvault_core::{envelope, recovery};
use serde::{Deserialize, Serialize};

use crate::app::audit::{lockout_detail, lockout_event, sign_in_event};
use crate::app::sign_in::{MAX_WRONG_CODES_PER_STEP, notify_lockout};
use crate::auth::{self, PendingSecondFactor, Principal, now_us, reauthenticate};
use crate::error::ApiError;
use crate::http::json::ApiJson;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::POST,
            "/api/v1/auth/mfa",
            Access::PendingSecondFactor,
            Doc::new("Give the second factor of a sign-in")
                .description("A TOTP code or a recovery code; on success the session is rotated (a new cookie).")
                .request_json::<CodeRequest>()
                .response_json::<SecondFactorResponse>(200, "signed in")
                .error(401, "the code is wrong, expired or already used")
                .error(429, "too many wrong codes in this 30-second step"),
            second_factor,
        )
        .add(
            Method::POST,
            "/api/v1/me/mfa/totp",
            Access::Session,
            Doc::new("Start TOTP enrolment")
                .request_json::<ReauthRequest>()
                .response_json::<EnrolmentResponse>(200, "the secret, as an otpauth URI and a QR code")
                .error(401, "the password is wrong"),
            start_enrolment,
        )
        .add(
            Method::DELETE,
            "/api/v1/me/mfa/totp",
            Access::Session,
            Doc::new("Remove TOTP and the recovery codes")
                .request_json::<ReauthRequest>()
                .response_empty(204, "removed")
                .error(401, "the password is wrong")
                .error(404, "no TOTP is enrolled")
                .error(422, "an organisation of the user requires a second factor"),
            remove_totp,
        )
        .add(
            Method::POST,
            "/api/v1/me/mfa/totp/confirm",
            Access::Session,
            Doc::new("Confirm TOTP enrolment with a first code")
                .description("Every other session ends and this one is rotated; the recovery codes are shown once.")
                .request_json::<CodeRequest>()
                .response_json::<ConfirmResponse>(200, "enrolled")
                .error(401, "the code is wrong")
                .error(422, "no enrolment was started"),
            confirm_enrolment,
        )
}

/// The current password, to start enrolment (a stolen session alone must not be able to add a second factor).
/// No `Debug`: it is a secret.
#[derive(Deserialize, utoipa::ToSchema)]
struct ReauthRequest {
    password: String,
}

/// A code from an authenticator app or a recovery code. No `Debug`: it is a secret.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SecondFactorCode)]
struct CodeRequest {
    code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EnrolmentResponse {
    otpauth_uri: String,
    secret_base32: String,
    qr_svg: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ConfirmResponse {
    recovery_codes: Vec<String>,
    /// The CSRF token of the rotated session.
    csrf_token: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SecondFactorResponse {
    csrf_token: String,
}

fn sealing_aad(user_id: i64) -> String {
    format!("totp:user:{user_id}")
}

fn unix_seconds(now_us: i64) -> u64 {
    u64::try_from(now_us / 1_000_000).unwrap_or(0)
}

fn step_of(now_us: i64) -> i64 {
    now_us / 1_000_000 / 30
}

async fn start_enrolment(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ReauthRequest>,
) -> Result<Response, ApiError> {
    reauthenticate(&state, &principal, body.password).await?;
    let secret = TotpSecret::generate().map_err(|err| ApiError::Internal(err.into()))?;
    let sealed = envelope::seal(&state.totp_key, sealing_aad(principal.user.id).as_bytes(), secret.as_bytes())
        .map_err(|err| ApiError::Internal(err.into()))?;
    state.store.put_unconfirmed_totp(principal.user.id, &sealed, now_us()).await?;
    let otpauth_uri = totp::provisioning_uri(&secret, "Logvault", principal.user.email.as_str());
    let qr_svg = totp::provisioning_qr_svg(&otpauth_uri)
        .map_err(|_| ApiError::Unprocessable("the account name is too long for a QR code".to_owned()))?;
    let body = EnrolmentResponse { otpauth_uri, secret_base32: secret.to_base32().to_string(), qr_svg };
    record_mfa_event(&state, &principal, AuditAction::MfaEnrolStart, Outcome::Success).await?;
    Ok(Json(body).into_response())
}

async fn record_mfa_event(
    state: &AppState,
    principal: &Principal,
    action: AuditAction,
    outcome: Outcome,
) -> Result<(), ApiError> {
    let entry = NewEntry {
        chain_id: INSTANCE_CHAIN,
        occurred_at_us: now_us(),
        actor: principal.actor(),
        action: action.into(),
        target: Some(format!("user:{}", principal.user.id)),
        outcome,
        request_id: principal.request_id.clone(),
        detail: Some("factor:totp".to_owned()),
    };
    auth::record(state, entry).await
}

async fn confirm_enrolment(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let user_id = principal.user.id;
    let record =
        state.store.totp(user_id).await?.filter(|t| !t.confirmed).ok_or_else(|| {
            ApiError::Unprocessable("start the enrolment first (POST /api/v1/me/mfa/totp)".to_owned())
        })?;
    let secret = unseal(&state, user_id, &record.secret_sealed)?;
    let now = now_us();
    let step = match totp::verify(&secret, &body.code, unix_seconds(now), None) {
        Ok(step) => i64::try_from(step).unwrap_or(i64::MAX),
        Err(_) => return Err(ApiError::InvalidCode),
    };
    let codes = recovery::generate_recovery_codes().map_err(|err| ApiError::Internal(err.into()))?;
    state.store.confirm_totp(user_id, step, &codes.hashes(&state.recovery_key), &record.secret_sealed).await?;
    auth::record(
        &state,
        NewEntry {
            chain_id: INSTANCE_CHAIN,
            occurred_at_us: now,
            actor: format!("user:{user_id}"),
            action: AuditAction::MfaEnrol.into(),
            target: Some(format!("user:{user_id}")),
            outcome: Outcome::Success,
            request_id: principal.request_id.clone(),
            detail: Some("factor:totp".to_owned()),
        },
    )
    .await?;
    // A step-up: every other session of the user ends (one an attacker may hold included), and this one is rotated.
    state.store.revoke_other_sessions(user_id, None).await?;
    let (cookie, csrf_token) = auth::issue_session(&state, user_id, false).await?;
    let mut response = Json(ConfirmResponse { recovery_codes: codes.display().to_vec(), csrf_token }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Removes the user's TOTP and recovery codes, after the password again. Refused while an organisation of theirs
/// requires a second factor.
async fn remove_totp(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ReauthRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    reauthenticate(&state, &principal, body.password).await?;
    if state.store.user_requires_mfa(principal.user.id).await? {
        return Err(ApiError::Unprocessable(
            "an organisation you belong to requires a second factor; it cannot be removed".to_owned(),
        ));
    }
    if !state.store.remove_totp(principal.user.id).await? {
        return Err(ApiError::NotFound);
    }
    record_mfa_event(&state, &principal, AuditAction::MfaRemove, Outcome::Success).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn second_factor(
    State(state): State<AppState>,
    pending: PendingSecondFactor,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let user_id = pending.user_id;
    let now = now_us();
    let step = step_of(now);
    let target = format!("user:{user_id}");
    // Counted before the code is checked, so concurrent guesses are counted too.
    let attempts = state.store.record_mfa_attempt(user_id, step).await?;
    if attempts > MAX_WRONG_CODES_PER_STEP {
        if attempts == MAX_WRONG_CODES_PER_STEP + 1 {
            let event = lockout_event(&target, AuditAction::AuthMfaThrottled, pending.request_id, "seconds:30");
            auth::record(&state, event).await?;
        }
        let retry_after_secs = u64::try_from(30 - (now / 1_000_000) % 30).unwrap_or(30);
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    // Wrong codes also count toward the account's lockout (10 in 15 minutes; 100 in a row until an operator
    // unlocks), so codes cannot be guessed step after step; a locked account is refused without a check.
    let Some((_, effect)) = state.store.begin_sign_in_attempt(user_id, now).await? else {
        auth::record(&state, sign_in_event(target, Outcome::Failure, pending.request_id, "factor:second;locked"))
            .await?;
        return Err(ApiError::InvalidCode);
    };
    let Some(factor) = verify_second_factor(&state, user_id, &body.code, now).await? else {
        if effect != FailureEffect::Counted {
            let event =
                lockout_event(&target, AuditAction::AuthLockout, pending.request_id.clone(), lockout_detail(effect));
            auth::record(&state, event).await?;
            if let Ok(user) = state.store.user_by_id(user_id).await {
                notify_lockout(&state, &user, effect);
            }
        }
        auth::record(&state, sign_in_event(target, Outcome::Failure, pending.request_id, "factor:second")).await?;
        return Err(ApiError::InvalidCode);
    };
    state.store.reset_sign_in_failures(user_id).await?;
    // Rotate: the pending session ends, a full one begins.
    state.store.revoke_session(pending.session_id).await?;
    let (cookie, csrf_token) = auth::issue_session(&state, user_id, false).await?;
    auth::record(&state, sign_in_event(target, Outcome::Success, pending.request_id, factor)).await?;
    let mut response = Json(SecondFactorResponse { csrf_token }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Checks a TOTP code (six digits) or a recovery code; returns the factor's name, or `None` if it is wrong, reused
/// or malformed.
async fn verify_second_factor(
    state: &AppState,
    user_id: i64,
    code: &str,
    now: i64,
) -> Result<Option<&'static str>, ApiError> {
    let looks_like_totp = code.chars().filter(|c| !c.is_whitespace()).count() == 6;
    if looks_like_totp {
        let Some(record) = state.store.totp(user_id).await?.filter(|t| t.confirmed) else { return Ok(None) };
        let secret = unseal(state, user_id, &record.secret_sealed)?;
        let last_used = record.last_used_step.and_then(|s| u64::try_from(s).ok());
        return match totp::verify(&secret, code, unix_seconds(now), last_used) {
            Ok(step) => {
                let step = i64::try_from(step).unwrap_or(i64::MAX);
                // Atomic: of two requests with the same code, one wins.
                Ok(state.store.use_totp_step(user_id, step).await?.then_some("factor:totp"))
            }
            Err(TotpError::Malformed | TotpError::Invalid | TotpError::Reused) => Ok(None),
        };
    }
    let unused = state.store.unused_recovery_codes(user_id).await?;
    let hashes: Vec<[u8; 32]> = unused.iter().map(|record| record.code_hash).collect();
    match recovery::find_match(&state.recovery_key, code, &hashes) {
        Some(position) => {
            let idx = unused[position].idx;
            Ok(state.store.use_recovery_code(user_id, idx).await?.then_some("factor:recovery_code"))
        }
        None => Ok(None),
    }
}

fn unseal(state: &AppState, user_id: i64, sealed: &[u8]) -> Result<TotpSecret, ApiError> {
    let bytes = envelope::open(&state.totp_key, sealing_aad(user_id).as_bytes(), sealed)
        .map_err(|err| ApiError::Internal(err.into()))?;
    let array: [u8; totp::SECRET_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("a stored TOTP secret has the wrong length")))?;
    Ok(TotpSecret::from_bytes(array))
}
