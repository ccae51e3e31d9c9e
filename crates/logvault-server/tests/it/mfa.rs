//! TOTP enrolment and two-step sign-in, with codes computed in the test by an independent implementation
//! (RustCrypto HMAC-SHA-1 here, aws-lc-rs in the server), on both engines.

use hmac::{Hmac, KeyInit, Mac};
use logvault_core::audit::INSTANCE_CHAIN;
use logvault_core::authz::Role;
use logvault_core::{Email, OrgName, password};
use logvault_store::OrgScope;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{TestApp, assert_problem};

const PASSWORD: &str = "correct horse battery staple on a cold morning";

/// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), written out independently of the server's code.
pub(crate) fn totp_at(secret: &[u8], unix: u64) -> String {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(&(unix / 30).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary =
        u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:06}", binary % 1_000_000)
}

#[test]
fn the_independent_totp_matches_the_rfc_6238_sha1_vectors() {
    let secret = b"12345678901234567890";
    for (time, eight_digits) in
        [(59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924"), (2000000000, "69279037")]
    {
        assert_eq!(totp_at(secret, time), eight_digits[2..]);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Waits until at least `margin` seconds remain in the current 30-second step, so a test's codes stay valid.
pub(crate) async fn away_from_a_step_boundary(margin: u64) {
    let left = 30 - now() % 30;
    if left < margin {
        tokio::time::sleep(std::time::Duration::from_secs(left + 1)).await;
    }
}

struct Client<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
}

impl Client<'_> {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.app
            .client
            .post(format!("{}{path}", self.app.url))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.app.client.get(format!("{}{path}", self.app.url)).header("cookie", &self.cookie).send().await.unwrap()
    }
}

async fn sign_in<'a>(app: &'a TestApp, email: &str) -> (Client<'a>, bool) {
    let response =
        app.client.post(format!("{}/api/v1/auth/login", app.url)).json(&json!({"email": email, "password": PASSWORD}));
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let client = Client { app, cookie, csrf: body["csrf_token"].as_str().unwrap().to_owned() };
    (client, body["mfa_required"].as_bool().unwrap())
}

/// The session cookie and CSRF token from a successful second-factor response.
async fn completed<'a>(app: &'a TestApp, response: reqwest::Response) -> Client<'a> {
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    Client { app, cookie, csrf: body["csrf_token"].as_str().unwrap().to_owned() }
}

