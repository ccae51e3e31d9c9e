//! Signing in, whatever the page or API that asked: the password step, the second-factor step, and the rules they
//! share (the per-step code allowance, the lockout notice).
//!
//! Unknown address, wrong password and disabled account give the same refusal, and each does one Argon2 verification
//! (against a dummy hash when there is no usable one), so neither the answer nor its timing tells whether an account
//! exists.

use std::net::IpAddr;

use logvault_core::Email;
use logvault_core::audit::{AuditAction, INSTANCE_CHAIN, NewEntry, Outcome};
use logvault_core::password::{self, PasswordHash, Verification};
use logvault_core::throttle::FailureEffect;
use logvault_store::{Session, StoreError, User};

use crate::app::audit::{lockout_detail, lockout_event, sign_in_event};
use crate::app::mfa;
use crate::auth::{self, IssuedSession, PendingSecondFactor, Principal, now_us};
use crate::error::ApiError;
use crate::state::AppState;

/// Wrong codes accepted per account per 30-second step.
pub const MAX_WRONG_CODES_PER_STEP: i64 = 5;

/// Tells the owner of an account that it was locked, by email in the background (when email is configured).
pub fn notify_lockout(state: &AppState, user: &User, effect: FailureEffect) {
    if let Some(mailer) = &state.mailer {
        let minutes = match effect {
            FailureEffect::LockedUntilUnlocked => None,
            FailureEffect::Locked | FailureEffect::Counted => Some(15),
        };
        mailer.send_in_background(crate::mail::account_locked(user.email.clone(), minutes));
    }
}

/// A password that was accepted, and the session it opened.
#[derive(Debug)]
pub struct PasswordAccepted {
    pub user: User,
    /// The user has a second factor: the session owes it before it can do anything else.
    pub mfa_required: bool,
    /// An organisation of the user requires a second factor they do not have yet: they must enrol first.
    pub mfa_enrolment_required: bool,
    pub session: IssuedSession,
}

