//! TLS: 1.3 and 1.2 with AEAD, forward-secret suites; 1.1 and below, and weak suites, refused.

use std::time::Duration;

use logvault_store::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::TestApp;

/// A TLS ClientHello record offering `version` and `suites`, with the extensions a real TLS 1.2 client sends
/// (groups, point formats, signature algorithms, extended master secret, secure renegotiation), so that the only
/// reasons to refuse it are the version and the suites.
fn client_hello(version: [u8; 2], suites: &[u16]) -> Vec<u8> {
    fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        out.extend_from_slice(data);
        out
    }
    let mut extensions = Vec::new();
    extensions.extend(extension(0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17])); // supported_groups: x25519, P-256
    extensions.extend(extension(0x000b, &[1, 0])); // ec_point_formats: uncompressed
    extensions.extend(extension(0x000d, &[0, 6, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01])); // ECDSA-P256, PSS, PKCS1
    extensions.extend(extension(0x0017, &[])); // extended_master_secret
    extensions.extend(extension(0xff01, &[0])); // renegotiation_info (empty)

    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // empty session id
    body.extend_from_slice(&u16::try_from(suites.len() * 2).unwrap().to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null only
    body.extend_from_slice(&u16::try_from(extensions.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// ECDHE-ECDSA-AES128-GCM-SHA256 and ECDHE-ECDSA-CHACHA20-POLY1305: strong suites for our ECDSA certificate.
const STRONG_SUITES: [u16; 2] = [0xc02b, 0xcca9];

/// Sends a hello and returns the first bytes the server answers (empty if it closed the connection).
async fn answer_to(app: &TestApp, hello: &[u8]) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(app.server().local_addr).await.unwrap();
    stream.write_all(hello).await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer)).await.unwrap().unwrap_or(0);
    answer.truncate(n);
    answer
}

fn is_server_hello(answer: &[u8]) -> bool {
    answer.len() > 5 && answer[0] == 0x16 && answer[5] == 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hand_made_tls_1_2_hello_with_strong_suites_gets_a_server_hello() {
    // The control for the refusals below: the same hello, only version or suites changed, is accepted.
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let answer = answer_to(&app, &client_hello([3, 3], &STRONG_SUITES)).await;
    assert!(is_server_hello(&answer), "expected a ServerHello, got {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_1_and_1_0_hellos_are_refused_with_an_alert() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    // Strong suites, old versions: the version alone must be refused.
    for version in [[3, 2], [3, 1], [3, 0]] {
        let answer = answer_to(&app, &client_hello(version, &STRONG_SUITES)).await;
        assert!(!is_server_hello(&answer), "version {version:?} got a ServerHello");
        assert!(answer.is_empty() || answer[0] == 0x15, "expected an alert, got {answer:?}");
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_1_2_hello_with_only_cbc_or_static_rsa_suites_is_refused() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    // RSA-AES128-GCM (no forward secrecy), ECDHE-ECDSA-AES128-SHA and ECDHE-ECDSA-AES256-SHA384 (CBC), AES256-SHA.
    let answer = answer_to(&app, &client_hello([3, 3], &[0x009c, 0xc009, 0xc024, 0x0035])).await;
    assert!(!is_server_hello(&answer), "weak suites got a ServerHello");
    assert!(answer.is_empty() || answer[0] == 0x15, "expected an alert, got {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_2_and_1_3_clients_are_both_served() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let cert = reqwest::Certificate::from_pem(app.server().certificate_pem.as_ref().unwrap().as_bytes()).unwrap();
    for (min, max) in [
        (reqwest::tls::Version::TLS_1_2, reqwest::tls::Version::TLS_1_2),
        (reqwest::tls::Version::TLS_1_3, reqwest::tls::Version::TLS_1_3),
    ] {
        let client = reqwest::Client::builder()
            .tls_certs_only([cert.clone()])
            .tls_version_min(min)
            .tls_version_max(max)
            .build()
            .unwrap();
        let response = client.get(format!("{}/healthz", app.url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_not_spoken_on_the_tls_port() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let url = app.url.replace("https://", "http://");
    let result = reqwest::Client::new().get(format!("{url}/healthz")).send().await;
    assert!(result.map(|r| !r.status().is_success()).unwrap_or(true), "plain HTTP got a successful answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_http_serves_plain_http_only_when_asked() {
    let app = TestApp::spawn_with(Engine::Sqlite, |config| config.insecure_http = true).await.unwrap();
    assert!(app.url.starts_with("http://"));
    assert!(app.server().certificate_pem.is_none());
    assert_eq!(app.get("/healthz").await.status(), 200);
}
