//! The API error policy: one `ApiError`, one status mapping, RFC 9457 `application/problem+json` bodies.
//!
//! What the client is told and what is logged are kept apart. A handler returns an `ApiError`; its `IntoResponse`
//! only records *what* happened (a [`Problem`] in the response extensions). The `problem_details` middleware then
//! renders every error response — including those made by axum, the body limit, the timeout and the panic catcher —
//! as problem+json carrying the request id, and logs the cause chain of 5xx errors under that id. A 5xx body never
//! carries internal detail.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of RFC 9457 problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every error an API handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the requested resource does not exist")]
    NotFound,
    #[error("{0}")]
    MalformedBody(String),
    #[error("expected a request body of type {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the request body is larger than this server accepts")]
    PayloadTooLarge,
    #[error("{0}")]
    Unprocessable(String),
    #[error("authentication is required")]
    Unauthorized,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the code is wrong, expired or already used")]
    InvalidCode,
    #[error("missing or wrong CSRF token (send the token from sign-in in the X-CSRF-Token header)")]
    CsrfRejected,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("forms of this server can only be sent from its own pages")]
    CrossSiteForm,
    #[error("the {entity} already exists")]
    Conflict { entity: &'static str },
    #[error("an organisation must keep at least one owner")]
    LastOwner,
    #[error("this organisation requires a second factor: enrol one at /api/v1/me/mfa/totp first")]
    MfaEnrolmentRequired,
    #[error("an organisation you belong to requires a second factor, and an email code alone is not one")]
    SecondFactorRequired,
    #[error("API tokens cannot do this; sign in")]
    SessionRequired,
    #[error("the block was not accepted (unknown device, failed authentication, or invalid content)")]
    BlockRejected,
    #[error("too many failed sign-ins from this address; retry after {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    #[error(
        "too many refused blocks from this address; retry after {retry_after_secs} seconds (blocks that verify are still accepted)"
    )]
    IngestThrottled { retry_after_secs: u64 },
    #[error(
        "blocks are not accepted from a page of another site; scan the code with the server's own page, or upload \
         without a browser"
    )]
    CrossSiteIngest,
    #[error("this server has no email configured, so email codes are unavailable; sign in with a password")]
    EmailUnavailable,
    #[error("the server is busy; try again shortly")]
    Busy,
    #[error("the service is not ready")]
    NotReady(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// What an error response says, kept in the response extensions until the middleware renders it.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable machine-readable slug; the `type` member is `/problems/{slug}`.
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: Option<String>,
    /// The cause chain of an internal error, for the log only.
    pub cause: Option<Arc<str>>,
}

/// The rendered body (`Problem` in the OpenAPI document).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody<'a> {
    /// `/problems/{slug}`: a stable, machine-readable kind of problem (`not-found`, `validation-failed`, …).
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'a str,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What went wrong, for a person; absent on 5xx.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    /// The `X-Request-Id` of the response, to quote when asking the operator.
    pub request_id: &'a str,
}

impl ApiError {
    /// The problem this error is, with its status, stable type slug and client-safe detail.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not Found"),
            ApiError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "malformed-body", "Malformed Request Body"),
            ApiError::UnsupportedMediaType { .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported Media Type")
            }
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload Too Large"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation-failed", "Validation Failed"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid-credentials", "Sign-In Failed"),
            ApiError::InvalidCode => (StatusCode::UNAUTHORIZED, "invalid-code", "Invalid Code"),
            ApiError::CsrfRejected => (StatusCode::FORBIDDEN, "csrf", "CSRF Check Failed"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::CrossSiteForm => (StatusCode::FORBIDDEN, "cross-site-form", "Cross-Site Form Refused"),
            ApiError::CrossSiteIngest => (StatusCode::FORBIDDEN, "cross-site-ingest", "Cross-Site Upload Refused"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::LastOwner => (StatusCode::CONFLICT, "last-owner", "Last Owner"),
            ApiError::MfaEnrolmentRequired => {
                (StatusCode::FORBIDDEN, "mfa-enrolment-required", "Second Factor Enrolment Required")
            }
            ApiError::SecondFactorRequired => {
                (StatusCode::FORBIDDEN, "second-factor-required", "Second Factor Required")
            }
            ApiError::SessionRequired => (StatusCode::FORBIDDEN, "session-required", "Session Required"),
            ApiError::BlockRejected => (StatusCode::UNPROCESSABLE_ENTITY, "block-rejected", "Block Rejected"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Too Many Requests"),
            ApiError::IngestThrottled { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "ingest-rate-limited", "Too Many Refused Blocks")
            }
            ApiError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy", "Server Busy"),
            ApiError::EmailUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "email-unavailable", "Email Unavailable"),
            ApiError::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Service Not Ready"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal Server Error"),
        };
        let detail = match self {
            // Internal detail stays in the log.
            ApiError::Internal(_) | ApiError::NotReady(_) => None,
            other => Some(other.to_string()),
        };
        let cause = match self {
            ApiError::Internal(err) => Some(Arc::from(format!("{err:#}"))),
            ApiError::NotReady(reason) => Some(Arc::from(reason.as_str())),
            _ => None,
        };
        Problem { status, slug, title, detail, cause }
    }
}