/// The password step of signing in, from `client`. Every attempt first takes a failure from its address's allowance
/// and its account's counters, atomically; a success gives them back, so concurrent attempts cannot slip past either
/// limit.
///
/// # Errors
/// [`ApiError::TooManyRequests`] when the address has used its allowance, [`ApiError::InvalidCredentials`] for any
/// wrong email, password, disabled or locked account (one answer for all).
pub async fn with_password(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: String,
    request_id: Option<String>,
) -> Result<PasswordAccepted, ApiError> {
    let now = now_us();
    let client_key = auth::client_key(client, &state.ip_log_salt);
    let bucket = match state.store.begin_client_attempt(&client_key, now).await? {
        Ok(bucket) => bucket,
        Err(retry_after_secs) => return Err(ApiError::TooManyRequests { retry_after_secs }),
    };

    let credentials = match Email::parse(email) {
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
        let acceptable_length = password.chars().count() <= password::MAX_LENGTH;
        let started = std::time::Instant::now();
        let outcome = match usable.filter(|_| acceptable_length) {
            Some((user, hash)) => {
                let (verification, rehashed) = auth::with_argon2_permit(state, move || {
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
                auth::with_argon2_permit(state, move || password::verify_against_dummy(&stand_in)).await?;
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
                auth::record(state, lockout_event(&target, AuditAction::AuthLockout, request_id.clone(), detail))
                    .await?;
                if let Some(credentials) = &credentials {
                    notify_lockout(state, &credentials.user, effect);
                }
            }
            if bucket.retry_after_secs(now).is_some() {
                let event =
                    lockout_event("client:throttled", AuditAction::AuthClientThrottled, request_id.clone(), "hours:24");
                auth::record(state, event).await?;
            }
            auth::record(state, sign_in_event(target, Outcome::Failure, request_id, detail)).await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    state.store.refund_client_attempt(&client_key).await?;

    // With a confirmed second factor the session stays pending until the second step, and the account's counters
    // are cleared only once that succeeds (a known password must not reset the guard on the codes).
    let mfa_required = auth::has_second_factor(state, user.id).await?;
    let mfa_enrolment_required = !mfa_required && state.store.user_requires_mfa(user.id).await?;
    if !mfa_required {
        state.store.reset_sign_in_failures(user.id).await?;
    }
    let session = auth::issue_session(state, user.id, mfa_required).await?;
    let detail = if mfa_required { "factor:password;second-factor-pending" } else { "factor:password" };
    auth::record(state, sign_in_event(target, Outcome::Success, request_id, detail)).await?;
    Ok(PasswordAccepted { user, mfa_required, mfa_enrolment_required, session })
}

/// How a sign-in attempt ended before the session is opened.
enum SignIn {
    Accepted(User),
    Refused { detail: &'static str },
}

/// The second step of signing in: a TOTP code or a recovery code for the pending session. On success the pending
/// session ends and a full one begins (the session is rotated).
///
/// # Errors
/// [`ApiError::TooManyRequests`] after five wrong codes in one 30-second step, [`ApiError::InvalidCode`] for a wrong,
/// reused or malformed code or a locked account.
pub async fn second_factor(
    state: &AppState,
    pending: &PendingSecondFactor,
    code: &str,
) -> Result<IssuedSession, ApiError> {
    let user_id = pending.user_id;
    let request_id = pending.request_id.clone();
    let now = now_us();
    let step = mfa::step_of(now);
    let target = format!("user:{user_id}");
    // Counted before the code is checked, so concurrent guesses are counted too.
    let attempts = state.store.record_mfa_attempt(user_id, step).await?;
    if attempts > MAX_WRONG_CODES_PER_STEP {
        if attempts == MAX_WRONG_CODES_PER_STEP + 1 {
            let event = lockout_event(&target, AuditAction::AuthMfaThrottled, request_id, "seconds:30");
            auth::record(state, event).await?;
        }
        let retry_after_secs = u64::try_from(30 - (now / 1_000_000) % 30).unwrap_or(30);
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    // Wrong codes also count toward the account's lockout (10 in 15 minutes; 100 in a row until an operator
    // unlocks), so codes cannot be guessed step after step; a locked account is refused without a check.
    let Some((_, effect)) = state.store.begin_sign_in_attempt(user_id, now).await? else {
        auth::record(state, sign_in_event(target, Outcome::Failure, request_id, "factor:second;locked")).await?;
        return Err(ApiError::InvalidCode);
    };
    let Some(factor) = mfa::verify_second_factor(state, user_id, code, now).await? else {
        if effect != FailureEffect::Counted {
            let event = lockout_event(&target, AuditAction::AuthLockout, request_id.clone(), lockout_detail(effect));
            auth::record(state, event).await?;
            if let Ok(user) = state.store.user_by_id(user_id).await {
                notify_lockout(state, &user, effect);
            }
        }
        auth::record(state, sign_in_event(target, Outcome::Failure, request_id, "factor:second")).await?;
        return Err(ApiError::InvalidCode);
    };
    state.store.reset_sign_in_failures(user_id).await?;
    // Rotate: the pending session ends, a full one begins.
    state.store.revoke_session(pending.session_id).await?;
    let session = auth::issue_session(state, user_id, false).await?;
    auth::record(state, sign_in_event(target, Outcome::Success, request_id, factor)).await?;
    Ok(session)
}

/// Ends a session (complete or still owing its second factor), audited.
pub async fn sign_out(
    state: &AppState,
    session_id: i64,
    user_id: i64,
    request_id: Option<String>,
) -> Result<(), ApiError> {
    state.store.revoke_session(session_id).await?;
    auth::record(
        state,
        NewEntry {
            chain_id: INSTANCE_CHAIN,
            occurred_at_us: now_us(),
            actor: format!("user:{user_id}"),
            action: AuditAction::AuthSignOut.into(),
            target: Some(format!("session:{session_id}")),
            outcome: Outcome::Success,
            request_id,
            detail: None,
        },
    )
    .await
}

/// The user's complete, live sessions (for "your sessions").
pub async fn live_sessions(state: &AppState, principal: &Principal) -> Result<Vec<Session>, ApiError> {
    let now = now_us();
    let sessions = state.store.user_sessions(principal.user.id, now).await?;
    Ok(sessions
        .into_iter()
        .filter(|s| !s.mfa_pending && now.saturating_sub(s.last_seen_us) <= auth::IDLE_TIMEOUT_US)
        .collect())
}

/// Revokes one of the user's own sessions (another user's session id is simply not found).
///
/// # Errors
/// [`ApiError::NotFound`] for a session that is not the user's.
pub async fn revoke_own_session(state: &AppState, principal: &Principal, session_id: i64) -> Result<(), ApiError> {
    if !state.store.revoke_user_session(principal.user.id, session_id).await? {
        return Err(ApiError::NotFound);
    }
    record_session_revocation(state, principal, format!("session:{session_id}")).await
}

/// Revokes every session of the user except the current one ("sign out everywhere else"); returns how many.
pub async fn revoke_other_sessions(state: &AppState, principal: &Principal) -> Result<u64, ApiError> {
    let revoked = state.store.revoke_other_sessions(principal.user.id, principal.session_id()).await?;
    record_session_revocation(state, principal, format!("sessions:others;count:{revoked}")).await?;
    Ok(revoked)
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
