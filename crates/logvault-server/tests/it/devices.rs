//! Registering devices: the key is returned once and kept only sealed; devices are seen by their organisation (and
//! site) only.

use logvault_core::authz::Role;
use logvault_core::custody;
use logvault_store::OrgScope;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Caller, TestApp, assert_problem, member, sign_in};

both_engines!(a_registered_device_s_key_is_shown_once_and_kept_only_sealed, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "op@acme.test", Role::Operator).await;
    let operator = sign_in(app, "op@acme.test").await;
    let devices = format!("/api/v1/orgs/{org}/devices");
    let response = operator.post(app, &devices, json!({"serial": "LV-0001", "name": "Vaccine fridge 1"})).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let key_hex = created["key_hex"].as_str().unwrap().to_owned();
    assert!(key_hex.len() == 32 && key_hex.bytes().all(|b| b.is_ascii_hexdigit()), "{key_hex}");
    assert_eq!(created["serial"], "LV-0001");

    // Never again: not in the listing, not by serial.
    let listed = operator.get(app, &devices).await.text().await.unwrap();
    assert!(listed.contains("LV-0001") && !listed.contains(&key_hex), "{listed}");
    let one = operator.get(app, "/api/v1/devices/LV-0001").await.text().await.unwrap();
    assert!(one.contains("Vaccine fridge 1") && !one.contains(&key_hex), "{one}");

    // Stored sealed under the organisation's data key, itself wrapped under the master key.
    let store = &app.server().store;
    let scope = OrgScope::for_operator(org);
    let wrapped = store.org_data_key(&scope).await.unwrap().expect("a data key was made");
    let master = logvault_core::MasterKey::load(&app.config.data_dir.join("master.key")).unwrap();
    let data_key = custody::unwrap_data_key(&master.derive(custody::DATA_KEY_WRAP_PURPOSE), org, &wrapped).unwrap();
    let key = hex_decode(&key_hex);
    let pool =
        logvault_store::testing::RawPool::open_beside(&app.config.data_dir, app.config.database_url.as_ref()).await;
    let raw = pool.blobs("SELECT key_sealed FROM device_keys").await.unwrap();
    pool.close().await;
    assert_eq!(raw.len(), 1);
    assert!(!raw[0].windows(16).any(|w| w == key.as_slice()), "the key is not stored in clear");
    let opened = custody::open_device_key(&data_key, org, "LV-0001", 0, &raw[0]).unwrap();
    assert_eq!(opened.as_slice(), key.as_slice());

    // Not in the database file or its WAL either, in any form.
    for name in ["logvault.db", "logvault.db-wal"] {
        if let Ok(bytes) = std::fs::read(app.config.data_dir.join(name)) {
            assert!(!bytes.windows(16).any(|w| w == key.as_slice()), "{name} holds the key");
            assert!(!bytes.windows(32).any(|w| w == key_hex.as_bytes()), "{name} holds the key in hex");
        }
    }

    // Nor does it reach the logs.
    let logs = crate::helpers::read_test_logs();
    assert!(!logs.contains(&key_hex), "the device key reached a log");
});

both_engines!(devices_are_seen_by_their_organisation_only, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
    member(app, "Acme", "viewer@acme.test", Role::Viewer).await;
    member(app, "Globex", "gus@globex.test", Role::Owner).await;
    let owner = sign_in(app, "owner@acme.test").await;
    let devices = format!("/api/v1/orgs/{org}/devices");
    assert_eq!(owner.post(app, &devices, json!({"serial": "LV-0001"})).await.status(), 201);
    assert_problem(owner.post(app, &devices, json!({"serial": "LV-0001"})).await, 409, "conflict").await;
    assert_problem(owner.post(app, &devices, json!({"serial": "no spaces"})).await, 422, "validation-failed").await;
    let viewer = sign_in(app, "viewer@acme.test").await;
    assert_problem(viewer.post(app, &devices, json!({"serial": "LV-0002"})).await, 403, "forbidden").await;
    assert_eq!(viewer.get(app, "/api/v1/devices/LV-0001").await.status(), 200);

    let gus = sign_in(app, "gus@globex.test").await;
    let foreign = assert_problem(gus.get(app, "/api/v1/devices/LV-0001").await, 404, "not-found").await;
    let unknown = assert_problem(gus.get(app, "/api/v1/devices/LV-9999").await, 404, "not-found").await;
    assert_eq!(foreign["detail"], unknown["detail"]);
    assert_problem(Caller::anonymous().get(app, "/api/v1/devices/LV-0001").await, 401, "unauthorized").await;
});

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

