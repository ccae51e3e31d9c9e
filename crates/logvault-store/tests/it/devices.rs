//! Devices and key custody on both engines: registration with a sealed first key, organisation and site scoping,
//! and the organisation data key that is stored only wrapped.

use logvault_core::authz::Role;
use logvault_core::{Email, OrgName};
use logvault_store::testing::TestDatabase;
use logvault_store::{NewDevice, OrgScope, StoreError, conformance};

async fn org(db: &TestDatabase, name: &str) -> OrgScope {
    OrgScope::for_operator(db.store.create_organisation(&OrgName::parse(name).unwrap()).await.unwrap().id)
}

fn new_device(serial: &str, site_id: Option<i64>) -> NewDevice {
    NewDevice {
        serial: serial.to_owned(),
        name: format!("Fridge {serial}"),
        site_id,
        model: None,
        key_sealed: vec![7; 44],
        now_us: 1,
    }
}

conformance!(a_serial_is_registered_once_and_seen_by_its_organisation_only, |db: TestDatabase| async move {
    let acme = org(&db, "Acme").await;
    let globex = org(&db, "Globex").await;
    let device = db.store.create_device(&acme, new_device("LV-0001", None)).await.unwrap();
    assert_eq!((device.serial.as_str(), device.org_id, device.site_id), ("LV-0001", acme.org_id(), None));
    let err = db.store.create_device(&globex, new_device("LV-0001", None)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { entity: "device" }), "{err:?}");

    assert_eq!(db.store.devices(&acme).await.unwrap(), std::slice::from_ref(&device));
    assert!(db.store.devices(&globex).await.unwrap().is_empty());
    assert_eq!(db.store.device(&acme, "LV-0001").await.unwrap(), device);
    let err = db.store.device(&globex, "LV-0001").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(db.store.device_org("LV-0001").await.unwrap(), Some(acme.org_id()));
    assert_eq!(db.store.device_org("LV-9999").await.unwrap(), None);
});

conformance!(a_site_scoped_scope_sees_and_registers_devices_of_its_site_only, |db: TestDatabase| async move {
    let acme = org(&db, "Acme").await;
    let globex = org(&db, "Globex").await;
    let cold = db.store.create_site(&acme, "Cold store", 1).await.unwrap();
    let plant = db.store.create_site(&acme, "Plant room", 1).await.unwrap();
    let foreign = db.store.create_site(&globex, "Elsewhere", 1).await.unwrap();
    let err = db.store.create_device(&acme, new_device("LV-0009", Some(foreign.id))).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "site" }), "{err:?}");
    db.store.create_device(&acme, new_device("LV-0001", Some(cold.id))).await.unwrap();
    db.store.create_device(&acme, new_device("LV-0002", Some(plant.id))).await.unwrap();
    db.store.create_device(&acme, new_device("LV-0003", None)).await.unwrap();

    let bo = db.store.create_user(&Email::parse("bo@example.test").unwrap(), "Bo", None, 1).await.unwrap();
    db.store.add_member(&acme, bo.id, Role::Operator, 1).await.unwrap();
    db.store.set_member_site(&acme, bo.id, Some(cold.id)).await.unwrap();
    let (scoped, _) = db.store.scope_for_member(bo.id, acme.org_id()).await.unwrap();
    let seen: Vec<String> = db.store.devices(&scoped).await.unwrap().into_iter().map(|d| d.serial).collect();
    assert_eq!(seen, ["LV-0001"]);
    let err = db.store.device(&scoped, "LV-0002").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    // A site-scoped caller's new device goes to their site; another site is refused.
    let placed = db.store.create_device(&scoped, new_device("LV-0004", None)).await.unwrap();
    assert_eq!(placed.site_id, Some(cold.id));
    let err = db.store.create_device(&scoped, new_device("LV-0005", Some(plant.id))).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "site" }), "{err:?}");
    assert_eq!(db.store.devices(&acme).await.unwrap().len(), 4);
});

conformance!(an_organisation_keeps_the_first_data_key_stored, |db: TestDatabase| async move {
    let acme = org(&db, "Acme").await;
    assert_eq!(db.store.org_data_key(&acme).await.unwrap(), None);
    let first = db.store.put_org_data_key(&acme, b"wrapped one", 1).await.unwrap();
    let second = db.store.put_org_data_key(&acme, b"wrapped two", 2).await.unwrap();
    assert_eq!((first.as_slice(), second.as_slice()), (&b"wrapped one"[..], &b"wrapped one"[..]));
    assert_eq!(db.store.org_data_key(&acme).await.unwrap().as_deref(), Some(&b"wrapped one"[..]));
});
