//! Serials in paths are parsed once, as a type, before any query: a serial that cannot exist (a NUL byte, a space,
//! too long, not UTF-8) is the same 404 problem on both engines as one that is not registered. Serials are unique
//! without regard to letter case, and keep the form they were registered with.

use logvault_core::authz::Role;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Caller, PASSWORD, TestApp, assert_problem, member, sign_in};

/// Serials no device can have, percent-encoded as a client would send them.
const IMPOSSIBLE_SERIALS: [&str; 6] =
    ["ACME-0001%00", "%00", "ACME%200001", "ACME_0001", "%FF%FE", "A23456789012345678901234567890123"];

both_engines!(an_impossible_serial_in_any_device_path_is_a_404_problem_without_a_query, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
    let owner = sign_in(app, "owner@acme.test").await;
    let created = owner.post(app, &format!("/api/v1/orgs/{org}/devices"), json!({"serial": "ACME-0001"})).await;
    assert_eq!(created.status(), 201);
    for serial in IMPOSSIBLE_SERIALS {
        for path in [
            format!("/api/v1/devices/{serial}"),
            format!("/api/v1/devices/{serial}/measurements"),
            format!("/api/v1/devices/{serial}/settings"),
            format!("/api/v1/devices/{serial}/statistics?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"),
            format!("/api/v1/devices/{serial}/export?format=csv"),
        ] {
            assert_problem(owner.get(app, &path).await, 404, "not-found").await;
        }
        let reason = json!({"password": PASSWORD, "reason": "checking an impossible serial"});
        for path in [
            format!("/api/v1/orgs/{org}/devices/{serial}/keys"),
            format!("/api/v1/orgs/{org}/devices/{serial}/key-export"),
        ] {
            assert_problem(owner.post(app, &path, reason.clone()).await, 404, "not-found").await;
        }
        let settings = json!({"alarm_limits": []});
        let path = format!("/api/v1/devices/{serial}/settings");
        let put = owner.send(app, reqwest::Method::PUT, &path, Some(settings)).await;
        assert_problem(put, 404, "not-found").await;
    }
    // The registered serial still answers, and the server keeps serving.
    assert_eq!(owner.get(app, "/api/v1/devices/ACME-0001").await.status(), 200);
    assert_eq!(app.get("/healthz").await.status(), 200);
});

both_engines!(serials_differing_only_in_letter_case_cannot_both_be_registered, async |app: &TestApp| {
    let (acme, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
    let (other, _) = member(app, "Other", "owner@other.test", Role::Owner).await;
    let acme_owner = sign_in(app, "owner@acme.test").await;
    let other_owner = sign_in(app, "owner@other.test").await;
    let (acme_devices, other_devices) =
        (format!("/api/v1/orgs/{acme}/devices"), format!("/api/v1/orgs/{other}/devices"));
    let created = acme_owner.post(app, &acme_devices, json!({"serial": "Acme-0001"})).await;
    assert_eq!(created.status(), 201);
    for look_alike in ["ACME-0001", "acme-0001", "aCmE-0001"] {
        let squatted = other_owner.post(app, &other_devices, json!({"serial": look_alike})).await;
        assert_problem(squatted, 409, "conflict").await;
        let again = acme_owner.post(app, &acme_devices, json!({"serial": look_alike})).await;
        assert_problem(again, 409, "conflict").await;
    }
    // The display form is the registered one, and lookups are exact.
    let shown: Value = acme_owner.get(app, "/api/v1/devices/Acme-0001").await.json().await.unwrap();
    assert_eq!(shown["serial"], "Acme-0001");
    assert_problem(acme_owner.get(app, "/api/v1/devices/ACME-0001").await, 404, "not-found").await;

    // A manufacturer's upload is held to the same rule, in both directions.
    let secret = logvault_core::token::SecretToken::generate("lvm_").unwrap();
    let now = logvault_server::auth::now_us();
    app.server().store.create_manufacturer_token("Line 1", &secret.digest(), now, now + 86_400_000_000).await.unwrap();
    let factory = Caller::bearer(secret.expose());
    let upload = |serial: &str| json!({"devices": [{"serial": serial, "key_hex": "00112233445566778899aabbccddeeff", "claim_code": "QX7T-MM2P-88KD"}]});
    let uploads = "/api/v1/manufacturing/devices";
    assert_problem(factory.post(app, uploads, upload("ACME-0001")).await, 409, "conflict").await;
    assert_eq!(factory.post(app, uploads, upload("Mf-0001")).await.status(), 201);
    assert_problem(factory.post(app, uploads, upload("MF-0001")).await, 409, "conflict").await;
    let registered = other_owner.post(app, &other_devices, json!({"serial": "mf-0001"})).await;
    assert_problem(registered, 409, "conflict").await;
});
