//! The static files of the pages: one style sheet, the small scripts, and the vendored chart library (uPlot, MIT,
//! with its licence beside it). Compiled into the binary, so the server needs no files and no network.

use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use crate::http::routes::{Access, Doc, Routes};

const APP_CSS: &str = include_str!("../../../static/app.css");
const APP_JS: &str = include_str!("../../../static/app.js");
const CHART_JS: &str = include_str!("../../../static/chart.js");
const UPLOT_JS: &str = include_str!("../../../static/vendor/uplot-1.6.32/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../static/vendor/uplot-1.6.32/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../../../static/vendor/uplot-1.6.32/LICENSE");

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

pub fn routes() -> Routes {
    Routes::new()
        .add(Method::GET, "/static/app.css", Access::Public, Doc::new("Style sheet"), async || file(APP_CSS, CSS))
        .add(Method::GET, "/static/app.js", Access::Public, Doc::new("Page script"), async || file(APP_JS, JS))
        .add(Method::GET, "/static/chart.js", Access::Public, Doc::new("Chart script"), async || file(CHART_JS, JS))
        .add(
            Method::GET,
            "/static/vendor/uplot-1.6.32/uPlot.iife.min.js",
            Access::Public,
            Doc::new("uPlot"),
            async || file(UPLOT_JS, JS),
        )
        .add(
            Method::GET,
            "/static/vendor/uplot-1.6.32/uPlot.min.css",
            Access::Public,
            Doc::new("uPlot style sheet"),
            async || file(UPLOT_CSS, CSS),
        )
        .add(
            Method::GET,
            "/static/vendor/uplot-1.6.32/LICENSE",
            Access::Public,
            Doc::new("uPlot licence"),
            async || file(UPLOT_LICENSE, TEXT),
        )
}

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
