//! The HTTP surface: one router, grouped by resource, wrapped in the layers every response goes through.
//!
//! Layer order, outermost first: request id → problem details (renders every error as problem+json with the
//! request id, or as an HTML page for a browser) → security headers → access log and metrics → request target and
//! header size limits → panic catcher → timeout → form CSRF (pages' form posts, at most 64 KiB) → body limit →
//! routes. What hyper refuses before any layer runs is rendered by `protocol_errors::Acceptor` on the connection.

mod csp;
mod devices;
mod exports;
mod health;
mod ingest;
pub(crate) mod json;
mod manufacturing;
mod members;
pub(crate) mod metrics;
mod mfa;
pub(crate) mod middleware;
pub mod openapi;
mod orgs;
mod otp;
pub mod pages;
mod path;
pub(crate) mod protocol_errors;
pub(crate) mod reports;
pub mod routes;
pub(crate) mod session;
mod sync_page;
pub mod tokens;

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
    let mut routes = routes::api_routes();
    if state.metrics_token_digest.is_some() {
        routes = routes.merge(metrics::routes());
    }
    // The document describes exactly the API's table, `/metrics` included when it is served; pages are not in it.
    let document = openapi::OpenApiJson::of(routes.table());
    let routes = routes.merge(routes::page_routes()).into_router(&state).layer(axum::Extension(document));
    with_layers(routes, state, config)
}

fn with_layers(routes: Router<AppState>, state: AppState, config: &Config) -> Router {
    routes
        .fallback(|| async { ApiError::NotFound })
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(middleware::request_id))
                .layer(axum::middleware::from_fn(middleware::problem_details))
                .layer(axum::middleware::from_fn(middleware::security_headers))
                .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::access_log))
                .layer(axum::middleware::from_fn(protocol_errors::request_limits))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(config.http.request_timeout_secs),
                ))
                .layer(axum::middleware::from_fn_with_state(state.clone(), pages::forms::form_csrf))
                .layer(RequestBodyLimitLayer::new(config.http.max_body_bytes)),
        )
        .with_state(state)
}

/// The router of the separate loopback metrics listener: `/metrics` only, no token.
pub fn metrics_only_router(state: AppState) -> Router {
    let routes = routes::Routes::new().add(
        axum::http::Method::GET,
        "/metrics",
        routes::Access::Public,
        metrics::doc(),
        metrics::render,
    );
    routes
        .into_router(&state)
        .fallback(|| async { ApiError::NotFound })
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(middleware::request_id))
                .layer(axum::middleware::from_fn(middleware::problem_details))
                .layer(axum::middleware::from_fn(middleware::security_headers))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
                .layer(RequestBodyLimitLayer::new(1024)),
        )
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_problem_without_detail_and_the_router_keeps_serving() {
        let db = logvault_store::testing::TestDatabase::sqlite().await;
        let master = logvault_core::MasterKey::create(&db.sqlite_path.clone().unwrap().with_extension("key")).unwrap();
        let state = AppState {
            store: Arc::clone(&db.store),
            metrics: Arc::new(metrics::Metrics::new()),
            metrics_token_digest: None,
            ip_log_salt: Arc::new(master.derive("salt")),
            csrf_key: Arc::new(master.derive("csrf")),
            totp_key: Arc::new(master.derive("totp")),
            recovery_key: Arc::new(master.derive("recovery")),
            otp_key: Arc::new(master.derive("otp")),
            data_key_wrap: Arc::new(master.derive("wrap")),
            manufacturing_key: Arc::new(master.derive("manufacturing")),
            mailer: None,
            public_url: Arc::from("https://localhost"),
            trusted_proxies: Arc::new(Vec::new()),
            password_verify_us: 0,
            argon2_permits: Arc::new(tokio::sync::Semaphore::new(2)),
            first_run: Arc::default(),
            signing_keys: Arc::new(crate::signing::SigningKeys {
                signing: logvault_export::SigningKey::from_seed(&[7; 32]).unwrap(),
                published: Vec::new(),
            }),
        };
        let routes = health::routes()
            .add(axum::http::Method::GET, "/boom", routes::Access::Public, openapi::Doc::new("Panic"), || async {
                panic!("secret internal detail");
                #[allow(unreachable_code)]
                ""
            })
            .into_router(&state);
        let app = with_layers(routes, state, &Config::default());

        let response = app.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["content-type"], crate::error::PROBLEM_JSON);
        let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], "/problems/internal");
        assert_eq!(body["request_id"], request_id);
        assert!(body.get("detail").is_none());
        assert!(!body.to_string().contains("secret internal detail"));

        let response = app.oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), 200);
        db.store.close().await;
    }
}