both_engines!(
    a_rotated_key_is_a_new_generation_and_an_owner_can_export_every_key_with_a_reason,
    async |app: &TestApp| {
        let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
        member(app, "Acme", "admin@acme.test", Role::Admin).await;
        let owner = sign_in(app, "owner@acme.test").await;
        let admin = sign_in(app, "admin@acme.test").await;
        let created: Value = owner
            .post(app, &format!("/api/v1/orgs/{org}/devices"), json!({"serial": "LV-0007"}))
            .await
            .json()
            .await
            .unwrap();
        let first = created["key_hex"].as_str().unwrap().to_owned();

        let keys = format!("/api/v1/orgs/{org}/devices/LV-0007/keys");
        let reason = "routine yearly rotation of the key";
        assert_problem(admin.post(app, &keys, json!({})).await, 422, "validation-failed").await;
        let wrong = json!({"password": "not the admin's password, clearly", "reason": reason});
        assert_problem(admin.post(app, &keys, wrong).await, 401, "invalid-credentials").await;
        let rotated = admin.post(app, &keys, json!({"password": crate::helpers::PASSWORD, "reason": reason})).await;
        assert_eq!(rotated.status(), 201);
        let rotated: Value = rotated.json().await.unwrap();
        assert_eq!(rotated["generation"], 1);
        let second = rotated["key_hex"].as_str().unwrap().to_owned();
        assert_ne!(first, second);

        // Export: owner only, the password again, a reason; every generation; audited with the reason.
        let export = format!("/api/v1/orgs/{org}/devices/LV-0007/key-export");
        let reason = "logger LV-0007 re-flashed after a firmware fault";
        let by_admin = admin.post(app, &export, json!({"password": crate::helpers::PASSWORD, "reason": reason})).await;
        assert_problem(by_admin, 403, "forbidden").await;
        let wrong =
            owner.post(app, &export, json!({"password": "not the owner's password at all", "reason": reason})).await;
        assert_problem(wrong, 401, "invalid-credentials").await;
        let terse = owner.post(app, &export, json!({"password": crate::helpers::PASSWORD, "reason": "why"})).await;
        assert_problem(terse, 422, "validation-failed").await;
        let exported = owner.post(app, &export, json!({"password": crate::helpers::PASSWORD, "reason": reason})).await;
        assert_eq!(exported.status(), 200);
        let exported: Value = exported.json().await.unwrap();
        assert_eq!(
            exported["keys"],
            json!([{"generation": 0, "key_hex": first}, {"generation": 1, "key_hex": second}])
        );
        let entries = app.server().store.audit_entries(org, 0, 1_000).await.unwrap();
        let event = entries.iter().find(|e| e.action == "device.key_export").expect("the export is audited");
        assert_eq!(event.detail.as_deref(), Some(format!("generations:2;reason:{reason}").as_str()));
        assert!(entries.iter().any(|e| e.action == "device.key_rotate"));
        assert!(entries.iter().all(|e| !format!("{e:?}").contains(&first) && !format!("{e:?}").contains(&second)));

        // A block sealed under the new generation is accepted; the old key is retired (kept only to verify the
        // blocks it sealed) and authenticates nothing new.
        for (generation, key, status) in [(1u8, &second, 200), (0u8, &first, 422)] {
            let key = logvault_protocol::DeviceKey::from_hex(key).unwrap();
            let channel = logvault_protocol::Channel {
                quantity: logvault_protocol::Quantity::Temperature,
                resolution: logvault_protocol::ResolutionTable::uniform(-40_000, 100, 125_000).unwrap(),
            };
            let sample =
                logvault_protocol::Sample { time: 1_767_225_600 + i64::from(generation) * 60, values: vec![4_000] };
            let serial = logvault_protocol::Serial::parse("LV-0007").unwrap();
            let block =
                logvault_protocol::Block::new(serial, u64::from(generation) + 1, vec![channel], vec![sample]).unwrap();
            let sealed = logvault_protocol::seal(&block, &key, logvault_protocol::KeyGeneration(generation));
            let response = app.post("/api/v1/ingest", "application/octet-stream", sealed).await;
            assert_eq!(response.status(), status, "generation {generation}");
        }
        let entries = app.server().store.audit_entries(org, 0, 1_000).await.unwrap();
        let retired = |e: &logvault_core::audit::Entry| e.detail.as_deref() == Some("reason:retired-key");
        assert!(entries.iter().any(|e| e.action == "ingest.rejected" && retired(e)));
    }
);

