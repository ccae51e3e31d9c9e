//! Email one-time passcode sign-in end to end, through a real SMTP conversation with the in-test sink; the
//! organisation policy `require_mfa`; and the lockout email.

use std::time::Duration;

use logvault_core::authz::Role;
use logvault_store::OrgScope;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{CANARY_EMAIL, Caller, PASSWORD, TestApp, assert_problem, login, member, sign_in};
use crate::mfa::{away_from_a_step_boundary, enrolled_member};

/// Asks for a code for `email`; returns the binding cookie the browser was given.
async fn request_code(app: &TestApp, email: &str) -> String {
    let response = app
        .client
        .post(format!("{}/api/v1/auth/otp/request", app.url))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["__Host-logvault_otp=", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

async fn verify(app: &TestApp, binding: Option<&str>, email: &str, code: &str) -> reqwest::Response {
    let mut request =
        app.client.post(format!("{}/api/v1/auth/otp/verify", app.url)).json(&json!({"email": email, "code": code}));
    if let Some(binding) = binding {
        request = request.header("cookie", binding);
    }
    request.send().await.unwrap()
}

/// The code in the next email to `email`.
async fn code_from_mail(app: &TestApp, email: &str) -> String {
    let mail = app.mail.next_message(Duration::from_secs(10)).await.expect("a sign-in code email");
    assert_eq!(mail.rcpt_to, [email.to_lowercase()]);
    let body = mail.text_body();
    body.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 8)
        .unwrap_or_else(|| panic!("an eight-digit code in: {body}"))
        .to_owned()
}

both_engines!(an_email_code_signs_in_once_and_only_in_the_browser_that_asked, async |app: &TestApp| {
    member(app, "Acme", CANARY_EMAIL, Role::Viewer).await;
    let binding = request_code(app, CANARY_EMAIL).await;
    let code = code_from_mail(app, CANARY_EMAIL).await;

    // Without the binding cookie, or with another browser's, the right code is refused.
    assert_problem(verify(app, None, CANARY_EMAIL, &code).await, 401, "invalid-code").await;
    let other_browser = request_code(app, CANARY_EMAIL).await;
    assert!(app.mail.next_message(Duration::from_millis(500)).await.is_none(), "one code per minute at most");
    assert_problem(verify(app, Some(&other_browser), CANARY_EMAIL, &code).await, 401, "invalid-code").await;

    let response = verify(app, Some(&binding), CANARY_EMAIL, &code).await;
    assert_eq!(response.status(), 200);
    let cleared = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("__Host-logvault_otp=;"));
    assert!(cleared, "the binding cookie is cleared");
    let session = Caller::from_sign_in(response).await;
    let me: Value = session.get(app, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["user"]["email"], CANARY_EMAIL);

    // Single use.
    assert_problem(verify(app, Some(&binding), CANARY_EMAIL, &code).await, 401, "invalid-code").await;

    // The code is in no audit row.
    let store = &app.server().store;
    for chain in store.audit_chain_ids().await.unwrap() {
        for entry in store.audit_entries(chain, 0, 10_000).await.unwrap() {
            assert!(!format!("{entry:?}").contains(&code), "{entry:?}");
        }
    }
});

both_engines!(an_unknown_address_gets_the_same_answer_and_no_email, async |app: &TestApp| {
    member(app, "Acme", "ana@acme.test", Role::Viewer).await;
    let known =
        app.client.post(format!("{}/api/v1/auth/otp/request", app.url)).json(&json!({"email": "ana@acme.test"}));
    let known: Value = known.send().await.unwrap().json().await.unwrap();
    code_from_mail(app, "ana@acme.test").await;
    let unknown =
        app.client.post(format!("{}/api/v1/auth/otp/request", app.url)).json(&json!({"email": "nobody@acme.test"}));
    let unknown = unknown.send().await.unwrap();
    assert_eq!(unknown.status(), 202);
    assert_eq!(unknown.json::<Value>().await.unwrap(), known);
    assert!(app.mail.next_message(Duration::from_millis(500)).await.is_none());
    assert_problem(verify(app, None, "nobody@acme.test", "12345678").await, 401, "invalid-code").await;
});

both_engines!(at_most_five_wrong_email_codes_per_step, async |app: &TestApp| {
    let (_, user_id) = member(app, "Acme", "ana@acme.test", Role::Viewer).await;
    let binding = request_code(app, "ana@acme.test").await;
    let code = code_from_mail(app, "ana@acme.test").await;
    away_from_a_step_boundary(20).await;
    let wrong = if code == "00000000" { "11111111" } else { "00000000" };
    for _ in 0..5 {
        assert_problem(verify(app, Some(&binding), "ana@acme.test", wrong).await, 401, "invalid-code").await;
    }
    let throttled = verify(app, Some(&binding), "ana@acme.test", &code).await;
    assert!(throttled.headers().contains_key("retry-after"));
    assert_problem(throttled, 429, "rate-limited").await;
    let entries = app.server().store.audit_entries(logvault_core::audit::INSTANCE_CHAIN, 0, 10_000).await.unwrap();
    let target = format!("user:{user_id}");
    assert_eq!(
        entries.iter().filter(|e| e.action == "auth.mfa_throttled" && e.target.as_deref() == Some(&target)).count(),
        1
    );
    let failures = entries
        .iter()
        .filter(|e| e.action == "auth.sign_in" && e.detail.as_deref() == Some("factor:email_code"))
        .filter(|e| e.outcome == logvault_core::audit::Outcome::Failure)
        .count();
    assert_eq!(failures, 5);
});

