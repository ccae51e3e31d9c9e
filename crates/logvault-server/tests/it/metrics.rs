//! /metrics is never public by default; a bearer token or a loopback listener opens it.

use logvault_store::Engine;
use secrecy::SecretString;

use crate::helpers::{CANARY_TOKEN, TestApp, assert_problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_served_without_configuration() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    assert_problem(app.get("/metrics").await, 404, "not-found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_configured_bearer_token() {
    let token = "metrics-token-for-tests-0123456789";
    let app = TestApp::spawn_with(Engine::Sqlite, |config| {
        config.metrics.token = Some(SecretString::from(token.to_owned()));
    })
    .await
    .unwrap();
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/no-such-route").await.status(), 404);
    let made_up = app.client.request("M176302".parse().unwrap(), format!("{}/healthz", app.url)).send().await.unwrap();
    assert_eq!(made_up.status(), 405);
    assert_problem(app.get("/metrics").await, 401, "unauthorized").await;
    let wrong = app.client.get(format!("{}/metrics", app.url)).bearer_auth(CANARY_TOKEN).send().await.unwrap();
    assert_problem(wrong, 401, "unauthorized").await;

    let response = app.client.get(format!("{}/metrics", app.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"logvault_http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{text}");
    assert!(text.contains("logvault_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains(r#"method="GET",route="<unmatched>",status="404""#), "{text}");
    assert!(text.contains(r#"method="OTHER",route="/healthz",status="405""#), "{text}");
    assert!(!text.contains("M176302"), "a made-up method became a label: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_metrics_listener_serves_metrics_without_a_token() {
    let app = TestApp::spawn_with(Engine::Sqlite, |config| {
        config.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
    .unwrap();
    assert_eq!(app.get("/healthz").await.status(), 200);
    // Still not on the main listener.
    assert_problem(app.get("/metrics").await, 404, "not-found").await;
    let addr = app.server().metrics_addr.unwrap();
    assert!(addr.ip().is_loopback());
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"route="/healthz""#), "{text}");
}