/// A manufacturer's upload token, made as `logvault manufacturer token` does.
async fn manufacturer_token(app: &TestApp) -> String {
    let secret = logvault_core::token::SecretToken::generate("lvm_").unwrap();
    let now = logvault_server::auth::now_us();
    app.server()
        .store
        .create_manufacturer_token("Factory line 1", &secret.digest(), now, now + 86_400_000_000)
        .await
        .unwrap();
    secret.expose().to_owned()
}

both_engines!(a_manufacturer_uploads_loggers_and_an_organisation_claims_one_by_its_code, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "op@acme.test", Role::Operator).await;
    let operator = sign_in(app, "op@acme.test").await;
    let factory = Caller::bearer(&manufacturer_token(app).await);
    let key_hex = "00112233445566778899aabbccddeeff";
    let upload = json!({"devices": [
        {"serial": "MF-0001", "key_hex": key_hex, "claim_code": "QX7T-MM2P-88KD"},
        {"serial": "MF-0002", "key_hex": "ffeeddccbbaa99887766554433221100", "claim_code": "ZZ41-AA09-KLMN"},
    ]});
    let uploads = "/api/v1/manufacturing/devices";
    assert_problem(Caller::anonymous().post(app, uploads, upload.clone()).await, 401, "unauthorized").await;
    assert_problem(operator.post(app, uploads, upload.clone()).await, 401, "unauthorized").await;
    let response = factory.post(app, uploads, upload.clone()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["uploaded"], 2);
    assert_problem(factory.post(app, uploads, upload).await, 409, "conflict").await;

    // The factory's key and claim code are not stored in clear.
    let pool =
        logvault_store::testing::RawPool::open_beside(&app.config.data_dir, app.config.database_url.as_ref()).await;
    let stored = pool.blobs("SELECT key_sealed FROM unclaimed_devices").await.unwrap();
    pool.close().await;
    let key = hex_decode(key_hex);
    assert!(stored.iter().all(|sealed| !sealed.windows(16).any(|w| w == key.as_slice())));

    // An uploaded serial cannot be registered directly, and a wrong code claims nothing.
    let devices = format!("/api/v1/orgs/{org}/devices");
    assert_problem(operator.post(app, &devices, json!({"serial": "MF-0001"})).await, 409, "conflict").await;
    let claim = format!("/api/v1/orgs/{org}/devices/claim");
    let wrong = operator.post(app, &claim, json!({"serial": "MF-0001", "claim_code": "ZZ41-AA09-KLMN"})).await;
    assert_problem(wrong, 422, "validation-failed").await;
    let claimed = operator.post(app, &claim, json!({"serial": "MF-0001", "claim_code": "QX7T-MM2P-88KD"})).await;
    assert_eq!(claimed.status(), 201);
    let device: Value = claimed.json().await.unwrap();
    assert_eq!((device["serial"].as_str(), device["org_id"].as_i64()), (Some("MF-0001"), Some(org)));
    assert!(device.get("key_hex").is_none(), "the manufacturer flashed the key; it is not shown again");
    let again = operator.post(app, &claim, json!({"serial": "MF-0001", "claim_code": "QX7T-MM2P-88KD"})).await;
    assert_problem(again, 422, "validation-failed").await;

    // The logger's factory key now works for the organisation.
    let channel = logvault_protocol::Channel {
        quantity: logvault_protocol::Quantity::Temperature,
        resolution: logvault_protocol::ResolutionTable::uniform(-40_000, 100, 125_000).unwrap(),
    };
    let sample = logvault_protocol::Sample { time: 1_767_225_600, values: vec![5_000] };
    let serial = logvault_protocol::Serial::parse("MF-0001").unwrap();
    let block = logvault_protocol::Block::new(serial, 1, vec![channel], vec![sample]).unwrap();
    let key = logvault_protocol::DeviceKey::from_hex(key_hex).unwrap();
    let sealed = logvault_protocol::seal(&block, &key, logvault_protocol::KeyGeneration(0));
    assert_eq!(app.post("/api/v1/ingest", "application/octet-stream", sealed).await.status(), 200);
    let actions: Vec<String> =
        app.server().store.audit_entries(org, 0, 1_000).await.unwrap().into_iter().map(|e| e.action).collect();
    assert!(actions.contains(&"device.claim".to_owned()) && actions.contains(&"device.claim_refused".to_owned()));
});

