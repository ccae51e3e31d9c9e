//! `GET /l`: the page a logger's QR link opens, with its script and style (no inline code: the CSP forbids it).

use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use crate::http::routes::{Access, Routes};

const PAGE: &str = include_str!("../../static/sync.html");
const SCRIPT: &str = include_str!("../../static/sync.js");
const STYLE: &str = include_str!("../../static/sync.css");

pub fn routes() -> Routes {
    Routes::new()
        .add(Method::GET, "/l", Access::Public, async || file(PAGE, "text/html; charset=utf-8"))
        .add(Method::GET, "/static/sync.js", Access::Public, async || file(SCRIPT, "text/javascript; charset=utf-8"))
        .add(Method::GET, "/static/sync.css", Access::Public, async || file(STYLE, "text/css; charset=utf-8"))
}

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
