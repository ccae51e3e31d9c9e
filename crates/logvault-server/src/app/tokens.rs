//! API tokens: the checks a token request must pass and the minting of one, shared by the API and
//! `logvault token create`.

use logvault_core::authz::{self, Role};
use logvault_core::token;
use logvault_store::NewApiToken;

use crate::auth::{API_TOKEN_PREFIX, now_us};

/// Lifetime of a token when none is asked for, and the longest allowed.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;
pub const MAX_TOKEN_DAYS: u32 = 365;
const DAY_US: i64 = 24 * 60 * 60 * 1_000_000;

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
pub fn mint(
    user_id: i64,
    name: String,
    role: Role,
    days: u32,
) -> Result<(token::SecretToken, NewApiToken), token::RandomError> {
    let secret = token::SecretToken::generate(API_TOKEN_PREFIX)?;
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