both_engines!(require_mfa_refuses_an_email_code_alone_and_makes_members_enrol, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "ana@acme.test", Role::Owner).await;
    let ana = sign_in(app, "ana@acme.test").await;
    // An owner without a second factor cannot require one (it would lock them out).
    let org_path = format!("/api/v1/orgs/{org}");
    let refused = ana.send(app, reqwest::Method::PATCH, &org_path, Some(json!({"require_mfa": true}))).await;
    assert_problem(refused, 422, "validation-failed").await;
    app.server().store.set_require_mfa(&OrgScope::for_operator(org), true).await.unwrap();

    // Email code alone: refused, and audited as such.
    let binding = request_code(app, "ana@acme.test").await;
    let code = code_from_mail(app, "ana@acme.test").await;
    assert_problem(verify(app, Some(&binding), "ana@acme.test", &code).await, 403, "second-factor-required").await;

    // Password: signed in, but the organisation stays closed until a second factor is enrolled.
    let login = login(app, "ana@acme.test", PASSWORD).await;
    let body_text = login.text().await.unwrap();
    let body: Value = serde_json::from_str(&body_text).unwrap();
    assert_eq!((body["mfa_required"].as_bool(), body["mfa_enrolment_required"].as_bool()), (Some(false), Some(true)));
    assert_problem(ana.get(app, &format!("/api/v1/orgs/{org}")).await, 403, "mfa-enrolment-required").await;
    let me: Value = ana.get(app, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["mfa_enrolment_required"], true);
});

both_engines!(under_require_mfa_a_totp_user_follows_an_email_code_with_the_second_factor, async |app: &TestApp| {
    let (_, recovery_codes) = enrolled_member(app, "bo@acme.test").await;
    let store = &app.server().store;
    let bo = store.user_credentials(&logvault_core::Email::parse("bo@acme.test").unwrap()).await.unwrap().user;
    let membership = &store.memberships(bo.id).await.unwrap()[0];
    store.set_require_mfa(&OrgScope::for_operator(membership.organisation.id), true).await.unwrap();

    let binding = request_code(app, "bo@acme.test").await;
    let code = code_from_mail(app, "bo@acme.test").await;
    let response = verify(app, Some(&binding), "bo@acme.test", &code).await;
    let pending = Caller::from_sign_in_pending(response).await;
    assert_problem(pending.get(app, "/api/v1/me").await, 401, "unauthorized").await;
    // (The enrolment used this step's TOTP code; a recovery code is the second factor that needs no waiting.)
    let second = pending.post(app, "/api/v1/auth/mfa", json!({"code": recovery_codes[0]})).await;
    let full = Caller::from_sign_in(second).await;
    let org_path = format!("/api/v1/orgs/{}", membership.organisation.id);
    assert_eq!(full.get(app, &org_path).await.status(), 200);
});

both_engines!(a_lockout_emails_the_owner_of_the_account, async |app: &TestApp| {
    member(app, "Acme", "ana@acme.test", Role::Viewer).await;
    for _ in 0..10 {
        let response = login(app, "ana@acme.test", "a wrong password, quite long").await;
        assert_eq!(response.status(), 401);
    }
    let mail = app.mail.next_message(Duration::from_secs(10)).await.expect("a lockout email");
    assert_eq!(mail.rcpt_to, ["ana@acme.test"]);
    assert!(mail.subject().unwrap().contains("locked"), "{:?}", mail.subject());
    assert!(mail.text_body().contains("15 minutes"), "{}", mail.text_body());
    assert!(app.mail.next_message(Duration::from_millis(300)).await.is_none(), "one email per lockout");
});

both_engines!(
    asking_again_keeps_the_first_code_working_and_unknown_addresses_are_limited_alike,
    async |app: &TestApp| {
        member(app, "Acme", "ana@acme.test", Role::Viewer).await;
        let binding = request_code(app, "ana@acme.test").await;
        let code = code_from_mail(app, "ana@acme.test").await;
        // The same browser asks again (the email is slow, say): it keeps its binding, and the code still works.
        let again = app
            .client
            .post(format!("{}/api/v1/auth/otp/request", app.url))
            .header("cookie", &binding)
            .json(&json!({"email": "ana@acme.test"}))
            .send()
            .await
            .unwrap();
        let again = again.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        assert_eq!(again, binding);
        assert_eq!(verify(app, Some(&binding), "ana@acme.test", &code).await.status(), 200);

        // Five wrong codes, then 429 — for an address with no account exactly as for one with an account.
        member(app, "Acme", "bo@acme.test", Role::Viewer).await;
        away_from_a_step_boundary(20).await;
        for email in ["bo@acme.test", "nobody@acme.test"] {
            for _ in 0..5 {
                assert_problem(verify(app, Some(&binding), email, "00000001").await, 401, "invalid-code").await;
            }
            assert_problem(verify(app, Some(&binding), email, "00000001").await, 429, "rate-limited").await;
        }
    }
);