impl Problem {
    /// The generic problem for an error status produced outside our handlers (axum, tower-http layers).
    pub fn for_status(status: StatusCode) -> Problem {
        let (slug, title) = match status {
            StatusCode::NOT_FOUND => ("not-found", "Not Found"),
            StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method Not Allowed"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "Payload Too Large"),
            StatusCode::REQUEST_TIMEOUT => ("timeout", "Request Timeout"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "Unsupported Media Type"),
            StatusCode::TOO_MANY_REQUESTS => ("rate-limited", "Too Many Requests"),
            s if s.is_server_error() => ("internal", "Internal Server Error"),
            _ => ("bad-request", "Bad Request"),
        };
        Problem { status, slug, title, detail: None, cause: None }
    }

    /// Renders the problem+json response for `request_id`.
    pub fn render(&self, request_id: &str) -> Response {
        let json = self.body_json(request_id);
        let mut response = (self.status, json).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl Problem {
    /// The problem+json body for `request_id`.
    pub fn body_json(&self, request_id: &str) -> Vec<u8> {
        let body = ProblemBody {
            type_uri: format!("/problems/{}", self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: if self.status.is_server_error() { None } else { self.detail.as_deref() },
            request_id,
        };
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// The HTML page of an error, for a browser (`Accept: text/html`).
#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Option<crate::http::pages::Nav>,
    title: &'a str,
    detail: Option<&'a str>,
    advice: &'static str,
    status: u16,
    request_id: &'a str,
}

impl Problem {
    /// Renders the problem as an HTML page for `request_id`: what happened in plain words and what to do next.
    pub fn render_html(&self, request_id: &str) -> Response {
        let advice = match self.status {
            StatusCode::NOT_FOUND => {
                "The address may be mistyped, or the page belongs to an organisation you are not in."
            }
            StatusCode::UNAUTHORIZED => "Sign in, then try again.",
            StatusCode::FORBIDDEN => {
                "Your role does not allow this, or the form was stale: reload the page and try again."
            }
            StatusCode::TOO_MANY_REQUESTS => "Wait a little, then try again.",
            StatusCode::PAYLOAD_TOO_LARGE => "What you sent is larger than this server accepts.",
            s if s.is_server_error() => {
                "Something went wrong on the server. Try again; if it keeps happening, tell the operator."
            }
            _ => "Go back, correct what you entered, and try again.",
        };
        let page = ErrorPage {
            nav: None,
            title: self.title,
            detail: if self.status.is_server_error() { None } else { self.detail.as_deref() },
            advice,
            status: self.status.as_u16(),
            request_id,
        };
        let body = askama::Template::render(&page).unwrap_or_else(|_| self.title.to_owned());
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let mut response = problem.status.into_response();
        if let ApiError::TooManyRequests { retry_after_secs } | ApiError::IngestThrottled { retry_after_secs } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response.extensions_mut().insert(problem);
        response
    }
}

impl From<logvault_store::StoreError> for ApiError {
    fn from(err: logvault_store::StoreError) -> ApiError {
        match err {
            logvault_store::StoreError::NotFound { .. } => ApiError::NotFound,
            logvault_store::StoreError::Conflict { entity } => ApiError::Conflict { entity },
            logvault_store::StoreError::LastOwner => ApiError::LastOwner,
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<crate::app::ingest::IngestError> for ApiError {
    fn from(err: crate::app::ingest::IngestError) -> ApiError {
        match err {
            crate::app::ingest::IngestError::Store(err) => err.into(),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}
