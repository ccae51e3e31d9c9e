//! The application layer: what Logvault does, apart from how a request arrived.
//!
//! HTTP handlers, the command line and (later) MQTT or LoRaWAN listeners parse their input, call in here, and render
//! the answer. Nothing here imports axum or `crate::http` (a tidy test checks), and each service has its own error
//! type, which the HTTP layer maps into `ApiError` in one place (`crate::error`).

pub mod audit;
pub mod devices;
pub mod export;
pub mod ingest;
pub mod invitations;
pub mod mfa;
pub mod reports;
pub mod retention;
pub mod sign_in;
pub mod tokens;
pub mod verify;
