//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::Method;

use crate::error::ApiError;
use crate::http::openapi::text_schema;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/healthz",
            Access::Public,
            Doc::new("Liveness probe").response_as(200, "text/plain", "the process answers (`ok`)", text_schema),
            healthz,
        )
        .add(
            Method::GET,
            "/readyz",
            Access::Public,
            Doc::new("Readiness probe")
                .response_as(200, "text/plain", "the database answers and its schema is current (`ready`)", text_schema)
                .error(503, "the database is unreachable or its migrations are not current"),
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
