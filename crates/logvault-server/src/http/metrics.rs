//! Prometheus metrics: a registry per server instance (no global recorder), request counts and latencies per
//! route, and the `/metrics` endpoint guarded by a bearer token.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

/// The metrics of one server instance.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    csp_violations: Family<DirectiveLabels, Counter>,
    ingest_blocks: Family<OutcomeLabels, Counter>,
    ingest_samples: Counter,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectiveLabels {
    directive: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("logvault");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let csp_violations = Family::<DirectiveLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by method, matched route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register(
            "csp_violations",
            "Content-Security-Policy violation reports by directive",
            csp_violations.clone(),
        );
        let ingest_blocks = Family::<OutcomeLabels, Counter>::default();
        let ingest_samples = Counter::default();
        registry.register(
            "ingest_blocks",
            "Blocks received, by outcome (stored, duplicate, or the reason for rejecting)",
            ingest_blocks.clone(),
        );
        registry.register("ingest_new_samples", "Samples stored for the first time", ingest_samples.clone());
        Metrics { registry, requests, latency, csp_violations, ingest_blocks, ingest_samples }
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
        self.latency.get_or_create(&RouteLabels { method, route }).observe(elapsed.as_secs_f64());
    }

    pub fn count_csp_violation(&self, directive: &'static str) {
        self.csp_violations.get_or_create(&DirectiveLabels { directive: directive.to_owned() }).inc();
    }

    /// One block received; `outcome` is one of a fixed set of labels.
    pub fn count_ingest(&self, outcome: &'static str, new_samples: u64) {
        self.ingest_blocks.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
        self.ingest_samples.inc_by(new_samples);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// `/metrics` on the main listener; only mounted when a token is configured.
pub fn routes() -> Routes {
    let doc = doc().error(401, "no metrics token, or a wrong one");
    Routes::new().add(Method::GET, "/metrics", Access::Public, doc, guarded)
}

async fn guarded(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let expected = state.metrics_token_digest.ok_or(ApiError::NotFound)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    // Compare digests so neither the token's content nor its length leaks through timing.
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    if !bool::from(digest.ct_eq(&expected)) {
        return Err(ApiError::Unauthorized);
    }
    render(State(state)).await
}

/// The exposition itself, unguarded (the loopback listener's handler).
/// The description of `/metrics`, on the main listener (with its token) and on the loopback one (without).
pub fn doc() -> Doc {
    Doc::new("Prometheus metrics")
        .description(
            "Served on the main listener only when a metrics token is configured, and then only with \
             `Authorization: Bearer <metrics token>` (not an API token); or without a token on the separate loopback \
             metrics listener.",
        )
        .response_as(
            200,
            "text/plain; version=0.0.4",
            "the metrics in the Prometheus text format",
            super::openapi::text_schema,
        )
}

pub async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state.metrics.encode().map_err(|err| ApiError::Internal(anyhow::Error::new(err)))?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}
