//! Organisations: creation, lookup and uniqueness on both engines.

use logvault_core::OrgName;
use logvault_store::testing::TestDatabase;
use logvault_store::{StoreError, conformance};

conformance!(an_organisation_is_created_and_found_by_name, |db: TestDatabase| async move {
    let name = OrgName::parse("Acme Cold Chain").unwrap();
    let created = db.store.create_organisation(&name).await.unwrap();
    let found = db.store.organisation_by_name(&name).await.unwrap();
    assert_eq!(created, found);
    assert!(created.id > 0);
});

conformance!(a_second_organisation_with_the_same_name_is_a_conflict, |db: TestDatabase| async move {
    let name = OrgName::parse("Acme").unwrap();
    db.store.create_organisation(&name).await.unwrap();
    let err = db.store.create_organisation(&name).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { entity: "organisation" }), "{err:?}");
    assert_eq!(db.store.list_organisations().await.unwrap().len(), 1);
});

conformance!(an_unknown_organisation_is_not_found, |db: TestDatabase| async move {
    let err = db.store.organisation_by_name(&OrgName::parse("nobody").unwrap()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "organisation" }), "{err:?}");
});

conformance!(organisations_are_listed_by_name, |db: TestDatabase| async move {
    for name in ["beta", "alpha", "gamma"] {
        db.store.create_organisation(&OrgName::parse(name).unwrap()).await.unwrap();
    }
    let names: Vec<String> =
        db.store.list_organisations().await.unwrap().into_iter().map(|o| o.name.to_string()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
});