/// Creates a member and enrols TOTP through the API; returns the secret and the recovery codes.
pub(crate) async fn enrolled_member(app: &TestApp, email: &str) -> (Vec<u8>, Vec<String>) {
    let store = &app.server().store;
    let org = store.create_organisation(&OrgName::parse(&format!("Org of {email}")).unwrap()).await.unwrap();
    let hash = password::hash_password(PASSWORD).unwrap();
    let user = store.create_user(&Email::parse(email).unwrap(), "T", Some(hash.as_str()), 1).await.unwrap();
    store.add_member(&OrgScope::for_operator(org.id), user.id, Role::Operator, 1).await.unwrap();

    let (client, mfa_required) = sign_in(app, email).await;
    assert!(!mfa_required, "no second factor yet");
    let refused = client.post("/api/v1/me/mfa/totp", json!({"password": "not my password, an impostor"})).await;
    assert_problem(refused, 401, "invalid-credentials").await;
    let enrolment: Value =
        client.post("/api/v1/me/mfa/totp", json!({"password": PASSWORD})).await.json().await.unwrap();
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Logvault:"), "{uri}");
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"));
    let base32 = enrolment["secret_base32"].as_str().unwrap();
    assert!(uri.contains(&format!("secret={base32}")), "{uri}");
    let secret = data_encoding::BASE32_NOPAD.decode(base32.as_bytes()).unwrap();

    away_from_a_step_boundary(10).await;
    let wrong = client.post("/api/v1/me/mfa/totp/confirm", json!({"code": "000000"})).await;
    if totp_at(&secret, now()) != "000000" {
        assert_problem(wrong, 401, "invalid-code").await;
    }
    let confirm = client.post("/api/v1/me/mfa/totp/confirm", json!({"code": totp_at(&secret, now())})).await;
    assert_eq!(confirm.status(), 200);
    let body: Value = confirm.json().await.unwrap();
    let codes: Vec<String> =
        body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

both_engines!(a_totp_user_signs_in_in_two_steps_and_a_used_code_is_refused, async |app: &TestApp| {
    let (secret, _) = enrolled_member(app, "ana@example.test").await;

    let (pending, mfa_required) = sign_in(app, "ana@example.test").await;
    assert!(mfa_required);
    // A pending session opens nothing else.
    assert_problem(pending.get("/api/v1/me").await, 401, "unauthorized").await;
    // The code used at enrolment (this step) is refused on reuse; the next step's code (clock skew) is accepted.
    let reused = pending.post("/api/v1/auth/mfa", json!({"code": totp_at(&secret, now())})).await;
    assert_problem(reused, 401, "invalid-code").await;
    let next_code = totp_at(&secret, now() + 30);
    let full = completed(app, pending.post("/api/v1/auth/mfa", json!({"code": next_code})).await).await;
    assert_ne!(full.cookie, pending.cookie, "the session was not rotated");
    assert_eq!(full.get("/api/v1/me").await.status(), 200);
    assert_problem(pending.get("/api/v1/me").await, 401, "unauthorized").await;

    // The same code again, on a new sign-in: refused.
    let (again, _) = sign_in(app, "ana@example.test").await;
    assert_problem(again.post("/api/v1/auth/mfa", json!({"code": next_code})).await, 401, "invalid-code").await;

    let trail = app.server().store.audit_entries(INSTANCE_CHAIN, 0, 100).await.unwrap();
    assert!(trail.iter().any(|e| e.action == "mfa.enrol"));
    assert!(trail.iter().any(|e| e.action == "auth.sign_in" && e.detail.as_deref() == Some("factor:totp")));
    for entry in &trail {
        let row = serde_json::to_string(entry).unwrap();
        assert!(!row.contains(&next_code), "a code in the audit log: {row}");
    }
});

both_engines!(a_recovery_code_works_once, async |app: &TestApp| {
    let (_, codes) = enrolled_member(app, "bo@example.test").await;
    let (pending, _) = sign_in(app, "bo@example.test").await;
    let code = codes[3].to_lowercase().replace('-', " ");
    completed(app, pending.post("/api/v1/auth/mfa", json!({"code": code})).await).await;
    let (again, _) = sign_in(app, "bo@example.test").await;
    assert_problem(again.post("/api/v1/auth/mfa", json!({"code": codes[3]})).await, 401, "invalid-code").await;
    completed(app, again.post("/api/v1/auth/mfa", json!({"code": codes[4]})).await).await;
});

both_engines!(at_most_five_wrong_codes_per_step_then_even_the_right_code_waits, async |app: &TestApp| {
    let (secret, _) = enrolled_member(app, "cy@example.test").await;
    let (pending, _) = sign_in(app, "cy@example.test").await;
    away_from_a_step_boundary(15).await;
    let right = totp_at(&secret, now() + 30);
    let wrong = if right == "123456" { "654321" } else { "123456" };
    for _ in 0..5 {
        assert_problem(pending.post("/api/v1/auth/mfa", json!({"code": wrong})).await, 401, "invalid-code").await;
    }
    let throttled = pending.post("/api/v1/auth/mfa", json!({"code": right})).await;
    assert!(throttled.headers().contains_key("retry-after"));
    assert_problem(throttled, 429, "rate-limited").await;
    let trail = app.server().store.audit_entries(INSTANCE_CHAIN, 0, 100).await.unwrap();
    assert_eq!(trail.iter().filter(|e| e.action == "auth.mfa_throttled").count(), 1);
});
