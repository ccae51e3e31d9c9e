//! Sign-in rules shared by the password, TOTP and email-code steps: the per-step code allowance and the lockout notice.

use logvault_core::throttle::FailureEffect;
use logvault_store::User;

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
