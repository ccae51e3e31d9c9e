//! Ingest from a browser on another site is refused: a page anywhere could otherwise post a block as `text/plain`
//! (a CORS-safelisted request, sent without a preflight) from every visitor's address. The `/l` page, served from
//! the server's own origin, and gateways and scripts, which send no `Origin`, are accepted.

use serde_json::Value;

use crate::both_engines;
use crate::helpers::{TestApp, assert_problem};
use crate::ingest::{block, registered, seal};

async fn post_link(app: &TestApp, link: String, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request =
        app.client.post(format!("{}/api/v1/ingest", app.url)).header("content-type", "text/plain").body(link);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

both_engines!(a_browser_post_from_another_site_is_refused_and_stores_nothing, async |app: &TestApp| {
    let (org, _, key) = registered(app, "XS-0001").await;
    let link = || logvault_protocol::to_link("https://logvault.example.test", &seal(&block("XS-0001", 1, 0, 10), &key));
    for headers in [
        &[("origin", "https://evil.example")][..],
        &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")][..],
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site"), ("origin", "https://other.logvault.example.test")][..],
        &[("origin", "null")][..],
    ] {
        let body = assert_problem(post_link(app, link(), headers).await, 403, "cross-site-ingest").await;
        assert!(body["detail"].as_str().unwrap().contains("another site"), "{body}");
    }
    // Refused before anything: no audit entry, no sample, no allowance spent.
    let entries = app.server().store.audit_entries(org, 0, 1_000).await.unwrap();
    assert!(!entries.iter().any(|e| e.action.starts_with("ingest.")), "{entries:?}");

    // The `/l` page posts from the server's own origin; a gateway or curl sends no Origin at all.
    let own = [("sec-fetch-site", "same-origin"), ("origin", "https://logvault.example.test")];
    let accepted = post_link(app, link(), &own).await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.json::<Value>().await.unwrap()["accepted"], 10);
    let own_origin_only = [("origin", "https://logvault.example.test")];
    assert_eq!(post_link(app, link(), &own_origin_only).await.status(), 200);
    let gateway = post_link(app, link(), &[]).await;
    assert_eq!(gateway.status(), 200);
    assert_eq!(gateway.json::<Value>().await.unwrap()["duplicates"], 10);
});
