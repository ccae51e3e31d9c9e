//! Users, memberships, scopes and sessions on both engines.

use logvault_core::authz::Role;
use logvault_core::{Email, OrgName};
use logvault_store::testing::TestDatabase;
use logvault_store::{NewSession, OrgScope, StoreError, conformance};

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

conformance!(a_user_is_created_once_per_email_and_found_with_credentials, |db: TestDatabase| async move {
    let user = db.store.create_user(&email("Ana@Example.test"), "Ana Lima", Some("$argon2id$phc"), 1).await.unwrap();
    let found = db.store.user_credentials(&email("ana@example.test")).await.unwrap();
    assert_eq!(found.user, user);
    assert_eq!(found.password_hash.as_deref(), Some("$argon2id$phc"));
    assert_eq!(db.store.user_by_id(user.id).await.unwrap(), user);
    let err = db.store.create_user(&email("ana@example.test"), "Other", None, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { entity: "user" }), "{err:?}");
    let err = db.store.user_credentials(&email("nobody@example.test")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "user" }), "{err:?}");
    db.store.set_password_hash(user.id, "$argon2id$new").await.unwrap();
    assert_eq!(db.store.user_credentials(&user.email).await.unwrap().password_hash.as_deref(), Some("$argon2id$new"));
});

conformance!(a_scope_exists_only_for_a_current_member_of_that_organisation, |db: TestDatabase| async move {
    let acme = db.store.create_organisation(&OrgName::parse("Acme").unwrap()).await.unwrap();
    let globex = db.store.create_organisation(&OrgName::parse("Globex").unwrap()).await.unwrap();
    let ana = db.store.create_user(&email("ana@example.test"), "Ana", None, 1).await.unwrap();
    db.store.add_member(&OrgScope::for_operator(acme.id), ana.id, Role::Operator, 1).await.unwrap();

    let (scope, role) = db.store.scope_for_member(ana.id, acme.id).await.unwrap();
    assert_eq!((scope.org_id(), role), (acme.id, Role::Operator));
    let err = db.store.scope_for_member(ana.id, globex.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    let memberships = db.store.memberships(ana.id).await.unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0].organisation, acme);
    assert_eq!(memberships[0].role, Role::Operator);

    let err = db.store.add_member(&OrgScope::for_operator(acme.id), ana.id, Role::Viewer, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
});

conformance!(members_are_listed_only_within_their_organisation, |db: TestDatabase| async move {
    let acme = db.store.create_organisation(&OrgName::parse("Acme").unwrap()).await.unwrap();
    let globex = db.store.create_organisation(&OrgName::parse("Globex").unwrap()).await.unwrap();
    let ana = db.store.create_user(&email("ana@example.test"), "Ana", None, 1).await.unwrap();
    let bo = db.store.create_user(&email("bo@example.test"), "Bo", None, 1).await.unwrap();
    db.store.add_member(&OrgScope::for_operator(acme.id), ana.id, Role::Owner, 1).await.unwrap();
    db.store.add_member(&OrgScope::for_operator(globex.id), bo.id, Role::Owner, 1).await.unwrap();
    let (acme_scope, _) = db.store.scope_for_member(ana.id, acme.id).await.unwrap();
    let members = db.store.members(&acme_scope).await.unwrap();
    assert_eq!(members.iter().map(|m| m.user.id).collect::<Vec<_>>(), [ana.id]);
});

conformance!(sessions_are_found_by_token_hash_touched_and_revoked, |db: TestDatabase| async move {
    let ana = db.store.create_user(&email("ana@example.test"), "Ana", None, 1).await.unwrap();
    let id = db
        .store
        .create_session(NewSession { token_hash: [7; 32], user_id: ana.id, now_us: 1_000, expires_at_us: 5_000 })
        .await
        .unwrap();
    let session = db.store.session_by_token_hash(&[7; 32]).await.unwrap();
    assert_eq!((session.id, session.user_id, session.revoked), (id, ana.id, false));
    db.store.touch_session(id, 2_000).await.unwrap();
    db.store.touch_session(id, 1_500).await.unwrap();
    assert_eq!(db.store.session_by_token_hash(&[7; 32]).await.unwrap().last_seen_us, 2_000);
    db.store.revoke_session(id).await.unwrap();
    assert!(db.store.session_by_token_hash(&[7; 32]).await.unwrap().revoked);
    let err = db.store.session_by_token_hash(&[8; 32]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
});
