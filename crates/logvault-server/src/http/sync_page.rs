//! `GET /l`: the page a logger's QR link opens, with its script and style (no inline code: the CSP forbids it).

use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use crate::http::openapi::text_schema;
use crate::http::routes::{Access, Doc, Routes};

const PAGE: &str = include_str!("../../static/sync.html");
const SCRIPT: &str = include_str!("../../static/sync.js");
const STYLE: &str = include_str!("../../static/sync.css");

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/l",
            Access::Public,
            Doc::new("The page a logger's QR link opens")
                .description("It reads the block from the link's fragment and uploads it to `POST /api/v1/ingest`.")
                .response_as(200, "text/html", "the page", text_schema),
            async || file(PAGE, "text/html; charset=utf-8"),
        )
        .add(
            Method::GET,
            "/static/sync.js",
            Access::Public,
            Doc::new("The script of the QR link page").response_as(200, "text/javascript", "the script", text_schema),
            async || file(SCRIPT, "text/javascript; charset=utf-8"),
        )
        .add(
            Method::GET,
            "/static/sync.css",
            Access::Public,
            Doc::new("The style sheet of the QR link page").response_as(
                200,
                "text/css",
                "the style sheet",
                text_schema,
            ),
            async || file(STYLE, "text/css; charset=utf-8"),
        )
}

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
