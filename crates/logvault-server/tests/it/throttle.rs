//! Brute-force protection on both engines: account lockout and per-address throttling, with their audit entries.

use logvault_core::audit::INSTANCE_CHAIN;
use logvault_core::authz::Role;
use logvault_core::{Email, OrgName, password};
use logvault_store::{Engine, OrgScope};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem};

const PASSWORD: &str = "correct horse battery staple on a cold morning";

async fn user(app: &TestApp, email: &str) -> i64 {
    let store = &app.server().store;
    let org = match store.organisation_by_name(&OrgName::parse("Acme").unwrap()).await {
        Ok(org) => org,
        Err(_) => store.create_organisation(&OrgName::parse("Acme").unwrap()).await.unwrap(),
    };
    let hash = password::hash_password(PASSWORD).unwrap();
    let user = store.create_user(&Email::parse(email).unwrap(), "T", Some(hash.as_str()), 1).await.unwrap();
    store.add_member(&OrgScope::for_operator(org.id), user.id, Role::Viewer, 1).await.unwrap();
    user.id
}

async fn attempt(app: &TestApp, email: &str, password: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request =
        app.client.post(format!("{}/api/v1/auth/login", app.url)).json(&json!({"email": email, "password": password}));
    if let Some(addr) = forwarded_for {
        request = request.header("x-forwarded-for", addr);
    }
    request.send().await.unwrap()
}

fn without_request_id(mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("request_id");
    body
}

async fn ten_failures_lock_the_account_and_only_that_account(engine: Engine) {
    let Some(app) = TestApp::spawn(engine).await else { return };
    let ana = user(&app, "ana@example.test").await;
    user(&app, "bo@example.test").await;
    let mut wrong_body = Value::Null;
    for _ in 0..10 {
        let response = attempt(&app, "ana@example.test", "not the password at all, sorry", None).await;
        wrong_body = without_request_id(assert_problem(response, 401, "invalid-credentials").await);
    }
    // Locked: the right password is refused exactly like a wrong one.
    let locked = attempt(&app, "ana@example.test", PASSWORD, None).await;
    assert_eq!(without_request_id(assert_problem(locked, 401, "invalid-credentials").await), wrong_body);
    // Another account from the same address is unaffected.
    assert_eq!(attempt(&app, "bo@example.test", PASSWORD, None).await.status(), 200);

    let trail = app.server().store.audit_entries(INSTANCE_CHAIN, 0, 100).await.unwrap();
    let lockouts: Vec<_> = trail.iter().filter(|e| e.action == "auth.lockout").collect();
    assert_eq!(lockouts.len(), 1, "{trail:?}");
    assert_eq!(lockouts[0].target.as_deref(), Some(format!("user:{ana}").as_str()));
    assert_eq!(lockouts[0].detail.as_deref(), Some("minutes:15"));
    let refused_while_locked = trail.iter().filter(|e| e.detail.as_deref() == Some("factor:password;locked")).count();
    assert_eq!(refused_while_locked, 1);
    let counters = app.server().store.account_counters(ana).await.unwrap();
    assert_eq!(counters.consecutive_failures, 10, "a refusal while locked is not counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_failures_lock_the_account_and_only_that_account_on_sqlite() {
    ten_failures_lock_the_account_and_only_that_account(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_failures_lock_the_account_and_only_that_account_on_postgres() {
    ten_failures_lock_the_account_and_only_that_account(Engine::Postgres).await;
}

async fn a_hundred_failures_throttle_that_address_only(engine: Engine) {
    let Some(app) =
        TestApp::spawn_with(engine, |config| config.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await
    else {
        return;
    };
    user(&app, "ana@example.test").await;
    for i in 0..100 {
        // Unknown accounts: only the address is counted.
        let response = attempt(&app, &format!("nobody{i}@example.test"), "wrong", Some("203.0.113.7")).await;
        assert_eq!(response.status(), 401, "attempt {}", i + 1);
    }
    let throttled = attempt(&app, "ana@example.test", PASSWORD, Some("198.51.100.1, 203.0.113.7")).await;
    let retry_after: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=865).contains(&retry_after), "one failure refills in 864 s: {retry_after}");
    assert_problem(throttled, 429, "rate-limited").await;
    // Another address, and the right password from it, are unaffected.
    assert_eq!(attempt(&app, "ana@example.test", PASSWORD, Some("203.0.113.8")).await.status(), 200);
    let trail = app.server().store.audit_entries(INSTANCE_CHAIN, 0, 200).await.unwrap();
    assert_eq!(trail.iter().filter(|e| e.action == "auth.client_throttled").count(), 1);
    for entry in &trail {
        let row = serde_json::to_string(entry).unwrap();
        assert!(!row.contains("203.0.113"), "a client address in the audit log: {row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_failures_throttle_that_address_only_on_sqlite() {
    a_hundred_failures_throttle_that_address_only(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_failures_throttle_that_address_only_on_postgres() {
    a_hundred_failures_throttle_that_address_only(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    for i in 0..100 {
        // A different forged address each time: without a trusted proxy they all count against the real peer.
        let response = attempt(&app, "nobody@example.test", "wrong", Some(&format!("198.51.100.{i}"))).await;
        assert_eq!(response.status(), 401);
    }
    assert_problem(attempt(&app, "nobody@example.test", "wrong", Some("192.0.2.1")).await, 429, "rate-limited").await;
}
