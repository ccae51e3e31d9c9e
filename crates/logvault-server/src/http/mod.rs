//! The HTTP surface: one router, grouped by resource, wrapped in the layers every response goes through.
//!
//! Layer order, outermost first: request id → problem details (renders every error as problem+json with the
//! request id) → security headers → access log and metrics → panic catcher → timeout → body limit → routes.

mod csp;
mod health;
pub(crate) mod metrics;
mod middleware;

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;

/// The main router with all layers applied.
pub fn router(state: AppState, config: &Config) -> Router {
    let mut routes = Router::new().merge(health::router()).merge(csp::router());
    if state.metrics_token_digest.is_some() {
        routes = routes.merge(metrics::router());
    }
    routes
        .fallback(|| async { ApiError::NotFound })
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(middleware::request_id))
                .layer(axum::middleware::from_fn(middleware::problem_details))
                .layer(axum::middleware::from_fn(middleware::security_headers))
                .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::access_log))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(config.http.request_timeout_secs),
                ))
                .layer(RequestBodyLimitLayer::new(config.http.max_body_bytes)),
        )
        .with_state(state)
}

/// The router of the separate loopback metrics listener: `/metrics` only, no token.
pub fn metrics_only_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics::render))
        .fallback(|| async { ApiError::NotFound })
        .layer(axum::middleware::from_fn(middleware::request_id))
        .layer(axum::middleware::from_fn(middleware::problem_details))
        .with_state(state)
}
