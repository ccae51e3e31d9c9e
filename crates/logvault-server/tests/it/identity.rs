//! Sign-in, sessions, CSRF, organisation access and the audit trail they leave, on both engines.

use logvault_core::audit::{self, INSTANCE_CHAIN};
use logvault_core::authz::Role;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{CANARY_EMAIL, CANARY_PASSWORD, PASSWORD, TestApp, assert_problem, member};

/// Signs in and returns (cookie header value, CSRF token).
async fn sign_in(app: &TestApp, email: &str) -> (String, String) {
    let response = app
        .client
        .post(format!("{}/api/v1/auth/login", app.url))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["__Host-logvault_session=", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_required"], false);
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

async fn get_as(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.client.get(format!("{}{path}", app.url)).header("cookie", cookie).send().await.unwrap()
}

fn without_request_id(mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("request_id");
    body
}

both_engines!(a_member_signs_in_sees_themselves_and_signs_out, async |app: &TestApp| {
    let (org_id, user_id) = member(app, "Acme", "ana@example.test", Role::Operator).await;
    let (cookie, csrf) = sign_in(app, "Ana@Example.test").await;

    let me: Value = get_as(app, "/api/v1/me", &cookie).await.json().await.unwrap();
    assert_eq!(me["user"]["id"], user_id);
    assert_eq!(me["user"]["email"], "ana@example.test");
    assert_eq!(me["memberships"][0]["organisation"]["id"], org_id);
    assert_eq!(me["memberships"][0]["role"], "operator");
    assert_eq!(me["csrf_token"], csrf);

    let logout = |token: Option<&str>| {
        let mut request = app.client.post(format!("{}/api/v1/auth/logout", app.url)).header("cookie", &cookie);
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    assert_problem(logout(None).await.unwrap(), 403, "csrf").await;
    assert_problem(logout(Some("forged")).await.unwrap(), 403, "csrf").await;
    assert_eq!(logout(Some(&csrf)).await.unwrap().status(), 204);
    assert_problem(get_as(app, "/api/v1/me", &cookie).await, 401, "unauthorized").await;

    let trail = app.server().store.audit_entries(INSTANCE_CHAIN, 0, 100).await.unwrap();
    let actions: Vec<(&str, &str)> = trail.iter().map(|e| (e.action.as_str(), e.outcome.as_str())).collect();
    let expected = [
        ("auth.sign_in", "success"),
        ("authz.denied", "denied"),
        ("authz.denied", "denied"),
        ("auth.sign_out", "success"),
    ];
    assert_eq!(actions, expected, "the two CSRF refusals are security events");
    assert_eq!(trail[0].target.as_deref(), Some(format!("user:{user_id}").as_str()));
});

both_engines!(unknown_email_wrong_password_and_malformed_email_are_indistinguishable, async |app: &TestApp| {
    let (_, user_id) = member(app, "Acme", CANARY_EMAIL, Role::Viewer).await;
    let mut bodies = Vec::new();
    for (email, password) in [
        (CANARY_EMAIL, "a wrong password that is long enough"),
        ("nobody@example.test", CANARY_PASSWORD),
        ("not an email", CANARY_PASSWORD),
    ] {
        let response = app
            .client
            .post(format!("{}/api/v1/auth/login", app.url))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert!(response.headers().get("set-cookie").is_none());
        bodies.push(without_request_id(assert_problem(response, 401, "invalid-credentials").await));
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
    let trail = app.server().store.audit_entries(INSTANCE_CHAIN, 0, 100).await.unwrap();
    assert_eq!(trail.len(), 3);
    assert!(trail.iter().all(|e| e.action == "auth.sign_in" && e.outcome.as_str() == "failure"));
    assert_eq!(trail[0].target.as_deref(), Some(format!("user:{user_id}").as_str()));
    assert_eq!(trail[1].target.as_deref(), Some("user:unknown"));
    for entry in &trail {
        let row = serde_json::to_string(entry).unwrap();
        assert!(!row.contains(CANARY_PASSWORD) && !row.contains(CANARY_EMAIL), "secret in audit row: {row}");
    }
});

both_engines!(a_non_member_gets_404_and_a_member_without_permission_403_with_an_audit_entry, async |app: &TestApp| {
    let (acme, _) = member(app, "Acme", "ana@example.test", Role::Viewer).await;
    let (globex, _) = member(app, "Globex", "bo@example.test", Role::Owner).await;
    let (ana, _) = sign_in(app, "ana@example.test").await;

    assert_eq!(get_as(app, &format!("/api/v1/orgs/{acme}/members"), &ana).await.status(), 200);
    let foreign = get_as(app, &format!("/api/v1/orgs/{globex}/members"), &ana).await;
    let foreign = without_request_id(assert_problem(foreign, 404, "not-found").await);
    let missing = get_as(app, "/api/v1/orgs/999999/members", &ana).await;
    assert_eq!(foreign, without_request_id(assert_problem(missing, 404, "not-found").await));
    // Both probes are security events on the instance chain, and nothing lands in the foreign organisation's chain.
    let instance = app.server().store.audit_entries(INSTANCE_CHAIN, 0, 1000).await.unwrap();
    for target in [format!("org:{globex}"), "org:999999".to_owned()] {
        assert!(
            instance.iter().any(|e| e.action == "authz.denied"
                && e.target.as_deref() == Some(target.as_str())
                && e.detail.as_deref() == Some("not-a-member")),
            "{target}: {instance:?}"
        );
    }
    assert!(app.server().store.audit_entries(globex, 0, 100).await.unwrap().iter().all(|e| e.action != "authz.denied"));

    assert_problem(get_as(app, &format!("/api/v1/orgs/{acme}/audit"), &ana).await, 403, "forbidden").await;
    let trail = app.server().store.audit_entries(acme, 0, 100).await.unwrap();
    let denied = trail.iter().find(|e| e.action == "authz.denied").expect("denial audited");
    assert_eq!(denied.detail.as_deref(), Some("role:viewer"));
    assert_eq!(denied.target.as_deref(), Some("permission:read_audit_log"));
});

both_engines!(an_auditor_reads_the_audit_log_of_their_organisation_only, async |app: &TestApp| {
    let (acme, _) = member(app, "Acme", "ana@example.test", Role::Auditor).await;
    let (globex, _) = member(app, "Globex", "bo@example.test", Role::Viewer).await;
    let (bo, _) = sign_in(app, "bo@example.test").await;
    // A denial in Globex lands in Globex's chain, not Acme's.
    get_as(app, &format!("/api/v1/orgs/{globex}/audit"), &bo).await;
    let (ana, _) = sign_in(app, "ana@example.test").await;
    let response = get_as(app, &format!("/api/v1/orgs/{acme}/audit?limit=10"), &ana).await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    let entries = page["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["chain_id"] == acme), "{entries:?}");
    assert_problem(get_as(app, &format!("/api/v1/orgs/{acme}/audit?limit=0"), &ana).await, 422, "validation-failed")
        .await;
    let chain = app.server().store.audit_entries(globex, 0, 100).await.unwrap();
    assert_eq!(audit::verify_chain(globex, &chain, app.server().store.audit_head(globex).await.unwrap()), Ok(()));
});

both_engines!(malformed_sign_in_bodies_are_problems_not_crashes, async |app: &TestApp| {
    let url = format!("{}/api/v1/auth/login", app.url);
    let syntax = app.client.post(&url).header("content-type", "application/json").body("{\"email\":").send().await;
    assert_problem(syntax.unwrap(), 400, "malformed-body").await;
    let shape = app.client.post(&url).json(&json!({"email": 5})).send().await.unwrap();
    assert_problem(shape, 422, "validation-failed").await;
    let media = app.client.post(&url).body("email=a").send().await.unwrap();
    assert_problem(media, 415, "unsupported-media-type").await;
});

/// A session made directly in the store, with chosen timestamps; returns its cookie.
async fn session_with_times(app: &TestApp, user_id: i64, last_seen_us: i64, expires_at_us: i64) -> String {
    let token = logvault_core::token::SecretToken::generate("").unwrap();
    app.server()
        .store
        .create_session(logvault_store::NewSession {
            token_hash: token.digest(),
            user_id,
            now_us: last_seen_us,
            expires_at_us,
            mfa_pending: false,
        })
        .await
        .unwrap();
    format!("__Host-logvault_session={}", token.expose())
}

both_engines!(a_session_ends_after_30_idle_minutes_and_12_hours_in_any_case, async |app: &TestApp| {
    let (_, user_id) = member(app, "Acme", "ana@example.test", Role::Viewer).await;
    let now = logvault_server::auth::now_us();
    let minute = 60 * 1_000_000;
    let fresh = session_with_times(app, user_id, now - 29 * minute, now + 60 * minute).await;
    assert_eq!(get_as(app, "/api/v1/me", &fresh).await.status(), 200);
    let idle = session_with_times(app, user_id, now - 31 * minute, now + 60 * minute).await;
    assert_problem(get_as(app, "/api/v1/me", &idle).await, 401, "unauthorized").await;
    let expired = session_with_times(app, user_id, now - minute, now - 1).await;
    assert_problem(get_as(app, "/api/v1/me", &expired).await, 401, "unauthorized").await;
    // The absolute limit is set at sign-in: 12 hours.
    let (cookie, _) = sign_in(app, "ana@example.test").await;
    let token = cookie.split_once('=').unwrap().1;
    let session = app.server().store.session_by_token_hash(&logvault_core::token::digest(token)).await.unwrap();
    assert_eq!(session.expires_at_us - session.created_at_us, 12 * 60 * minute);
});

both_engines!(a_csrf_token_of_another_session_is_refused, async |app: &TestApp| {
    member(app, "Acme", "ana@example.test", Role::Viewer).await;
    let (first, _) = sign_in(app, "ana@example.test").await;
    let (_, second_csrf) = sign_in(app, "ana@example.test").await;
    let response = app
        .client
        .post(format!("{}/api/v1/auth/logout", app.url))
        .header("cookie", &first)
        .header("x-csrf-token", second_csrf)
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "csrf").await;
});
