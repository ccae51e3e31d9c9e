//! Requests refused before routing — malformed, a request target too long, header fields too large — are
//! problem+json with a request id and the security headers, whether the application refuses them (its own limits)
//! or hyper does (what it cannot parse, or past its hard limits). Sent as raw bytes over TLS and over plain HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use logvault_store::Engine;
use serde_json::Value;

use crate::both_engines;
use crate::helpers::TestApp;

/// One answer read off the wire.
struct Answer {
    status: u16,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends `request` on a fresh connection (TLS when the server speaks it) and reads until the server closes it.
async fn exchange(app: &TestApp, request: Vec<u8>) -> Answer {
    let addr = app.server().local_addr;
    let pem = app.server().certificate_pem.clone();
    let raw = tokio::task::spawn_blocking(move || {
        let mut tcp = TcpStream::connect(addr).unwrap();
        // Only keeps a broken build from hanging; nothing is asserted about time.
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut answer = Vec::new();
        match pem {
            None => {
                tcp.write_all(&request).unwrap();
                let _ = tcp.read_to_end(&mut answer);
            }
            Some(pem) => {
                use rustls::pki_types::pem::PemObject as _;
                let mut roots = rustls::RootCertStore::empty();
                roots.add(rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()).unwrap();
                let mut config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, tcp);
                tls.write_all(&request).unwrap();
                tls.flush().unwrap();
                // A server that closes without close_notify after its answer is fine here: keep what was read.
                let _ = tls.read_to_end(&mut answer);
            }
        }
        answer
    })
    .await
    .unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, _) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no complete answer: {text:?}"));
    let head_len = head.len() + 4;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let length: usize = headers.iter().find(|(n, _)| n == "content-length").unwrap().1.parse().unwrap();
    Answer { status, body: raw[head_len..head_len + length].to_vec(), headers }
}

/// Asserts the answer is the problem `slug` with `status`, its request id, and the security headers.
fn assert_rendered(answer: &Answer, status: u16, slug: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.headers);
    assert_eq!(answer.header("content-type"), Some("application/problem+json"));
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
    assert_eq!(body["status"], status);
    let request_id = answer.header("x-request-id").unwrap();
    assert_eq!(request_id.len(), 24);
    assert_eq!(body["request_id"], request_id);
    assert_eq!(answer.header("strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(answer.header("x-frame-options"), Some("DENY"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(answer.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
}

async fn every_refusal_before_routing_is_a_rendered_problem(app: &TestApp) {
    let get = |target: &str, extra: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n").into_bytes()
    };
    // Refused by the application's own limits, on any protocol.
    let long_target = format!("/healthz?q={}", "a".repeat(9_000));
    assert_rendered(&exchange(app, get(&long_target, "")).await, 414, "uri-too-long");
    let big_header = format!("X-Big: {}\r\n", "b".repeat(20_000));
    assert_rendered(&exchange(app, get("/healthz", &big_header)).await, 431, "headers-too-large");

    // Refused by hyper before any layer runs.
    let huge_target = format!("/healthz?q={}", "a".repeat(70_000));
    assert_rendered(&exchange(app, get(&huge_target, "")).await, 414, "uri-too-long");
    let many_headers: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_rendered(&exchange(app, get("/healthz", &many_headers)).await, 431, "headers-too-large");
    assert_rendered(&exchange(app, get("/healthz", "this is not a header\r\n")).await, 400, "malformed-request");
    let bad_version = b"GET /healthz HTTP/7.1\r\nHost: localhost\r\n\r\n".to_vec();
    assert_rendered(&exchange(app, bad_version).await, 400, "malformed-request");

    // And a good request on the same kind of connection is answered as always.
    let ok = exchange(app, get("/healthz", "")).await;
    assert_eq!((ok.status, ok.body.as_slice()), (200, b"ok".as_slice()));
}

both_engines!(refusals_before_routing_over_tls_are_problems_with_the_security_headers, async |app: &TestApp| {
    every_refusal_before_routing_is_a_rendered_problem(app).await;
    // HTTP/2 (negotiated by the client) meets the application's limits too.
    let response = app.client.get(format!("{}/healthz", app.url)).header("x-big", "b".repeat(20_000)).send().await;
    crate::helpers::assert_problem(response.unwrap(), 431, "headers-too-large").await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_routing_over_plain_http_are_problems_with_the_security_headers_on_sqlite() {
    let app = TestApp::spawn_with(Engine::Sqlite, |config| config.insecure_http = true).await.unwrap();
    every_refusal_before_routing_is_a_rendered_problem(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_routing_over_plain_http_are_problems_with_the_security_headers_on_postgres() {
    let Some(app) = TestApp::spawn_with(Engine::Postgres, |config| config.insecure_http = true).await else { return };
    every_refusal_before_routing_is_a_rendered_problem(&app).await;
}
