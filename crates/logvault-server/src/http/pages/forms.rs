//! Form posts from the pages: the CSRF token travels in a hidden `csrf` field, and posts from other sites are
//! refused before any handler runs.
//!
//! [`form_csrf`] runs before routing. For a `application/x-www-form-urlencoded` request it refuses a browser's
//! cross-site post (`Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin` that is not this server's), which
//! also covers the sign-in form (login CSRF), and copies the `csrf` field into the `X-CSRF-Token` header, where the
//! session check of the access guard looks for it — one check for the API and the pages.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::CSRF_HEADER;
use crate::error::ApiError;
use crate::state::AppState;

/// The largest form a page posts.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The hidden field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// See the module documentation.
pub async fn form_csrf(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !is_form || request.method().is_safe() {
        return next.run(request).await;
    }
    if is_cross_site(request.headers(), &state.public_url) {
        return ApiError::CrossSiteForm.into_response();
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return ApiError::PayloadTooLarge.into_response();
    };
    if !parts.headers.contains_key(CSRF_HEADER)
        && let Some(token) = field(&bytes, CSRF_FIELD)
        && let Ok(value) = HeaderValue::from_str(&token)
    {
        parts.headers.insert(CSRF_HEADER, value);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Whether a browser says the request comes from another site: `Sec-Fetch-Site` other than `same-origin` or `none`,
/// or else an `Origin` other than this server's. Clients that are not browsers send neither and are not refused.
pub(crate) fn is_cross_site(headers: &axum::http::HeaderMap, public_url: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => {
            let own_host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            let origin_host = origin.split_once("://").map_or("", |(_, host)| host);
            origin != public_url && origin_host != own_host
        }
        None => false,
    }
}

/// The first value of `name` in a urlencoded body.
fn field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_field_is_found_among_others() {
        assert_eq!(field(b"a=1&csrf=abc%2Bd&b=2", "csrf").as_deref(), Some("abc+d"));
        assert_eq!(field(b"a=1", "csrf"), None);
    }

    #[test]
    fn browsers_saying_cross_site_are_refused_and_other_clients_are_not() {
        let mut headers = axum::http::HeaderMap::new();
        assert!(!is_cross_site(&headers, "https://lv.example"));
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(is_cross_site(&headers, "https://lv.example"));
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!is_cross_site(&headers, "https://lv.example"));
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("lv.example"));
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(is_cross_site(&headers, "https://lv.example"));
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://lv.example"));
        assert!(!is_cross_site(&headers, "https://lv.example"));
    }
}
