//! Cross-cutting middleware: request ids, problem+json rendering, security headers, access log and metrics.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Response, header};
use axum::middleware::Next;
use tracing::Instrument;

use crate::error::{PROBLEM_JSON, Problem};
use crate::state::AppState;

/// The header carrying the request id, on requests (as we set it) and responses.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of the current request, as a request extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Gives every request a fresh random id. A client-supplied `x-request-id` is replaced, never trusted: it would
/// let a client write arbitrary text into our logs.
pub async fn request_id(mut request: Request, next: Next) -> Response<Body> {
    let id = fresh_request_id();
    let value = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid"));
    request.headers_mut().insert(REQUEST_ID, value.clone());
    request.extensions_mut().insert(RequestId(id));
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

/// A new random request id: 24 hexadecimal digits.
pub fn fresh_request_id() -> String {
    let mut bytes = [0u8; 12];
    match getrandom::fill(&mut bytes) {
        Ok(()) => hex::encode(bytes),
        Err(_) => "unavailable".to_owned(),
    }
}

/// Renders every error response as problem+json with the request id — or, for a browser (`Accept: text/html`), as
/// an HTML page with the request id, and a page that needs a sign-in as a redirect to the sign-in page — and logs
/// 5xx causes under that id.
pub async fn problem_details(request: Request, next: Next) -> Response<Body> {
    let request_id =
        request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_else(|| "unknown".to_owned());
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let sign_in_then =
        (wants_html && request.method() == axum::http::Method::GET && !request.uri().path().starts_with("/api/"))
            .then(|| request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned());
    let mut response = next.run(request).await;
    let status = response.status();
    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if status.is_client_error() || status.is_server_error() => {
            // Already a problem, or a page that came back with its own message (a form with what to correct).
            let rendered = response.headers().get(header::CONTENT_TYPE).is_some_and(|value| {
                value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()) || value.as_bytes().starts_with(b"text/html")
            });
            if rendered {
                return response;
            }
            Problem::for_status(status)
        }
        None => return response,
    };
    if problem.status.is_server_error() {
        tracing::error!(request_id = %request_id, status = problem.status.as_u16(), cause = problem.cause.as_deref().unwrap_or("-"), "request failed");
    }
    if problem.status == axum::http::StatusCode::UNAUTHORIZED
        && let Some(path) = sign_in_then
    {
        let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        let mut redirect = Response::new(Body::empty());
        *redirect.status_mut() = axum::http::StatusCode::SEE_OTHER;
        let location =
            HeaderValue::from_str(&format!("/sign-in?next={next}")).unwrap_or(HeaderValue::from_static("/sign-in"));
        redirect.headers_mut().insert(header::LOCATION, location);
        return redirect;
    }
    let mut rendered = if wants_html { problem.render_html(&request_id) } else { problem.render(&request_id) };
    // Keep headers set by inner layers (e.g. Allow on 405, WWW-Authenticate on 401).
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

/// The Content-Security-Policy of every response. Strict: same-origin scripts and styles only, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'; report-uri /api/v1/csp-reports";

/// Sets the security headers on every response, errors included.
pub async fn security_headers(request: Request, next: Next) -> Response<Body> {
    let mut response = next.run(request).await;
    insert_security_headers(response.headers_mut());
    response
}

/// The security headers of [`security_headers`], also written by `protocol_errors` on the answers it renders.
pub fn insert_security_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
}

/// Logs one line per request and records request metrics. Names the matched route, never the raw path or query
/// (they can carry tokens); names the client by a redacted address.
pub async fn access_log(State(state): State<AppState>, request: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().map_or("<unmatched>", |p| p.as_str()).to_owned();
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| logvault_core::redact::client_ip(info.0.ip(), state.ip_log_salt.expose()))
        .unwrap_or_default();
    let span = tracing::info_span!("request", id = %request_id, method = %method, route = %route);
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.observe_request(method, &route, status, elapsed);
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, client = %client, "request");
    });
    response
}

/// The method as a metric label and log field: the standard methods by name, anything else as `OTHER`, so a client
/// cannot create unbounded label values with made-up methods.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Turns a panic in a handler into a plain 500; `problem_details` renders it. The panic payload is not echoed.
pub fn panic_response(_payload: Box<dyn Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    let mut response = Response::new(Body::empty());
    *response.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}
