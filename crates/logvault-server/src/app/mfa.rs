//! Second factors: TOTP enrolment and removal, and checking a TOTP or recovery code.
//!
//! Codes are refused on reuse (the used time step is recorded atomically). Enrolment needs the password again (a
//! stolen session alone must not be able to add a second factor), and confirming it ends every other session of the
//! user and rotates this one.

use logvault_core::audit::{AuditAction, INSTANCE_CHAIN, NewEntry, Outcome};
use logvault_core::totp::{self, TotpError, TotpSecret};
use logvault_core::{envelope, recovery};

use crate::auth::{self, IssuedSession, Principal, now_us, reauthenticate};
use crate::error::ApiError;
use crate::state::AppState;

/// A started TOTP enrolment: what an authenticator app needs.
#[derive(Debug)]
pub struct Enrolment {
    pub otpauth_uri: String,
    pub secret_base32: String,
    pub qr_svg: String,
}

/// A confirmed enrolment: the recovery codes, shown once, and the rotated session.
#[derive(Debug)]
pub struct Confirmed {
    pub recovery_codes: Vec<String>,
    pub session: IssuedSession,
}

fn sealing_aad(user_id: i64) -> String {
    format!("totp:user:{user_id}")
}

fn unix_seconds(now_us: i64) -> u64 {
    u64::try_from(now_us / 1_000_000).unwrap_or(0)
}

/// The 30-second TOTP step of `now_us`.
pub fn step_of(now_us: i64) -> i64 {
    now_us / 1_000_000 / 30
}

/// Starts (or restarts) TOTP enrolment after checking the password again.
///
/// # Errors
/// [`ApiError::InvalidCredentials`] for a wrong password.
pub async fn start_enrolment(state: &AppState, principal: &Principal, password: String) -> Result<Enrolment, ApiError> {
    reauthenticate(state, principal, password).await?;
    let secret = TotpSecret::generate().map_err(|err| ApiError::Internal(err.into()))?;
    let sealed = envelope::seal(&state.totp_key, sealing_aad(principal.user.id).as_bytes(), secret.as_bytes())
        .map_err(|err| ApiError::Internal(err.into()))?;
    state.store.put_unconfirmed_totp(principal.user.id, &sealed, now_us()).await?;
    let otpauth_uri = totp::provisioning_uri(&secret, "Logvault", principal.user.email.as_str());
    let qr_svg = totp::provisioning_qr_svg(&otpauth_uri)
        .map_err(|_| ApiError::Unprocessable("the account name is too long for a QR code".to_owned()))?;
    record_mfa_event(state, principal, AuditAction::MfaEnrolStart).await?;
    Ok(Enrolment { otpauth_uri, secret_base32: secret.to_base32().to_string(), qr_svg })
}

async fn record_mfa_event(state: &AppState, principal: &Principal, action: AuditAction) -> Result<(), ApiError> {
    let entry = NewEntry {
        chain_id: INSTANCE_CHAIN,
        occurred_at_us: now_us(),
        actor: principal.actor(),
        action: action.into(),
        target: Some(format!("user:{}", principal.user.id)),
        outcome: Outcome::Success,
        request_id: principal.request_id.clone(),
        detail: Some("factor:totp".to_owned()),
    };
    auth::record(state, entry).await
}

/// Confirms a started enrolment with a first code: stores the recovery codes' hashes, ends every other session of
/// the user and rotates this one.
///
/// # Errors
/// [`ApiError::Unprocessable`] when no enrolment was started, [`ApiError::InvalidCode`] for a wrong code.
pub async fn confirm_enrolment(state: &AppState, principal: &Principal, code: &str) -> Result<Confirmed, ApiError> {
    let user_id = principal.user.id;
    let record =
        state.store.totp(user_id).await?.filter(|t| !t.confirmed).ok_or_else(|| {
            ApiError::Unprocessable("start the enrolment first (POST /api/v1/me/mfa/totp)".to_owned())
        })?;
    let secret = unseal(state, user_id, &record.secret_sealed)?;
    let now = now_us();
    let step = match totp::verify(&secret, code, unix_seconds(now), None) {
        Ok(step) => i64::try_from(step).unwrap_or(i64::MAX),
        Err(_) => return Err(ApiError::InvalidCode),
    };
    let codes = recovery::generate_recovery_codes().map_err(|err| ApiError::Internal(err.into()))?;
    state.store.confirm_totp(user_id, step, &codes.hashes(&state.recovery_key), &record.secret_sealed).await?;
    auth::record(
        state,
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
    let session = auth::issue_session(state, user_id, false).await?;
    Ok(Confirmed { recovery_codes: codes.display().to_vec(), session })
}

/// Removes the user's TOTP and recovery codes, after the password again. Refused while an organisation of theirs
/// requires a second factor.
///
/// # Errors
/// [`ApiError::NotFound`] when no TOTP is enrolled.
pub async fn remove_totp(state: &AppState, principal: &Principal, password: String) -> Result<(), ApiError> {
    reauthenticate(state, principal, password).await?;
    if state.store.user_requires_mfa(principal.user.id).await? {
        return Err(ApiError::Unprocessable(
            "an organisation you belong to requires a second factor; it cannot be removed".to_owned(),
        ));
    }
    if !state.store.remove_totp(principal.user.id).await? {
        return Err(ApiError::NotFound);
    }
    record_mfa_event(state, principal, AuditAction::MfaRemove).await
}

/// Checks a TOTP code (six digits) or a recovery code; returns the factor's name, or `None` if it is wrong, reused
/// or malformed.
pub async fn verify_second_factor(
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
