//! Content-Security-Policy violation reports (`report-uri` and Reporting API bodies).
//!
//! Browsers send them unauthenticated, so the endpoint only counts them by directive (a fixed label set, so a
//! client cannot blow up metric cardinality) and logs the directive. The reported URLs are never logged: they can
//! carry tokens in their query strings.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::Deserialize;

use crate::error::ApiError;
use crate::http::openapi::object_schema;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().add(
        Method::POST,
        "/api/v1/csp-reports",
        Access::Public,
        Doc::new("Report a Content-Security-Policy violation")
            .description(
                "What browsers send to `report-uri` (`{\"csp-report\": {…}}`) or the Reporting API (an array).",
            )
            .request_as("application/csp-report", object_schema)
            .request_as("application/json", object_schema)
            .request_as("application/reports+json", object_schema)
            .response_empty(204, "the report was counted"),
        receive,
    )
}

/// `report-uri` format: `{"csp-report": {...}}`.
#[derive(Debug, Deserialize)]
struct LegacyReport {
    #[serde(rename = "csp-report")]
    report: LegacyBody,
}

#[derive(Debug, Deserialize)]
struct LegacyBody {
    #[serde(rename = "effective-directive")]
    effective_directive: Option<String>,
    #[serde(rename = "violated-directive")]
    violated_directive: Option<String>,
}

/// Reporting API format: `[{"type": "csp-violation", "body": {...}}]`.
#[derive(Debug, Deserialize)]
struct ReportingApiReport {
    #[serde(rename = "type")]
    kind: String,
    body: ReportingApiBody,
}

#[derive(Debug, Deserialize)]
struct ReportingApiBody {
    #[serde(rename = "effectiveDirective")]
    effective_directive: Option<String>,
}

const KNOWN_DIRECTIVES: &[&str] = &[
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "connect-src",
    "font-src",
    "form-action",
    "base-uri",
    "frame-ancestors",
    "frame-src",
    "object-src",
    "media-src",
    "worker-src",
    "manifest-src",
];

fn known_directive(raw: Option<&str>) -> &'static str {
    let first_word = raw.and_then(|d| d.split_whitespace().next()).unwrap_or("");
    KNOWN_DIRECTIVES.iter().copied().find(|known| *known == first_word).unwrap_or("other")
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    let directives: Vec<&'static str> = match media_type {
        "application/csp-report" | "application/json" => {
            let report: LegacyReport = parse(&body)?;
            let raw = report.report.effective_directive.or(report.report.violated_directive);
            vec![known_directive(raw.as_deref())]
        }
        "application/reports+json" => {
            let reports: Vec<ReportingApiReport> = parse(&body)?;
            reports
                .iter()
                .filter(|r| r.kind == "csp-violation")
                .map(|r| known_directive(r.body.effective_directive.as_deref()))
                .collect()
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType { expected: "application/csp-report" });
        }
    };
    for directive in directives {
        state.metrics.count_csp_violation(directive);
        tracing::info!(directive, "content security policy violation reported");
    }
    Ok(StatusCode::NO_CONTENT)
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| {
        if err.is_data() {
            ApiError::Unprocessable(format!("the report does not have the expected shape: {err}"))
        } else {
            ApiError::MalformedBody(format!("the body is not valid JSON: {err}"))
        }
    })
}
