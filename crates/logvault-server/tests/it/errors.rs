//! The error policy seen from outside: problem+json for every failure, and the server keeps serving.

use crate::both_engines;
use crate::helpers::{CANARY_EMAIL, CANARY_PASSWORD, CANARY_TOKEN, TestApp, assert_problem};

both_engines!(an_unknown_route_is_a_404_problem_and_the_server_keeps_serving, async |app: &TestApp| {
    let path = format!("/users/{CANARY_EMAIL}?token={CANARY_TOKEN}&password={CANARY_PASSWORD}");
    assert_problem(app.get(&path).await, 404, "not-found").await;
    assert_eq!(app.get("/healthz").await.status(), 200);
});

/// An oversize body, with and without a Content-Length. The limit is set small so the whole body leaves the client
/// before the server answers; with a large body the server may answer 413 while the client is still sending, and
/// the client then sees the stream reset instead of the answer.
async fn an_oversize_body_is_a_413_problem_and_the_server_keeps_serving(engine: logvault_store::Engine) {
    let Some(app) = TestApp::spawn_with(engine, |config| config.http.max_body_bytes = 1024).await else { return };
    let body = vec![b' '; 1025];
    assert_problem(app.post("/api/v1/csp-reports", "application/csp-report", body).await, 413, "payload-too-large")
        .await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..3).map(|_| Ok(vec![b' '; 512])).collect();
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let streamed = app.post("/api/v1/csp-reports", "application/csp-report", stream).await;
    assert_problem(streamed, 413, "payload-too-large").await;
    // A body at the limit is read (and here refused as malformed JSON, not as too large).
    let at_limit = app.post("/api/v1/csp-reports", "application/csp-report", vec![b' '; 1024]).await;
    assert_problem(at_limit, 400, "malformed-body").await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_is_a_413_problem_and_the_server_keeps_serving_on_sqlite() {
    an_oversize_body_is_a_413_problem_and_the_server_keeps_serving(logvault_store::Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_is_a_413_problem_and_the_server_keeps_serving_on_postgres() {
    an_oversize_body_is_a_413_problem_and_the_server_keeps_serving(logvault_store::Engine::Postgres).await;
}

both_engines!(malformed_json_is_a_400_problem_and_the_server_keeps_serving, async |app: &TestApp| {
    let body = format!("{{\"csp-report\": {{\"document-uri\": \"https://x/?email={CANARY_EMAIL}\"");
    let problem =
        assert_problem(app.post("/api/v1/csp-reports", "application/csp-report", body).await, 400, "malformed-body")
            .await;
    assert!(problem["detail"].as_str().unwrap().contains("not valid JSON"), "{problem}");
    assert_eq!(app.get("/healthz").await.status(), 200);
});

both_engines!(well_formed_json_of_the_wrong_shape_is_a_422_problem, async |app: &TestApp| {
    let response = app.post("/api/v1/csp-reports", "application/csp-report", r#"{"csp-report": 7}"#).await;
    assert_problem(response, 422, "validation-failed").await;
});

both_engines!(a_wrong_media_type_is_a_415_problem, async |app: &TestApp| {
    assert_problem(app.post("/api/v1/csp-reports", "text/plain", "{}").await, 415, "unsupported-media-type").await;
});

both_engines!(a_wrong_method_is_a_405_problem_that_keeps_its_allow_header, async |app: &TestApp| {
    let response = app.post("/healthz", "application/json", "{}").await;
    assert!(response.headers().contains_key("allow"));
    assert_problem(response, 405, "method-not-allowed").await;
});

both_engines!(a_csp_report_is_accepted_with_204, async |app: &TestApp| {
    let body = r#"{"csp-report": {"effective-directive": "script-src-elem", "blocked-uri": "inline"}}"#;
    assert_eq!(app.post("/api/v1/csp-reports", "application/csp-report", body).await.status(), 204);
    let reports = r#"[{"type": "csp-violation", "body": {"effectiveDirective": "img-src"}}]"#;
    assert_eq!(app.post("/api/v1/csp-reports", "application/reports+json", reports).await.status(), 204);
});

both_engines!(every_response_carries_the_security_headers, async |app: &TestApp| {
    for response in [app.get("/healthz").await, app.get("/no-such-route").await] {
        let headers = response.headers();
        assert_eq!(headers["strict-transport-security"], "max-age=31536000; includeSubDomains");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    }
});

both_engines!(a_client_supplied_request_id_is_replaced_by_our_own, async |app: &TestApp| {
    let response = app.client.get(format!("{}/nope", app.url)).header("x-request-id", "evil\tid").send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "evil\tid");
    assert_eq!(id.len(), 24);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(logvault_store::Engine::Sqlite, |config| {
        config.insecure_http = true;
        config.http.header_read_timeout_secs = 1;
    })
    .await
    .unwrap();
    let mut stream = tokio::net::TcpStream::connect(app.server().local_addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    // The server must close the connection on its own; the generous bound only keeps a broken build from hanging.
    let mut buffer = [0u8; 512];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a half-sent request open");
    assert_eq!(app.get("/healthz").await.status(), 200);
}
