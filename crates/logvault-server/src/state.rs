//! The state every handler sees. No globals: everything a request needs travels in here.

use std::net::IpAddr;
use std::sync::Arc;

use logvault_core::SubKey;
use logvault_store::Store;

use crate::http::metrics::Metrics;

/// Shared, cheaply cloned application state. `Debug` shows no key material.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    /// SHA-256 of the metrics bearer token, when one is configured.
    pub metrics_token_digest: Option<[u8; 32]>,
    /// Per-instance salt for the keyed hash that stands in for client addresses in logs.
    pub ip_log_salt: Arc<SubKey>,
    /// Key of the HMAC that binds CSRF tokens to session tokens.
    pub csrf_key: Arc<SubKey>,
    /// Key sealing TOTP secrets at rest.
    pub totp_key: Arc<SubKey>,
    /// Key of the HMAC under which recovery codes are stored.
    pub recovery_key: Arc<SubKey>,
    /// Key wrapping each organisation's data key (under which device keys are sealed).
    pub data_key_wrap: Arc<SubKey>,
    /// Key protecting uploaded, unclaimed loggers (their keys and claim codes).
    pub manufacturing_key: Arc<SubKey>,
    /// Key of the HMAC under which email sign-in codes are stored.
    pub otp_key: Arc<SubKey>,
    /// Outgoing email; `None` when no SMTP relay is configured (email codes are then unavailable).
    pub mailer: Option<crate::mail::Mailer>,
    /// The external base URL for links in emails, without a trailing slash.
    pub public_url: Arc<str>,
    /// Reverse proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Arc<Vec<IpAddr>>,
    /// The duration of one password verification, measured once at start: a locked account's refusal waits this
    /// long instead of doing the work, so its timing matches a wrong password's. No request can change it.
    pub password_verify_us: u64,
    /// The key exports are signed with, and every public key the server has published.
    pub signing_keys: Arc<crate::signing::SigningKeys>,
    /// Bounds concurrent Argon2 verifications (19 MiB each) to the number of cores.
    pub argon2_permits: Arc<tokio::sync::Semaphore>,
    /// The first-run setup link's check, while the instance has no account (otherwise never live).
    pub first_run: Arc<crate::app::invitations::FirstRun>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("metrics_token", &self.metrics_token_digest.map(|_| "<configured>"))
            .finish_non_exhaustive()
    }
}
