//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::Method;

use crate::error::ApiError;
use crate::http::routes::{Access, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().add(Method::GET, "/healthz", Access::Public, healthz).add(
        Method::GET,
        "/readyz",
        Access::Public,
        readyz,
    )
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers and its schema is exactly what this binary expects.
async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store.ping().await.map_err(|err| ApiError::NotReady(format!("database unreachable: {err:#}")))?;
    let status =
        state.store.migration_status().await.map_err(|err| ApiError::NotReady(format!("migration status: {err:#}")))?;
    if !status.is_current() {
        return Err(ApiError::NotReady(format!(
            "migrations not current: pending {:?}, unknown {:?}",
            status.pending, status.unknown
        )));
    }
    Ok("ready")
}
