//! TLS: 1.3 and 1.2 with AEAD, forward-secret suites; 1.1 and below, and weak suites, refused.

use std::time::Duration;

use logvault_store::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::TestApp;

/// A minimal ClientHello record: `version` in the hello, the given suites, no extensions.
fn client_hello(version: [u8; 2], suites: &[u16]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version);
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // empty session id
    body.extend_from_slice(&u16::try_from(suites.len() * 2).unwrap().to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null only
    let mut handshake = vec![1]; // client_hello
    handshake.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

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
async fn tls_1_1_and_1_0_hellos_are_refused_with_an_alert() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    // Strong suites, old versions: the version alone must be refused.
    let suites = [0xc02f, 0xc02b, 0xc013, 0x002f];
    for version in [[3, 2], [3, 1], [3, 0]] {
        let answer = answer_to(&app, &client_hello(version, &suites)).await;
        assert!(!is_server_hello(&answer), "version {version:?} got a ServerHello");
        assert!(answer.is_empty() || answer[0] == 0x15, "expected an alert, got {answer:?}");
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_1_2_hello_with_only_cbc_or_static_rsa_suites_is_refused() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    // TLS_RSA_WITH_AES_128_GCM_SHA256 (no forward secrecy), ECDHE-RSA-AES128-SHA and AES256-SHA (CBC).
    let answer = answer_to(&app, &client_hello([3, 3], &[0x009c, 0xc013, 0x0035])).await;
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