both_engines!(a_device_registered_with_a_logger_model_accepts_only_blocks_of_that_model, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "op@acme.test", Role::Operator).await;
    let operator = sign_in(app, "op@acme.test").await;
    let devices = format!("/api/v1/orgs/{org}/devices");
    let model = json!({
        "channels": [{"quantity": "temperature", "lowest": -40_000, "ranges": [[500, -30_000], [100, 50_000], [500, 125_000]]}],
        "memory": {"mode": "overwrite_oldest", "capacity": 16_000},
        "interval_s": 300,
    });
    let bad = json!({"channels": [], "memory": {"mode": "stop_when_full", "capacity": 1}, "interval_s": 60});
    let refused = operator.post(app, &devices, json!({"serial": "LV-M001", "model": bad})).await;
    assert_problem(refused, 422, "validation-failed").await;
    let created = operator.post(app, &devices, json!({"serial": "LV-M001", "model": model})).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["model"], model);
    let shown: Value = operator.get(app, "/api/v1/devices/LV-M001").await.json().await.unwrap();
    assert_eq!(shown["model"], model);
    let key = logvault_protocol::DeviceKey::from_hex(created["key_hex"].as_str().unwrap()).unwrap();

    let post = async |table: logvault_protocol::ResolutionTable, counter: u64| {
        let channel =
            logvault_protocol::Channel { quantity: logvault_protocol::Quantity::Temperature, resolution: table };
        let sample =
            logvault_protocol::Sample { time: 1_767_225_600 + i64::try_from(counter).unwrap(), values: vec![4_000] };
        let serial = logvault_protocol::Serial::parse("LV-M001").unwrap();
        let block = logvault_protocol::Block::new(serial, counter, vec![channel], vec![sample]).unwrap();
        let sealed = logvault_protocol::seal(&block, &key, logvault_protocol::KeyGeneration(0));
        app.post("/api/v1/ingest", "application/octet-stream", sealed).await
    };
    let its_table =
        logvault_protocol::ResolutionTable::new(-40_000, &[(500, -30_000), (100, 50_000), (500, 125_000)]).unwrap();
    assert_eq!(post(its_table, 1).await.status(), 200);
    let other_table = logvault_protocol::ResolutionTable::uniform(-40_000, 100, 125_000).unwrap();
    assert_problem(post(other_table, 2).await, 422, "block-rejected").await;
    let entries = app.server().store.audit_entries(org, 0, 1_000).await.unwrap();
    assert!(entries.iter().any(|e| e.detail.as_deref() == Some("reason:channels-differ-from-model")));
});
